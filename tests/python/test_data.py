"""Data messages: reliable and lossy to everyone, and reliable to one named participant."""

from __future__ import annotations

from livekit import rtc

from harness.peers import room_name


def payload_is(expected: bytes):
    return lambda packet: packet.data == expected


async def three_peers(peers, prefix: str):
    room = room_name(prefix)
    alice = await peers.join(room, "alice")
    bob = await peers.join(room, "bob")
    carol = await peers.join(room, "carol")
    # alice only sends once she knows both others, as an app would before addressing them.
    for name in ("bob", "carol"):
        if name not in alice.room.remote_participants:
            await alice.events.wait("participant_connected", lambda p, n=name: p.identity == n)
    return alice, bob, carol


async def test_reliable_broadcast_reaches_everyone(peers):
    alice, bob, carol = await three_peers(peers, "data-reliable")
    message = b"hello \x00\xff everyone"
    await alice.local.publish_data(message, reliable=True, topic="chat")

    for receiver in (bob, carol):
        (packet,) = await receiver.events.wait("data_received", payload_is(message))
        assert packet.topic == "chat"
        assert packet.kind == rtc.DataPacketKind.KIND_RELIABLE
        assert packet.participant is not None and packet.participant.identity == "alice"
    assert not alice.events.all("data_received"), "the sender must not get its own message"


async def test_lossy_broadcast_reaches_everyone(peers):
    alice, bob, carol = await three_peers(peers, "data-lossy")
    # Lossy may drop on a real network; on loopback one of a few copies must get through.
    messages = [f"position {i}".encode() for i in range(5)]
    for message in messages:
        await alice.local.publish_data(message, reliable=False, topic="cursor")

    for receiver in (bob, carol):
        (packet,) = await receiver.events.wait("data_received", lambda p: p.data in messages)
        assert packet.topic == "cursor"
        assert packet.kind == rtc.DataPacketKind.KIND_LOSSY
        assert packet.participant is not None and packet.participant.identity == "alice"


async def test_targeted_message_reaches_only_its_destination(peers):
    alice, bob, carol = await three_peers(peers, "data-targeted")
    secret = b"for bob only"
    marker = b"for everyone, after the secret"
    await alice.local.publish_data(secret, reliable=True, topic="dm", destination_identities=["bob"])
    await alice.local.publish_data(marker, reliable=True, topic="chat")

    (packet,) = await bob.events.wait("data_received", payload_is(secret))
    assert packet.topic == "dm"
    assert packet.participant.identity == "alice"

    # Reliable messages from one sender arrive in order, so once carol has the later broadcast
    # she would already have the secret if the server had leaked it.
    await carol.events.wait("data_received", payload_is(marker))
    leaked = carol.events.all("data_received", payload_is(secret))
    assert not leaked, "carol received a message addressed to bob"


async def test_many_reliable_messages_arrive_in_order(peers):
    alice, bob, _carol = await three_peers(peers, "data-order")
    sent = [f"msg-{i:03d}".encode() for i in range(100)]
    # Sequential: concurrent calls may reach the SDK's native side in any order.
    for message in sent:
        await alice.local.publish_data(message, topic="seq")

    await bob.events.wait("data_received", payload_is(sent[-1]), timeout=15)
    received = [p.data for (p,) in bob.events.all("data_received", lambda p: p.topic == "seq")]
    assert received == sent
