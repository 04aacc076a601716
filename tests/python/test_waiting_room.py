"""The meeting waiting room as the Python `livekit` SDK sees it, run by the host through
Tencent's real-control API with the official SDK (`wemeet_openapi`).

A guest who joins a meeting whose waiting room is on is connected but sees nobody, receives
nothing and may publish nothing; the host sees it, marked with the `huiyi.waiting` attribute.
Admitted, it sees everyone and media flows both ways; sent back, it disappears for everyone but
the hosts; admitted once, it does not wait again when it rejoins; denied, it is disconnected.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import wemeet_openapi as wm
from livekit import rtc

from harness import media
from test_media import assert_hears_tone, wait_subscribed
from test_wemeet_sdk import INSTANCE, LIVE_SETTINGS, OPERATOR, auth, create, join_meeting, make_client, members, service_error  # noqa: F401 (members is a fixture)

WAITING = "huiyi.waiting"
ADMIT, SEND_BACK, DENY = 1, 2, 3


@pytest.fixture(scope="module")
def sdk(server) -> wm.Client:
    return make_client(server)


def waiting_room(sdk, meeting_id: str, operate_type: int, people: list[str], operator: str = OPERATOR, **extra):
    """PUT /v1/real-control/meetings/{id}/waiting-room through the official SDK's own method."""
    return sdk.meeting_control_api.v1_real_control_meetings_meeting_id_waiting_room_put(
        request=wm.ApiV1RealControlMeetingsMeetingIdWaitingRoomPutRequest(
            meeting_id=meeting_id,
            body=wm.V1RealControlMeetingsMeetingIdWaitingRoomPutRequest(
                operator_id=operator, operator_id_type=1, instanceid=INSTANCE, operate_type=operate_type,
                users=[{"to_operator_id": p, "to_operator_id_type": 1, "instanceid": 5} for p in people], **extra,
            ),
        ),
        authenticator_options=auth(),
    )


def waiting_now(sdk, meeting_id: str) -> list[str]:
    data = sdk.meetings_api.v1_meetings_meeting_id_waiting_room_participants_get(
        request=wm.ApiV1MeetingsMeetingIdWaitingRoomParticipantsGetRequest(meeting_id=meeting_id, userid=OPERATOR, page="1", page_size="50"),
        authenticator_options=auth(),
    ).data
    return [p.userid for p in data.participants or []]


async def nth(peer, n: int, name: str, predicate, timeout: float = 15.0) -> None:
    """Waits until `peer` has seen `name` matching `predicate` `n` times."""
    async with asyncio.timeout(timeout):
        while len(peer.events.all(name, predicate)) < n:
            await asyncio.sleep(0.05)


async def guest(server, peers, code: str, name: str, browser: str):
    joined = await asyncio.to_thread(join_meeting, server, code, name, browser)
    return joined, await peers.join(joined["room"], joined["identity"], jwt=joined["token"])


async def test_the_waiting_room_is_enforced_by_the_media_server(server, sdk, peers, members):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=dict(LIVE_SETTINGS, auto_in_waiting_room=True))
    host = await peers.join(info.meeting_id, OPERATOR, name="Host", metadata=json.dumps({"role": "host", "person": OPERATOR}))
    tone = await media.publish_tone(host)
    assert WAITING not in host.local.attributes, "hosts never wait"

    ann_browser = uuid.uuid4().hex
    a, ann = await guest(server, peers, info.meeting_code, "Ann", ann_browser)
    b, bob = await guest(server, peers, info.meeting_code, "Bob", uuid.uuid4().hex)
    # Waiting: nobody in sight, no permission, marked.
    for peer in (ann, bob):
        assert peer.room.remote_participants == {}, "a waiting guest sees nobody"
        perms = peer.local.permissions
        assert not perms.can_publish and not perms.can_subscribe and not perms.can_publish_data
        assert WAITING in peer.local.attributes
    # The host sees both, with the time they started waiting.
    for who in (a, b):
        await host.events.wait("participant_connected", lambda p, who=who: p.identity == who["identity"])
        assert int(host.remote(who["identity"]).attributes[WAITING]) > 0
    assert sorted(await asyncio.to_thread(waiting_now, sdk, info.meeting_id)) == sorted([a["identity"], b["identity"]])
    # A hand-written attempt to publish is refused (the server answers NOT_ALLOWED).
    with pytest.raises(Exception):
        await asyncio.wait_for(media.publish_tone(ann, "sneaky"), 10)
    assert host.events.all("track_published", lambda pub, p: p.identity == a["identity"]) == []
    assert ann.events.all("track_subscribed") == [], "nothing reaches the waiting room"
    # Only hosts run it.
    with pytest.raises(wm.ServiceException) as refused:
        await asyncio.to_thread(waiting_room, sdk, info.meeting_id, ADMIT, [a["identity"]], members[0])
    assert service_error(refused).error_info.error_code in (10005, 10006)

    # Admitted (both at once): they see the room, and media flows both ways.
    await asyncio.to_thread(waiting_room, sdk, info.meeting_id, ADMIT, [a["identity"], b["identity"]])
    await ann.events.wait("participant_connected", lambda p: p.identity == OPERATOR)
    await ann.events.wait("participant_connected", lambda p: p.identity == b["identity"])
    track, _, _ = await wait_subscribed(ann, tone.sid)
    await assert_hears_tone(track)
    await ann.events.wait("participant_permissions_changed", lambda p, perm: p.identity == a["identity"] and perm.can_publish)
    voice = await media.publish_tone(ann, "voice")
    heard, _, _ = await wait_subscribed(host, voice.sid)
    await assert_hears_tone(heard)
    await wait_subscribed(bob, voice.sid)
    assert await asyncio.to_thread(waiting_now, sdk, info.meeting_id) == []

    # Sent back: Bob sees Ann leave, Ann sees everyone leave, the host still sees her waiting.
    await asyncio.to_thread(waiting_room, sdk, info.meeting_id, SEND_BACK, [a["identity"]])
    await bob.events.wait("participant_disconnected", lambda p: p.identity == a["identity"])
    await ann.events.wait("participant_disconnected", lambda p: p.identity == OPERATOR)
    await ann.events.wait("participant_disconnected", lambda p: p.identity == b["identity"])
    await host.events.wait("participant_attributes_changed", lambda changed, p: p.identity == a["identity"] and WAITING in p.attributes)
    await host.events.wait("track_unpublished", lambda pub, p: pub.sid == voice.sid)
    assert a["identity"] not in bob.room.remote_participants
    assert await asyncio.to_thread(waiting_now, sdk, info.meeting_id) == [a["identity"]]

    # Admitted again, then her browser rejoins: straight in, no waiting.
    await asyncio.to_thread(waiting_room, sdk, info.meeting_id, ADMIT, [a["identity"]])
    await nth(bob, 2, "participant_connected", lambda p: p.identity == a["identity"])
    await ann.close()
    again, ann = await guest(server, peers, info.meeting_code, "Ann", ann_browser)
    assert again["identity"] == a["identity"]
    assert WAITING not in ann.local.attributes
    assert ann.local.permissions.can_subscribe
    assert OPERATOR in ann.room.remote_participants

    # Denied: a newcomer is turned away and its SDK disconnects.
    c, carl = await guest(server, peers, info.meeting_code, "Carl", uuid.uuid4().hex)
    assert carl.room.remote_participants == {}
    await asyncio.to_thread(waiting_room, sdk, info.meeting_id, DENY, [c["identity"]])
    await carl.events.wait("disconnected")
    await host.events.wait("participant_disconnected", lambda p: p.identity == c["identity"])
    assert c["identity"] not in await asyncio.to_thread(waiting_now, sdk, info.meeting_id)
