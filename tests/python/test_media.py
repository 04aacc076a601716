"""Audio and video cross the SFU intact: one participant publishes, another receives and decodes."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc

from harness import media
from harness.peers import Peers, room_name

LOUD_RMS = 2000.0  # the tone is ~11 600; comfort noise and silence stay far below this
LOUD_FRAMES_NEEDED = 30  # 300 ms of tone, enough for a clean pitch estimate


async def wait_subscribed(peer, publication_sid: str, timeout: float = 20.0):
    track, publication, participant = await peer.events.wait(
        "track_subscribed", lambda t, pub, p: pub.sid == publication_sid, timeout=timeout
    )
    return track, publication, participant


async def assert_hears_tone(track: rtc.Track, timeout: float = 15.0) -> None:
    stream = rtc.AudioStream(track, sample_rate=media.SAMPLE_RATE, num_channels=1, capacity=200)
    loud: list[np.ndarray] = []
    frames = 0
    max_rms = 0.0
    try:
        async with asyncio.timeout(timeout):
            async for event in stream:
                frames += 1
                level = media.rms(event.frame)
                max_rms = max(max_rms, level)
                if level > LOUD_RMS:
                    loud.append(np.frombuffer(event.frame.data, dtype=np.int16).astype(float))
                    if len(loud) >= LOUD_FRAMES_NEEDED:
                        break
    except TimeoutError:
        pass
    finally:
        await stream.aclose()
    assert len(loud) >= LOUD_FRAMES_NEEDED, (
        f"only {len(loud)} loud frames of {frames} received in {timeout}s (max RMS {max_rms:.0f})"
    )
    pitch = media.dominant_hz(np.concatenate(loud), media.SAMPLE_RATE)
    assert abs(pitch - media.TONE_HZ) < 15, f"received tone at {pitch:.1f} Hz"


async def assert_sees_colours(
    track: rtc.Track, *, exact_size: bool = True, timeout: float = 20.0
) -> None:
    """Frames of the published size whose flat colour is one of the palette, and at least two
    different palette colours, so the picture is live and not a frozen or garbled frame."""
    stream = rtc.VideoStream(track, capacity=4, format=rtc.VideoBufferType.RGBA)
    sizes: set[tuple[int, int]] = set()
    colours_seen: set[int] = set()
    try:
        async with asyncio.timeout(timeout):
            async for event in stream:
                frame = event.frame
                sizes.add((frame.width, frame.height))
                if exact_size and (frame.width, frame.height) != (media.WIDTH, media.HEIGHT):
                    continue
                index, distance = media.nearest_colour(media.mean_rgb(frame))
                if distance < 60:
                    colours_seen.add(index)
                if len(colours_seen) >= 2:
                    break
    except TimeoutError:
        pass
    finally:
        await stream.aclose()
    if exact_size:
        assert (media.WIDTH, media.HEIGHT) in sizes, f"frame sizes received: {sizes}"
    else:
        # A simulcast layer may be forwarded instead of the full size; it keeps the 4:3 shape.
        assert sizes and all(abs(w * 3 - h * 4) <= 8 and w <= media.WIDTH for w, h in sizes), sizes
    assert len(colours_seen) >= 2, f"palette colours recognised: {colours_seen}, sizes {sizes}"



async def assert_tone_reaches_a_listener(ws_url: str, room_prefix: str) -> None:
    """Alice publishes a tone on the server at `ws_url`; Bob subscribes and hears it."""
    peers = Peers(ws_url)
    try:
        room = room_name(room_prefix)
        alice = await peers.join(room, "alice")
        tone = await media.publish_tone(alice)
        bob = await peers.join(room, "bob")
        track, _, _ = await wait_subscribed(bob, tone.sid)
        assert track.kind == rtc.TrackKind.KIND_AUDIO
        await assert_hears_tone(track)
    finally:
        await peers.close_all()

async def test_subscriber_receives_tone_and_colour_frames(peers):
    room = room_name("media")
    alice = await peers.join(room, "alice")
    audio_pub = await media.publish_tone(alice)
    video_pub = await media.publish_colours(alice)

    bob = await peers.join(room, "bob")
    audio, audio_info, sender = await wait_subscribed(bob, audio_pub.sid)
    assert sender.identity == "alice"
    assert audio.kind == rtc.TrackKind.KIND_AUDIO
    video, video_info, sender = await wait_subscribed(bob, video_pub.sid)
    assert sender.identity == "alice"
    assert video.kind == rtc.TrackKind.KIND_VIDEO

    await assert_hears_tone(audio)
    await assert_sees_colours(video)

    # What the server tells subscribers about each track, checked after the media so that a
    # missing detail does not hide whether media flows.
    assert audio_info.source == rtc.TrackSource.SOURCE_MICROPHONE
    assert audio_info.name == "tone"
    assert video_info.source == rtc.TrackSource.SOURCE_CAMERA
    assert video_info.name == "colours"
    assert (video_info.width, video_info.height) == (media.WIDTH, media.HEIGHT)
    assert audio_info.mime_type.lower() == "audio/opus"
    assert video_info.mime_type.lower() in ("video/vp8", "video/h264", "video/vp9", "video/av1")


async def test_late_publisher_reaches_present_subscriber(peers):
    """The other order: the subscriber is in the room first, so the server must announce the
    new track to an existing participant and renegotiate its subscriber connection."""
    room = room_name("late")
    bob = await peers.join(room, "bob")
    alice = await peers.join(room, "alice")
    await bob.events.wait("participant_connected", lambda p: p.identity == "alice")

    audio_pub = await media.publish_tone(alice)
    video_pub = await media.publish_colours(alice)
    audio, _, _ = await wait_subscribed(bob, audio_pub.sid)
    video, _, _ = await wait_subscribed(bob, video_pub.sid)
    await assert_hears_tone(audio)
    await assert_sees_colours(video)


async def test_simulcast_publication_is_forwarded(peers):
    """The SDK's default publishes simulcast; whichever layer the server forwards must decode."""
    room = room_name("simulcast")
    alice = await peers.join(room, "alice")
    video_pub = await media.publish_colours(alice, simulcast=True)
    bob = await peers.join(room, "bob")
    video, _, _ = await wait_subscribed(bob, video_pub.sid)
    await assert_sees_colours(video, exact_size=False)


async def test_resubscribing_the_same_track_reuses_its_line_and_media_flows_again(peers):
    """Unsubscribe and subscribe again, twice: the server must not offer a second media line
    with the same msid (libwebrtc, under the Rust SDK, rejects such an offer and the SDK
    aborts), and the tone and the picture must come back each time."""
    room = room_name("resub")
    alice = await peers.join(room, "alice")
    audio_pub = await media.publish_tone(alice)
    video_pub = await media.publish_colours(alice)
    bob = await peers.join(room, "bob")
    await wait_subscribed(bob, audio_pub.sid)
    await wait_subscribed(bob, video_pub.sid)
    for round_ in range(2):
        for sid in (audio_pub.sid, video_pub.sid):
            pub = bob.remote("alice").track_publications[sid]
            pub.set_subscribed(False)
            await wait_for_nth(bob, "track_unsubscribed", sid, round_ + 1)
            pub.set_subscribed(True)
        # The newest subscription of each (the events before it are of earlier ones).
        audio = await wait_for_nth(bob, "track_subscribed", audio_pub.sid, round_ + 2)
        video = await wait_for_nth(bob, "track_subscribed", video_pub.sid, round_ + 2)
        await assert_hears_tone(audio)
        await assert_sees_colours(video)


async def wait_for_nth(peer, event: str, publication_sid: str, n: int, timeout: float = 15.0) -> rtc.Track:
    """The track of the `n`th `event` (1-based) about one publication, once it has happened."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = peer.events.all(event, lambda t, p, who: p.sid == publication_sid)
        if len(seen) >= n:
            return seen[n - 1][0]
        assert asyncio.get_running_loop().time() < deadline, f"only {len(seen)} {event} events for {publication_sid} within {timeout}s"
        await asyncio.sleep(0.05)
