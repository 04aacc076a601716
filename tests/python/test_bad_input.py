"""Bad credentials and garbage on every port the server opens: refused, and harmless to others."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import socket
import struct

import pytest
from livekit import api, rtc
from livekit.protocol import rtc as signal
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness import media
from harness.peers import room_name, token
from harness.server import API_KEY

# Ten 0xff bytes overflow a protobuf varint, so no parser can take this for a SignalRequest.
NOT_PROTOBUF = b"\xff" * 16 + os.urandom(64)


def rtc_url(server, jwt: str) -> str:
    # The query the SDKs send on the classic (v0) signalling path.
    return f"{server.ws_url}/rtc?access_token={jwt}&protocol=16&auto_subscribe=1&sdk=python"


async def assert_handshake_refused(server, jwt: str) -> None:
    with pytest.raises(InvalidStatus) as err:
        async with asyncio.timeout(10):
            async with ws_connect(rtc_url(server, jwt)):
                pass
    assert err.value.response.status_code == 401


async def test_token_signed_with_wrong_secret_is_refused(server, peers):
    room = room_name("bad-secret")
    forged = token(room, "mallory", secret="not-the-dev-secret")
    with pytest.raises(rtc.ConnectError):
        await peers.join(room, "mallory", jwt=forged)
    await assert_handshake_refused(server, forged)


async def test_expired_token_is_refused(server, peers):
    room = room_name("expired")
    expired = token(room, "late", ttl=datetime.timedelta(minutes=-5))
    with pytest.raises(rtc.ConnectError):
        await peers.join(room, "late", jwt=expired)
    await assert_handshake_refused(server, expired)


async def test_join_token_cannot_use_the_server_api(server):
    """A participant's token grants nothing on the RoomService."""
    jwt = token(room_name("x"), "alice")
    async with api.LiveKitAPI(server.http_url, token=jwt) as client:
        with pytest.raises(api.TwirpError) as err:
            await client.room.list_rooms(api.ListRoomsRequest())
    assert err.value.status in (401, 403)


async def test_server_api_with_wrong_secret_is_unauthenticated(server):
    async with api.LiveKitAPI(server.http_url, API_KEY, "not-the-dev-secret") as client:
        with pytest.raises(api.TwirpError) as err:
            await client.room.list_rooms(api.ListRoomsRequest())
    assert err.value.status == 401
    assert err.value.code == api.TwirpErrorCode.UNAUTHENTICATED


async def test_garbage_on_signalling_socket_closes_it_and_server_survives(server, peers):
    room = room_name("ws-garbage")
    async with asyncio.timeout(15):
        async with ws_connect(rtc_url(server, token(room, "fuzzer"))) as ws:
            first = await ws.recv()
            assert isinstance(first, bytes), "signalling messages are binary protobuf"
            assert signal.SignalResponse.FromString(first).HasField("join")

            with pytest.raises(ConnectionClosed) as closed:
                await ws.send(NOT_PROTOBUF)
                while True:  # the server may still flush queued messages before closing
                    await ws.recv()
    frame = closed.value.rcvd
    assert frame is not None, "the server dropped the socket without a close frame"
    assert frame.code != 1000, f"garbage closed with a normal close ({frame.code})"

    # Nothing else was harmed: a real client joins the same room and another one.
    await peers.join(room, "alice")
    await peers.join(room_name("ws-after"), "bob")


async def test_bogus_sdp_does_not_take_the_server_down(server, peers):
    room = room_name("bad-sdp")
    async with asyncio.timeout(15):
        async with ws_connect(rtc_url(server, token(room, "fuzzer"))) as ws:
            await ws.recv()
            offer = signal.SignalRequest(
                offer=signal.SessionDescription(type="offer", sdp="v=0\r\nthis is not sdp\r\n")
            )
            await ws.send(offer.SerializeToString())
            # A ping after the offer: its pong (or a close, if the server gives up on this
            # client) shows the server got past the bogus offer without falling over.
            ping = signal.SignalRequest(ping_req=signal.Ping(timestamp=1))
            with contextlib.suppress(ConnectionClosed):
                await ws.send(ping.SerializeToString())
                while not signal.SignalResponse.FromString(await ws.recv()).HasField("pong_resp"):
                    pass
    await peers.join(room_name("bad-sdp-after"), "alice")


def udp_garbage() -> list[bytes]:
    """Datagrams that look like each protocol demultiplexed on the media port, but are not."""
    stun_header = struct.pack("!HHI12s", 0x0001, 200, 0x2112A442, os.urandom(12))  # bad length
    rtp_header = bytes([0x80, 96]) + os.urandom(10)
    rtcp_header = bytes([0x80, 200]) + b"\xff\xff" + os.urandom(4)
    dtls_header = bytes([22, 254, 253]) + os.urandom(10)
    shapes = [
        b"",
        b"\x00",
        stun_header,
        stun_header + os.urandom(200),
        rtp_header + os.urandom(160),
        rtcp_header,
        dtls_header + os.urandom(100),
        os.urandom(1400),
    ]
    return shapes * 25 + [os.urandom(n % 1200 + 1) for n in range(0, 30_000, 150)]


async def send_udp_garbage(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for datagram in udp_garbage():
            s.sendto(datagram, ("127.0.0.1", port))


async def send_tcp_garbage(port: int) -> None:
    streams = [
        os.urandom(4096),
        struct.pack("!H", 20) + b"\xff" * 20,  # RFC 4571 framing around a non-STUN packet
        struct.pack("!H", 65535) + os.urandom(100),  # a frame that never completes
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for data in streams:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionError:
            pass  # the server may hang up mid-write, which is fine
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def test_garbage_on_media_ports_does_not_disturb_a_call(server, peers):
    room = room_name("port-garbage")
    alice = await peers.join(room, "alice")
    video_pub = await media.publish_colours(alice)
    bob = await peers.join(room, "bob")
    video, _, _ = await bob.events.wait(
        "track_subscribed", lambda t, pub, p: pub.sid == video_pub.sid, timeout=20
    )
    frames = media.FrameCounter(bob, video)
    await frames.wait_for_more(10, timeout=20)

    await send_udp_garbage(server.rtc_udp_port)
    await send_tcp_garbage(server.rtc_tcp_port)

    # About two seconds of video at 20 fps must still arrive, and signalling still works.
    await frames.wait_for_more(40, timeout=15)
    await alice.local.publish_data(b"still here", topic="check")
    await bob.events.wait("data_received", lambda p: p.data == b"still here")
    # And a newcomer can still set up media through the same ports.
    carol = await peers.join(room, "carol")
    await carol.events.wait("track_subscribed", lambda t, pub, p: pub.sid == video_pub.sid, timeout=20)


async def test_rtc_tcp_port_drops_a_connection_that_is_not_ice(server):
    """A peer on the ICE/TCP port must open with a STUN binding request; anything else is
    dropped, so idle junk connections cannot pile up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.rtc_tcp_port)
    try:
        writer.write(struct.pack("!H", 20) + b"\xff" * 20)
        await writer.drain()
        async with asyncio.timeout(10):
            rest = await reader.read()  # returns b"" once the server closes its side
        assert rest == b"", "the server answered junk instead of closing"
    except ConnectionResetError:
        pass  # a reset is a close too
    except TimeoutError:
        raise AssertionError("the server kept a junk ICE/TCP connection open for 10 s") from None
    finally:
        writer.close()
