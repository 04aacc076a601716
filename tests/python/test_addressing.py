"""Addressing as an operator configures it: the server bound to every interface (0.0.0.0) and
advertising one address (`--node-ip`) that differs from the socket's local address. ICE must
be answered for the advertised candidate, so media flows.

10.231.0.1 is the namespace's own veth address (scripts/netns-run), so nothing leaves it.
"""

from __future__ import annotations

import pytest
from livekit import rtc

from harness import media
from harness import server as huiyi
from harness.peers import Peers, room_name
from test_media import assert_hears_tone, wait_subscribed


@pytest.fixture
def any_address_server(tmp_path):
    srv = huiyi.start(tmp_path, bind="0.0.0.0", node_ip="10.231.0.1")
    try:
        yield srv
    finally:
        huiyi.stop(srv)


async def test_media_flows_when_bound_to_any_address_with_a_node_ip(any_address_server):
    peers = Peers(any_address_server.ws_url)
    try:
        room = room_name("anyaddr")
        alice = await peers.join(room, "alice")
        tone = await media.publish_tone(alice)
        bob = await peers.join(room, "bob")
        track, _, _ = await wait_subscribed(bob, tone.sid)
        assert track.kind == rtc.TrackKind.KIND_AUDIO
        await assert_hears_tone(track)
    finally:
        await peers.close_all()
