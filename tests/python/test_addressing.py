"""Addressing as an operator configures it: the server bound to every interface (0.0.0.0) and
advertising one address (`--node-ip`) that differs from the socket's local address. ICE must
be answered for the advertised candidate, so media flows.

10.231.0.1 is the namespace's own veth address (scripts/netns-run), so nothing leaves it.
"""

from __future__ import annotations

import pytest

from harness import server as huiyi
from test_media import assert_tone_reaches_a_listener


@pytest.fixture
def any_address_server(tmp_path):
    srv = huiyi.start(tmp_path, bind="0.0.0.0", node_ip="10.231.0.1")
    try:
        yield srv
    finally:
        huiyi.stop(srv)


async def test_media_flows_when_bound_to_any_address_with_a_node_ip(any_address_server):
    await assert_tone_reaches_a_listener(any_address_server.ws_url, "anyaddr")
