"""Synthetic media in, measured media out.

The publisher sends a 440 Hz sine (48 kHz mono, 10 ms frames) and flat-colour video frames that
change colour twice a second. Both survive Opus and VP8 well enough to be recognised after the
round trip: the receiver checks loudness, pitch, frame size and colour, which tells a forwarded
stream from a silent, frozen or garbled one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from livekit import rtc

SAMPLE_RATE = 48_000
SAMPLES_PER_FRAME = SAMPLE_RATE // 100  # 10 ms
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.5  # of full scale; RMS of the sine is about 11 600 in int16

WIDTH, HEIGHT, FPS = 320, 240, 20
COLOURS = ((220, 30, 30), (30, 200, 30), (30, 30, 220))  # RGB; far apart after any codec
FRAMES_PER_COLOUR = FPS // 2


@dataclass
class Published:
    audio: rtc.LocalTrackPublication | None = None
    video: rtc.LocalTrackPublication | None = None


async def pump_sine(source: rtc.AudioSource) -> None:
    """Feed the tone forever; capture_frame waits while the source's queue is full, so the
    native side paces this loop at real time."""
    phase = 0
    step = 2 * np.pi * TONE_HZ / SAMPLE_RATE
    while True:
        frame = rtc.AudioFrame.create(SAMPLE_RATE, 1, SAMPLES_PER_FRAME)
        n = np.arange(phase, phase + SAMPLES_PER_FRAME)
        samples = np.frombuffer(frame.data, dtype=np.int16)
        samples[:] = (np.sin(n * step) * TONE_AMPLITUDE * 32767).astype(np.int16)
        phase += SAMPLES_PER_FRAME
        await source.capture_frame(frame)


async def pump_colours(source: rtc.VideoSource, width: int = WIDTH, height: int = HEIGHT) -> None:
    """Flat-colour RGBA frames at FPS; a video source has no back-pressure, so pace by the clock."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames = []
    for r, g, b in COLOURS:
        pixel = np.array([r, g, b, 255], dtype=np.uint8)
        frames.append(np.tile(pixel, width * height).tobytes())
    i = 0
    while True:
        data = frames[(i // FRAMES_PER_COLOUR) % len(frames)]
        source.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, data))
        i += 1
        await asyncio.sleep(max(0.0, start + i / FPS - loop.time()))


async def publish_tone(peer, name: str = "tone") -> rtc.LocalTrackPublication:
    source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=100)
    track = rtc.LocalAudioTrack.create_audio_track(name, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    peer.spawn(pump_sine(source))
    return await asyncio.wait_for(peer.local.publish_track(track, options), 15)


async def publish_colours(
    peer, name: str = "colours", *, simulcast: bool = False
) -> rtc.LocalTrackPublication:
    source = rtc.VideoSource(WIDTH, HEIGHT)
    track = rtc.LocalVideoTrack.create_video_track(name, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=simulcast)
    peer.spawn(pump_colours(source))
    return await asyncio.wait_for(peer.local.publish_track(track, options), 15)


def rms(frame: rtc.AudioFrame) -> float:
    samples = np.frombuffer(frame.data, dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def dominant_hz(samples: np.ndarray, sample_rate: int) -> float:
    windowed = samples * np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(windowed))
    spectrum[0] = 0.0
    return float(np.fft.rfftfreq(samples.size, 1.0 / sample_rate)[int(np.argmax(spectrum))])


def mean_rgb(frame: rtc.VideoFrame) -> tuple[float, float, float]:
    rgba = frame if frame.type == rtc.VideoBufferType.RGBA else frame.convert(
        rtc.VideoBufferType.RGBA
    )
    pixels = np.frombuffer(rgba.data, dtype=np.uint8).reshape(-1, 4)
    r, g, b = pixels[:, :3].mean(axis=0)
    return float(r), float(g), float(b)


def nearest_colour(rgb: tuple[float, float, float]) -> tuple[int, float]:
    """Index into COLOURS of the closest palette colour, and its distance."""
    distances = [float(np.linalg.norm(np.subtract(rgb, c))) for c in COLOURS]
    best = int(np.argmin(distances))
    return best, distances[best]


class FrameCounter:
    """Counts decoded frames of one remote video track in the background, so a test can ask
    "did N more frames arrive?" while it does something else to the server."""

    def __init__(self, peer, track: rtc.Track) -> None:
        self.count = 0
        self.last: rtc.VideoFrame | None = None
        self._progress = asyncio.Event()
        self._stream = rtc.VideoStream(track, capacity=2, format=rtc.VideoBufferType.RGBA)
        peer.spawn(self._run())

    async def _run(self) -> None:
        try:
            async for event in self._stream:
                self.count += 1
                self.last = event.frame
                self._progress.set()
        finally:
            await self._stream.aclose()

    async def wait_for_more(self, n: int, timeout: float) -> None:
        start = self.count
        try:
            async with asyncio.timeout(timeout):
                while self.count < start + n:
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            raise AssertionError(
                f"only {self.count - start} of {n} video frames arrived within {timeout}s"
            ) from None
