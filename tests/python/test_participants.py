"""Participants see each other arrive, change and leave."""

from __future__ import annotations

import asyncio

from livekit import rtc

from harness.peers import room_name


async def test_join_and_leave_are_announced(peers):
    room = room_name("presence")
    alice = await peers.join(room, "alice", name="Alice", metadata='{"role":"host"}')
    bob = await peers.join(room, "bob", name="Bob")

    # The earlier participant learns of the newcomer through an update...
    (newcomer,) = await alice.events.wait("participant_connected", lambda p: p.identity == "bob")
    assert newcomer.name == "Bob"
    # ...and the newcomer finds the earlier one in its join response, with name and metadata.
    assert set(bob.room.remote_participants) == {"alice"}
    assert bob.remote("alice").name == "Alice"
    assert bob.remote("alice").metadata == '{"role":"host"}'
    assert bob.room.name == room
    assert alice.local.sid and bob.local.sid and alice.local.sid != bob.local.sid
    assert bob.remote("alice").sid == alice.local.sid

    await bob.close()
    (gone,) = await alice.events.wait("participant_disconnected", lambda p: p.identity == "bob")
    assert gone.identity == "bob"
    assert "bob" not in alice.room.remote_participants


async def test_third_participant_sees_both_others(peers):
    room = room_name("presence3")
    await peers.join(room, "alice")
    await peers.join(room, "bob")
    carol = await peers.join(room, "carol")
    assert set(carol.room.remote_participants) == {"alice", "bob"}


async def test_metadata_name_and_attributes_propagate(peers):
    room = room_name("identity")
    alice = await peers.join(room, "alice", name="Alice")
    bob = await peers.join(room, "bob")

    await alice.local.set_metadata('{"hand":"raised"}')
    participant, _old, new = await bob.events.wait(
        "participant_metadata_changed", lambda p, old, new: p.identity == "alice"
    )
    assert new == '{"hand":"raised"}'
    assert bob.remote("alice").metadata == '{"hand":"raised"}'

    await alice.local.set_name("Alice Liddell")
    participant, old, new = await bob.events.wait(
        "participant_name_changed", lambda p, old, new: p.identity == "alice"
    )
    assert (old, new) == ("Alice", "Alice Liddell")
    assert bob.remote("alice").name == "Alice Liddell"

    await alice.local.set_attributes({"seat": "12"})
    changed, participant = await bob.events.wait(
        "participant_attributes_changed", lambda changed, p: p.identity == "alice"
    )
    assert changed == {"seat": "12"}
    assert bob.remote("alice").attributes == {"seat": "12"}


async def test_metadata_update_needs_the_grant(peers):
    """Without canUpdateOwnMetadata the server refuses the change and nobody sees it."""
    room = room_name("no-grant")
    alice = await peers.join(room, "alice", can_update_own_metadata=False)
    bob = await peers.join(room, "bob")

    refused = False
    try:
        await asyncio.wait_for(alice.local.set_metadata("sneaky"), 10)
    except Exception:
        # The SDK raises when the server answers the request with an error.
        refused = True
    # Whether or not the SDK surfaced the refusal, bob's own later change comes back to him on
    # the same signalling connection that would have carried alice's, so it must come alone.
    await bob.local.set_metadata("fine")
    await bob.events.wait(
        "participant_metadata_changed", lambda p, old, new: p.identity == "bob" and new == "fine"
    )
    assert not bob.events.all("participant_metadata_changed", lambda p, o, n: n == "sneaky")
    assert bob.remote("alice").metadata != "sneaky"
    assert refused or alice.local.metadata != "sneaky"


async def test_track_publication_is_announced_and_withdrawn(peers):
    room = room_name("publish")
    alice = await peers.join(room, "alice")
    bob = await peers.join(room, "bob", auto_subscribe=False)
    source = rtc.AudioSource(48_000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    publication = await alice.local.publish_track(track, options)

    remote_pub, owner = await bob.events.wait(
        "track_published", lambda pub, p: pub.sid == publication.sid
    )
    assert owner.identity == "alice"
    assert remote_pub.name == "mic"
    assert remote_pub.kind == rtc.TrackKind.KIND_AUDIO
    assert not remote_pub.subscribed, "auto_subscribe=False must not subscribe"

    await alice.local.unpublish_track(publication.sid)
    await bob.events.wait("track_unpublished", lambda pub, p: pub.sid == publication.sid)
    assert publication.sid not in bob.remote("alice").track_publications
    await source.aclose()
