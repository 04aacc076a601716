"""The Twirp RoomService, driven by livekit-api, with each effect checked from a connected client."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api, rtc

from harness import media
from harness.peers import room_name


async def test_create_and_list_rooms(peers, lkapi):
    name = room_name("created")
    created = await lkapi.room.create_room(
        api.CreateRoomRequest(name=name, metadata="agenda: tests", empty_timeout=300)
    )
    assert created.name == name
    assert created.sid
    assert created.metadata == "agenda: tests"

    listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[name]))
    assert [r.name for r in listed.rooms] == [name]
    assert listed.rooms[0].sid == created.sid
    everything = await lkapi.room.list_rooms(api.ListRoomsRequest())
    assert name in {r.name for r in everything.rooms}

    # A participant joining by name lands in that very room and sees its metadata.
    alice = await peers.join(name, "alice")
    assert await alice.room.sid == created.sid
    assert alice.room.metadata == "agenda: tests"


async def test_list_and_get_participants(peers, lkapi):
    room = room_name("roster")
    alice = await peers.join(room, "alice", name="Alice", metadata="m1")
    await peers.join(room, "bob")
    tone = await media.publish_tone(alice)

    listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    assert {p.identity for p in listed.participants} == {"alice", "bob"}

    # A track is listed once the publisher's offer carrying it is accepted, which the SDK does
    # not wait for before publish_track returns: poll briefly (bounded).
    for _ in range(50):
        info = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="alice"))
        if tone.sid in {t.sid for t in info.tracks}:
            break
        await asyncio.sleep(0.1)
    assert info.identity == "alice"
    assert info.sid == alice.local.sid
    assert info.name == "Alice"
    assert info.metadata == "m1"
    assert tone.sid in {t.sid for t in info.tracks}
    track = next(t for t in info.tracks if t.sid == tone.sid)
    assert track.type == api.TrackType.AUDIO
    assert track.source == api.TrackSource.MICROPHONE


async def test_get_unknown_participant_is_not_found(peers, lkapi):
    room = room_name("missing")
    await peers.join(room, "alice")
    with pytest.raises(api.TwirpError) as err:
        await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="nobody"))
    assert err.value.code == api.TwirpErrorCode.NOT_FOUND
    assert err.value.status == 404


async def test_update_participant_metadata_and_name(peers, lkapi):
    room = room_name("update")
    alice = await peers.join(room, "alice", name="Alice")
    bob = await peers.join(room, "bob")

    info = await lkapi.room.update_participant(
        api.UpdateParticipantRequest(room=room, identity="alice", metadata="promoted", name="Host")
    )
    assert (info.metadata, info.name) == ("promoted", "Host")

    for observer in (alice, bob):
        _, _, new = await observer.events.wait(
            "participant_metadata_changed", lambda p, old, new: p.identity == "alice"
        )
        assert new == "promoted"
        _, old, new = await observer.events.wait(
            "participant_name_changed", lambda p, old, new: p.identity == "alice"
        )
        assert (old, new) == ("Alice", "Host")
    assert alice.local.metadata == "promoted"


async def test_update_participant_permission(peers, lkapi):
    room = room_name("permission")
    alice = await peers.join(room, "alice")
    assert alice.local.permissions.can_publish

    permission = api.ParticipantPermission(
        can_subscribe=True, can_publish=False, can_publish_data=False
    )
    info = await lkapi.room.update_participant(
        api.UpdateParticipantRequest(room=room, identity="alice", permission=permission)
    )
    assert not info.permission.can_publish

    participant, new_permission = await alice.events.wait(
        "participant_permissions_changed", lambda p, perm: p.identity == "alice"
    )
    assert not new_permission.can_publish
    assert not new_permission.can_publish_data
    assert new_permission.can_subscribe
    assert not alice.local.permissions.can_publish


async def test_mute_published_track(peers, lkapi):
    room = room_name("mute")
    alice = await peers.join(room, "alice")
    tone = await media.publish_tone(alice)
    bob = await peers.join(room, "bob")
    await bob.events.wait("track_subscribed", lambda t, pub, p: pub.sid == tone.sid, timeout=20)

    response = await lkapi.room.mute_published_track(
        api.MuteRoomTrackRequest(room=room, identity="alice", track_sid=tone.sid, muted=True)
    )
    assert response.track.sid == tone.sid
    assert response.track.muted

    # The publisher is told to mute (so it stops sending) and everyone else sees it muted.
    await alice.events.wait("track_muted", lambda p, pub: pub.sid == tone.sid)
    participant, publication = await bob.events.wait(
        "track_muted", lambda p, pub: pub.sid == tone.sid
    )
    assert participant.identity == "alice"
    assert publication.muted


async def test_update_room_metadata(peers, lkapi):
    room = room_name("room-meta")
    alice = await peers.join(room, "alice")

    updated = await lkapi.room.update_room_metadata(
        api.UpdateRoomMetadataRequest(room=room, metadata='{"topic":"budget"}')
    )
    assert updated.name == room
    assert updated.metadata == '{"topic":"budget"}'

    _old, new = await alice.events.wait("room_metadata_changed")
    assert new == '{"topic":"budget"}'
    assert alice.room.metadata == '{"topic":"budget"}'


async def test_send_data_from_server(peers, lkapi):
    room = room_name("server-data")
    alice = await peers.join(room, "alice")
    bob = await peers.join(room, "bob")

    await lkapi.room.send_data(
        api.SendDataRequest(
            room=room, data=b"announcement", kind=api.DataPacket.Kind.RELIABLE, topic="system"
        )
    )
    for peer in (alice, bob):
        (packet,) = await peer.events.wait("data_received", lambda p: p.data == b"announcement")
        assert packet.topic == "system"
        assert packet.participant is None, "server-sent data has no sending participant"

    await lkapi.room.send_data(
        api.SendDataRequest(
            room=room,
            data=b"psst",
            kind=api.DataPacket.Kind.RELIABLE,
            topic="system",
            destination_identities=["bob"],
        )
    )
    await bob.events.wait("data_received", lambda p: p.data == b"psst")
    # Follow with a broadcast: reliable delivery is ordered, so once alice has it she would
    # already hold "psst" had it leaked.
    await lkapi.room.send_data(
        api.SendDataRequest(room=room, data=b"after", kind=api.DataPacket.Kind.RELIABLE)
    )
    await alice.events.wait("data_received", lambda p: p.data == b"after")
    assert not alice.events.all("data_received", lambda p: p.data == b"psst")


async def test_update_subscriptions(peers, lkapi):
    room = room_name("subs")
    alice = await peers.join(room, "alice")
    bob = await peers.join(room, "bob", auto_subscribe=False)
    tone = await media.publish_tone(alice)
    await bob.events.wait("track_published", lambda pub, p: pub.sid == tone.sid)

    await lkapi.room.update_subscriptions(
        api.UpdateSubscriptionsRequest(
            room=room, identity="bob", track_sids=[tone.sid], subscribe=True
        )
    )
    track, _, _ = await bob.events.wait(
        "track_subscribed", lambda t, pub, p: pub.sid == tone.sid, timeout=20
    )
    assert track.kind == rtc.TrackKind.KIND_AUDIO

    stream = rtc.AudioStream(track, sample_rate=48000, num_channels=1)
    try:
        assert await loudest_of(stream, frames=50) > 1000, "the tone is heard while subscribed"
        await lkapi.room.update_subscriptions(
            api.UpdateSubscriptionsRequest(
                room=room, identity="bob", track_sids=[tone.sid], subscribe=False
            )
        )
        # The LiveKit SDKs raise track_unsubscribed only for their own unsubscribe calls; a
        # server-side unsubscribe shows as the media stopping: the stream goes silent.
        for _ in range(20):
            if await loudest_of(stream, frames=50) < 50:
                break
        else:
            raise AssertionError("audio kept flowing after the server unsubscribed bob")
    finally:
        await stream.aclose()


async def loudest_of(stream, frames: int) -> float:
    """The highest RMS among the next `frames` 10 ms frames. A stream that delivers nothing
    for 3 s counts as silent: no frames means no sound."""
    loudest = 0.0
    try:
        async with asyncio.timeout(3):
            n = 0
            async for event in stream:
                loudest = max(loudest, media.rms(event.frame))
                n += 1
                if n >= frames:
                    break
    except TimeoutError:
        pass
    return loudest


async def test_remove_participant(peers, lkapi):
    room = room_name("remove")
    alice = await peers.join(room, "alice")
    bob = await peers.join(room, "bob")

    await lkapi.room.remove_participant(api.RoomParticipantIdentity(room=room, identity="bob"))

    (reason,) = await bob.events.wait("disconnected")
    assert reason == rtc.DisconnectReason.PARTICIPANT_REMOVED
    await alice.events.wait("participant_disconnected", lambda p: p.identity == "bob")
    listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    assert [p.identity for p in listed.participants] == ["alice"]


async def test_delete_room(peers, lkapi):
    room = room_name("delete")
    alice = await peers.join(room, "alice")
    bob = await peers.join(room, "bob")

    await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))

    for peer in (alice, bob):
        (reason,) = await peer.events.wait("disconnected")
        assert reason == rtc.DisconnectReason.ROOM_DELETED
    listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))
    assert not listed.rooms
