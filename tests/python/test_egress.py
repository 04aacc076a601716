"""Recording (LiveKit's egress), driven the way LiveKit apps drive it: `livekit-server-sdk`'s
EgressClient (Node) starts, lists and stops jobs, the Python SDK publishes the media, and
ffprobe/ffmpeg check every file the worker writes.

Each job runs in the real `huiyi-egress` worker (GStreamer) that the server starts; the worker
receives the room's media through a tap, as plain RTP on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from livekit import api

from harness import media
from harness.peers import room_name, token
from harness.server import API_KEY, API_SECRET, REPO_ROOT

CLI = REPO_ROOT / "tests/browser/lib/egress-cli.mjs"


def egress(server, method: str, secret: str = API_SECRET, **args) -> dict:
    """One EgressClient call through livekit-server-sdk; the result, or {"error": ...}."""
    out = subprocess.run(
        ["node", str(CLI), server.http_url, API_KEY, secret, method, json.dumps(args)],
        capture_output=True, text=True, timeout=60,
    )
    assert out.stdout.strip(), f"egress-cli said nothing: {out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def probe(path: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, f"ffprobe failed on {path}: {out.stderr}"
    return json.loads(out.stdout)


def decoded_seconds(path: str) -> float:
    """How much of the file decodes, read from the last frame ffmpeg reaches: a file cut by a
    crash has no trustworthy duration in its header."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostats", "-i", path, "-map", "0:v:0?", "-map", "0:a:0?", "-f", "null", "-", "-progress", "pipe:1"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, f"{path} does not decode: {out.stderr[-2000:]}"
    times = [int(line.split("=")[1]) for line in out.stdout.splitlines() if line.startswith("out_time_us=") and line.split("=")[1].isdigit()]
    return max(times) / 1e6 if times else 0.0


def rtmp_server(work: Path, key: str) -> tuple[str, subprocess.Popen, Path]:
    """A local RTMP server (`ffmpeg -listen`) on a free loopback port that keeps what it gets as
    FLV: its publish URL, the process (the test kills it) and the file."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtmp://127.0.0.1:{port}/live/{key}"
    received = work / "received.flv"
    proc = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-listen", "1", "-timeout", "60", "-i", url, "-c", "copy", "-f", "flv", str(received)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return url, proc, received


async def wait_status(server, egress_id: str, want: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        items = egress(server, "listEgress", egressId=egress_id)["items"]
        if items and items[0].get("status", "EGRESS_STARTING") in want:
            return items[0]
        assert time.monotonic() < deadline, f"egress {egress_id} never reached {want}: {items}"
        await asyncio.sleep(0.5)


async def published_track(lkapi, room: str, identity: str, sid: str) -> None:
    """Waits until the server lists the track (the SDK returns before the offer is accepted)."""
    for _ in range(100):
        info = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity=identity))
        if sid in {t.sid for t in info.tracks}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"track {sid} never listed")


def livekit_events(sink, key: str, value: str, want: set[str]) -> list:
    """The LiveKit webhooks `sink` got whose `key` info names `value`, each checked by the
    Python SDK's own WebhookReceiver (signature, body hash), once all of `want` arrived."""
    receiver = api.WebhookReceiver(api.TokenVerifier(API_KEY, API_SECRET))

    def mine(got):
        events = []
        for r in got:
            event = receiver.receive(r.body, r.headers.get("authorization", ""))
            info = getattr(event, key)
            if getattr(info, "egress_id" if key == "egress_info" else "ingress_id") == value:
                assert r.headers.get("content-type") == "application/webhook+json", r.headers
                events.append(event)
        return events

    got = sink.wait_for(lambda g: want <= {e.event for e in mine(g)})
    events = mine(got)
    assert want <= {e.event for e in events}, [e.event for e in events]
    assert len({e.id for e in events}) == len(events), "each event has its own id"
    return events


@pytest.mark.parametrize("kind", ["video", "audio"])
async def test_track_egress_records_a_track_as_published(server, peers, lkapi, kind, livekit_webhooks):
    room = room_name(f"rec-{kind}")
    alice = await peers.join(room, "alice")
    pub = await (media.publish_colours(alice) if kind == "video" else media.publish_tone(alice))
    await published_track(lkapi, room, "alice", pub.sid)

    started = egress(server, "startTrackEgress", room=room, trackId=pub.sid, filepath=f"{room}/{{track_id}}")
    assert "error" not in started, started
    egress_id = started["egressId"]
    assert egress_id.startswith("EG_")
    assert started["roomName"] == room
    active = await wait_status(server, egress_id, {"EGRESS_ACTIVE"})
    assert active["track"]["trackId"] == pub.sid
    # Listed by room, and among the active jobs.
    assert egress_id in {i["egressId"] for i in egress(server, "listEgress", roomName=room)["items"]}
    assert egress_id in {i["egressId"] for i in egress(server, "listEgress", roomName=room, active=True)["items"]}

    await asyncio.sleep(4)
    stop_at = time.time()
    stopping = egress(server, "stopEgress", egressId=egress_id)
    assert stopping.get("status") in ("EGRESS_ENDING", "EGRESS_COMPLETE"), stopping
    done = await wait_status(server, egress_id, {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    assert done["status"] == "EGRESS_COMPLETE", done
    # From the server's own start (ACTIVE: the first frame written) to the stop; polling the
    # status through the SDK's CLI would add a second or more to the start.
    recorded = stop_at - int(done["startedAt"]) / 1e9
    assert egress_id not in {i["egressId"] for i in egress(server, "listEgress", roomName=room, active=True)["items"]}

    path = done["fileResults"][0]["filename"]
    assert path.endswith(f"{room}/{pub.sid}.webm" if kind == "video" else f"{room}/{pub.sid}.ogg"), path
    assert int(done["fileResults"][0]["size"]) == os.path.getsize(path) > 0
    info = probe(path)
    codecs = [s["codec_name"] for s in info["streams"]]
    assert codecs == (["vp8"] if kind == "video" else ["opus"]), codecs
    if kind == "video":
        assert (info["streams"][0]["width"], info["streams"][0]["height"]) == (media.WIDTH, media.HEIGHT)
    # As long as the job was active, within a second.
    assert abs(decoded_seconds(path) - recorded) < 1.0, (decoded_seconds(path), recorded)

    # LiveKit-style webhooks, as LiveKit's server sends them, in order.
    events = livekit_events(livekit_webhooks, "egress_info", egress_id, {"egress_started", "egress_updated", "egress_ended"})
    assert events[0].event == "egress_started" and events[-1].event == "egress_ended", [e.event for e in events]
    from livekit.protocol import egress as proto_egress
    assert events[-1].egress_info.status == proto_egress.EGRESS_COMPLETE
    assert events[-1].egress_info.file_results[0].filename == path


async def test_a_killed_worker_fails_its_job_and_leaves_a_playable_file(server, peers, lkapi, livekit_webhooks):
    room = room_name("rec-kill")
    alice = await peers.join(room, "alice")
    pub = await media.publish_colours(alice)
    await published_track(lkapi, room, "alice", pub.sid)
    started = egress(server, "startTrackEgress", room=room, trackId=pub.sid, filepath=f"{room}/cut")
    await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
    await asyncio.sleep(3)

    workers = subprocess.run(["pgrep", "-P", str(server.proc.pid), "-f", "huiyi-egress"], capture_output=True, text=True).stdout.split()
    assert len(workers) == 1, workers
    os.kill(int(workers[0]), signal.SIGKILL)
    failed = await wait_status(server, started["egressId"], {"EGRESS_FAILED", "EGRESS_COMPLETE"})
    assert failed["status"] == "EGRESS_FAILED"
    assert "signal 9" in failed["error"], failed
    # The webhooks say so too, checked by the SDK's own WebhookReceiver.
    events = livekit_events(livekit_webhooks, "egress_info", started["egressId"], {"egress_started", "egress_ended"})
    (ended,) = [e for e in events if e.event == "egress_ended"]
    assert ended.egress_info.status == api.EgressStatus.EGRESS_FAILED, ended
    assert "signal 9" in ended.egress_info.error, ended.egress_info.error
    # What the worker wrote before it died plays.
    path = failed["fileResults"][0]["filename"]
    assert decoded_seconds(path) >= 1.5, decoded_seconds(path)
    # The meeting goes on: alice is still there, and a new job starts.
    info = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="alice"))
    assert pub.sid in {t.sid for t in info.tracks}
    again = egress(server, "startTrackEgress", room=room, trackId=pub.sid, filepath=f"{room}/again")
    assert "error" not in again, again
    await wait_status(server, again["egressId"], {"EGRESS_ACTIVE"})
    egress(server, "stopEgress", egressId=again["egressId"])
    await wait_status(server, again["egressId"], {"EGRESS_COMPLETE"})


async def test_a_server_killed_mid_recording_leaves_a_playable_file_and_a_failed_job(tmp_path):
    """kill -9 of the server while a composite records: its worker finishes the file and exits
    (its stdin closed), and the restarted server lists the job as failed, with the file."""
    from harness import server as huiyi
    from harness.peers import Peers

    srv = huiyi.start(tmp_path)
    peers = Peers(srv.ws_url)
    try:
        room = room_name("rec-crash")
        alice = await peers.join(room, "alice")
        await media.publish_colours(alice)
        await media.publish_tone(alice)
        await asyncio.sleep(1)
        started = egress(srv, "startRoomCompositeEgress", room=room, filepath=f"{room}/crash.mp4")
        assert "error" not in started, started
        await wait_status(srv, started["egressId"], {"EGRESS_ACTIVE"})
        await asyncio.sleep(4)
        workers = subprocess.run(["pgrep", "-P", str(srv.proc.pid), "-f", "huiyi-egress"], capture_output=True, text=True).stdout.split()
        assert len(workers) == 1, workers
        srv.proc.kill()
        srv.proc.wait(timeout=10)
        # The orphaned worker ends by itself, promptly.
        for _ in range(100):
            if not os.path.exists(f"/proc/{workers[0]}"):
                break
            await asyncio.sleep(0.1)
        assert not os.path.exists(f"/proc/{workers[0]}"), "the worker outlived its server by 10 s"
    finally:
        await peers.close_all()
        huiyi.stop(srv)

    again = huiyi.start(tmp_path)
    try:
        (job,) = egress(again, "listEgress", egressId=started["egressId"])["items"]
        assert job["status"] == "EGRESS_FAILED" and "restarted" in job["error"], job
        path = job["fileResults"][0]["filename"]
        assert int(job["fileResults"][0]["size"]) == os.path.getsize(path) > 0
        streams = {s["codec_type"]: s["codec_name"] for s in probe(path)["streams"]}
        assert streams == {"video": "h264", "audio": "aac"}, streams
        assert decoded_seconds(path) >= 2.5, decoded_seconds(path)
    finally:
        huiyi.stop(again)


async def test_several_recordings_and_a_stream_at_once_within_the_limits(tmp_path):
    """Two recordings of one meeting (its camera and its microphone) and a live stream of it to
    an RTMP server run at once. A fourth job past `--egress-max-jobs` is refused with a clear
    error while they run, and `--egress-max-duration-secs` stops all three as LIMIT_REACHED,
    with files and a stream that hold about that long. Then a new job may start."""
    from harness import server as huiyi
    from harness.peers import Peers

    limit_s = 8
    srv = huiyi.start(tmp_path, extra_args=("--egress-max-jobs", "3", "--egress-max-duration-secs", str(limit_s)))
    peers = Peers(srv.ws_url)
    lk = api.LiveKitAPI(srv.http_url, API_KEY, API_SECRET)
    rtmp_url, rtmp, received = rtmp_server(tmp_path, "key")
    try:
        room = room_name("rec-three")
        alice = await peers.join(room, "alice")
        cam = await media.publish_colours(alice)
        mic = await media.publish_tone(alice)
        await published_track(lk, room, "alice", cam.sid)
        await published_track(lk, room, "alice", mic.sid)
        jobs = [
            egress(srv, "startTrackEgress", room=room, trackId=cam.sid, filepath=f"{room}/camera"),
            egress(srv, "startTrackEgress", room=room, trackId=mic.sid, filepath=f"{room}/microphone"),
            egress(srv, "startRoomCompositeEgress", room=room, rtmp=[rtmp_url]),
        ]
        assert all("error" not in j for j in jobs), jobs
        for j in jobs:
            await wait_status(srv, j["egressId"], {"EGRESS_ACTIVE"})
        refused = egress(srv, "startTrackEgress", room=room, trackId=cam.sid, filepath=f"{room}/fourth")
        assert refused["error"]["code"] == "resource_exhausted" and "limit" in refused["error"]["message"], refused
        listed = egress(srv, "listEgress", roomName=room, active=True)["items"]
        assert sorted(i["egressId"] for i in listed) == sorted(j["egressId"] for j in jobs), listed

        done = [await wait_status(srv, j["egressId"], {"EGRESS_LIMIT_REACHED", "EGRESS_COMPLETE", "EGRESS_FAILED"}, timeout=limit_s + 30) for j in jobs]
        assert [d["status"] for d in done] == ["EGRESS_LIMIT_REACHED"] * 3, done
        for d in done[:2]:
            path = d["fileResults"][0]["filename"]
            seconds = decoded_seconds(path)
            # The limit counts from the job's start; the file begins at its first keyframe.
            assert limit_s - 3 <= seconds <= limit_s + 0.5, (path, seconds)
        assert probe(done[0]["fileResults"][0]["filename"])["streams"][0]["codec_name"] == "vp8"
        assert probe(done[1]["fileResults"][0]["filename"])["streams"][0]["codec_name"] == "opus"
        stream = done[2]["streamResults"][0]
        assert stream["status"] == "FINISHED" and stream["url"].endswith("/live/{stream_key}"), stream
        assert limit_s - 3 <= int(stream["duration"]) / 1e9 <= limit_s + 0.5, stream
        rtmp.wait(timeout=30)
        flv = probe(str(received))
        assert sorted(s["codec_name"] for s in flv["streams"]) == ["aac", "h264"], flv
        assert limit_s - 3 <= float(flv["format"]["duration"]) <= limit_s + 0.5, flv["format"]

        again = egress(srv, "startTrackEgress", room=room, trackId=mic.sid, filepath=f"{room}/after")
        assert "error" not in again, again
        egress(srv, "stopEgress", egressId=again["egressId"])
        await wait_status(srv, again["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    finally:
        rtmp.kill()
        rtmp.wait(timeout=10)
        await lk.aclose()
        await peers.close_all()
        huiyi.stop(srv)


async def test_an_rtmp_server_that_goes_away_fails_only_its_stream(server, peers, tmp_path):
    """A composite writes a file and streams to an RTMP server (ffmpeg -listen) that is killed
    mid-stream: the stream is reported FAILED with its error, the job and its file go on."""
    room = room_name("rec-rtmp-gone")
    alice = await peers.join(room, "alice")
    await media.publish_colours(alice)
    await media.publish_tone(alice)
    rtmp_url, rtmp, received = rtmp_server(tmp_path, "secret")
    try:
        await asyncio.sleep(0.5)
        started = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/kept.mp4", rtmp=[rtmp_url])
        assert "error" not in started, started
        await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
        began = time.monotonic()
        for _ in range(200):
            if received.exists() and received.stat().st_size > 50_000:
                break
            await asyncio.sleep(0.1)
        assert received.exists() and received.stat().st_size > 50_000, "the stream reached the RTMP server"
    finally:
        rtmp.kill()
        rtmp.wait(timeout=10)
    deadline = time.monotonic() + 30
    while True:
        job = egress(server, "listEgress", egressId=started["egressId"])["items"][0]
        stream = job["streamResults"][0]
        if stream.get("status") == "FAILED" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert stream.get("status") == "FAILED" and stream.get("error"), job
    assert "secret" not in stream["url"], "the stream key is hidden"
    assert job["status"] == "EGRESS_ACTIVE", job
    await asyncio.sleep(2)
    egress(server, "stopEgress", egressId=started["egressId"])
    recorded = time.monotonic() - began
    done = await wait_status(server, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    assert done["status"] == "EGRESS_COMPLETE", done
    path = done["fileResults"][0]["filename"]
    assert abs(decoded_seconds(path) - recorded) < 2.0, (decoded_seconds(path), recorded)


async def test_a_full_disk_fails_the_job_with_a_clear_error(server, peers):
    """The recording's file is /dev/full (every write: ENOSPC), as on a full disk: the job ends
    FAILED saying so, and the room goes on."""
    room = room_name("rec-full")
    alice = await peers.join(room, "alice")
    await media.publish_colours(alice)
    recordings = Path(server.log_path).parent / "data" / "recordings" / room
    recordings.mkdir(parents=True, exist_ok=True)
    (recordings / "full.mp4").symlink_to("/dev/full")
    started = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/full.mp4")
    assert "error" not in started, started
    done = await wait_status(server, started["egressId"], {"EGRESS_FAILED", "EGRESS_COMPLETE"}, timeout=40)
    assert done["status"] == "EGRESS_FAILED", done
    # Classified as a full disk (the worker's `disk_full` code), not a generic pipeline fault.
    assert done["error"].startswith("disk_full:") and "space" in done["error"].lower(), done["error"]
    assert alice.room.isconnected()


async def test_bad_egress_requests_get_clear_errors(server, peers, lkapi):
    room = room_name("rec-bad")
    alice = await peers.join(room, "alice")
    pub = await media.publish_tone(alice)
    await published_track(lkapi, room, "alice", pub.sid)

    missing = egress(server, "startTrackEgress", room=room, trackId="TR_missing", filepath="x")
    assert missing["error"]["code"] == "not_found", missing
    escape = egress(server, "startTrackEgress", room=room, trackId=pub.sid, filepath="../../etc/x")
    assert escape["error"]["code"] == "invalid_argument", escape
    nowhere = egress(server, "startRoomCompositeEgress", room=room_name("none"), filepath="x.mp4")
    assert nowhere["error"]["code"] == "not_found", nowhere
    bad_url = egress(server, "startRoomCompositeEgress", room=room, rtmp=["http://example.com/x"])
    assert bad_url["error"]["code"] == "invalid_argument", bad_url
    wrong_secret = egress(server, "listEgress", secret="not-the-secret", roomName=room)
    assert wrong_secret["error"]["code"] == "unauthenticated", wrong_secret
    unknown = egress(server, "stopEgress", egressId="EG_nothing")
    assert unknown["error"]["code"] == "not_found", unknown
    # A participant's token (no roomRecord grant) may not record.
    import aiohttp

    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token(room, 'mallory')}", "Content-Type": "application/json"}
        async with http.post(f"{server.http_url}/twirp/livekit.Egress/ListEgress", data="{}", headers=headers) as r:
            assert r.status == 403
            assert (await r.json())["code"] == "permission_denied"


async def publish_flat(peer, rgb: tuple[int, int, int], source, name: str):
    """A video track of one flat colour (a camera or a screen share) at 15 fps."""
    import numpy as np
    from livekit import rtc

    width, height = 640, 360
    src = rtc.VideoSource(width, height)
    track = rtc.LocalVideoTrack.create_video_track(name, src)
    frame = np.tile(np.array([*rgb, 255], dtype=np.uint8), width * height).tobytes()

    async def pump():
        while True:
            src.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, frame))
            await asyncio.sleep(1 / 15)

    peer.spawn(pump())
    return await asyncio.wait_for(peer.local.publish_track(track, rtc.TrackPublishOptions(source=source)), 15)


def frame_at(path: str, seconds: float, width: int = 1280, height: int = 720):
    """The composite's picture at a time, as an RGB array (rows, columns, 3)."""
    import numpy as np

    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", f"{seconds:.2f}", "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, timeout=60,
    )
    assert out.returncode == 0 and len(out.stdout) == width * height * 3, out.stderr[-500:]
    return np.frombuffer(out.stdout, dtype=np.uint8).reshape(height, width, 3)


def near(pixel, rgb, tolerance: int = 60) -> bool:
    return all(abs(int(p) - c) <= tolerance for p, c in zip(pixel, rgb))


async def test_room_composite_records_the_meeting_and_puts_a_screen_share_first(server, peers, lkapi):
    from livekit import rtc

    room = room_name("rec-comp")
    red, blue = (220, 30, 30), (30, 30, 220)
    alice = await peers.join(room, "alice", name="Alice")
    cam = await publish_flat(alice, red, rtc.TrackSource.SOURCE_CAMERA, "cam")
    await media.publish_tone(alice)
    await published_track(lkapi, room, "alice", cam.sid)

    started = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/meeting.mp4", layout="grid")
    assert "error" not in started, started
    await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
    began = time.monotonic()
    await asyncio.sleep(4)
    bob = await peers.join(room, "bob", name="Bob")
    share = await publish_flat(bob, blue, rtc.TrackSource.SOURCE_SCREENSHARE, "screen")
    await published_track(lkapi, room, "bob", share.sid)
    shared_at = time.monotonic() - began
    await asyncio.sleep(5)
    stop_at = time.time()
    egress(server, "stopEgress", egressId=started["egressId"])
    done = await wait_status(server, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    assert done["status"] == "EGRESS_COMPLETE", done
    recorded = stop_at - int(done["startedAt"]) / 1e9

    path = done["fileResults"][0]["filename"]
    info = probe(path)
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (1280, 720)
    assert streams["audio"]["codec_name"] == "aac"
    assert abs(decoded_seconds(path) - recorded) < 1.0, (decoded_seconds(path), recorded)

    # Before the share: alice alone, her camera in the middle of the picture.
    before = frame_at(path, min(2.5, shared_at - 1))
    assert near(before[360, 640], red), before[360, 640]
    # After it: the share is the main picture, alice's camera a small tile beside it.
    after = frame_at(path, recorded - 1.5)
    assert near(after[360, 500], blue), after[360, 500]
    assert not near(after[360, 500], red)
    right_column = after[:, 1100:, :].reshape(-1, 3)
    assert sum(near(p, red) for p in right_column[::37]) > 20, "alice's camera is in the strip"


async def test_participant_egress_records_one_persons_camera_and_layouts_change(server, peers, lkapi):
    """StartParticipantEgress: alice's camera and microphone only (not her screen share, not
    bob); UpdateLayout on a running room composite; and what a bad request gets."""
    from livekit import rtc

    room = room_name("rec-part")
    red, blue, green = (220, 30, 30), (30, 30, 220), (30, 200, 30)
    alice = await peers.join(room, "alice", name="Alice")
    cam = await publish_flat(alice, red, rtc.TrackSource.SOURCE_CAMERA, "cam")
    share = await publish_flat(alice, blue, rtc.TrackSource.SOURCE_SCREENSHARE, "screen")
    await media.publish_tone(alice)
    bob = await peers.join(room, "bob", name="Bob")
    bob_cam = await publish_flat(bob, green, rtc.TrackSource.SOURCE_CAMERA, "cam")
    for who, sid in (("alice", cam.sid), ("alice", share.sid), ("bob", bob_cam.sid)):
        await published_track(lkapi, room, who, sid)

    started = egress(server, "startParticipantEgress", room=room, identity="alice", filepath=f"{room}/alice.mp4")
    assert "error" not in started, started
    assert started["participant"]["identity"] == "alice", started
    composite = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/all.mp4", layout="grid")
    assert "error" not in composite, composite
    await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
    await wait_status(server, composite["egressId"], {"EGRESS_ACTIVE"})

    # UpdateLayout: LiveKit's names (a -light variant too) are taken and kept in the job's info.
    updated = egress(server, "updateLayout", egressId=composite["egressId"], layout="speaker-light")
    assert "error" not in updated, updated
    for _ in range(50):
        listed = egress(server, "listEgress", egressId=composite["egressId"])["items"][0]
        if listed["roomComposite"]["layout"] == "speaker":
            break
        await asyncio.sleep(0.1)
    assert listed["roomComposite"]["layout"] == "speaker", listed
    bad = egress(server, "updateLayout", egressId=composite["egressId"], layout="mosaic")
    assert bad["error"]["status"] == 400 and "unknown layout" in bad["error"]["message"], bad
    bad = egress(server, "updateLayout", egressId="EG_nosuchjob", layout="grid")
    assert bad["error"]["status"] == 404, bad
    bad = egress(server, "startParticipantEgress", room=room, identity="nobody", filepath=f"{room}/x.mp4")
    assert bad["error"]["status"] == 404, bad

    await asyncio.sleep(5)
    for job in (started, composite):
        egress(server, "stopEgress", egressId=job["egressId"])
    done = await wait_status(server, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    assert done["status"] == "EGRESS_COMPLETE", done
    await wait_status(server, composite["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    path = done["fileResults"][0]["filename"]
    streams = {s["codec_type"]: s for s in probe(path)["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    # Alice's camera fills the picture; her screen share and bob's camera are not in it.
    picture = frame_at(path, decoded_seconds(path) - 1.0)
    samples = picture[::40, ::40, :].reshape(-1, 3)
    assert near(picture[360, 640], red), picture[360, 640]
    assert not any(near(p, blue, 40) for p in samples), "alice's screen share is not recorded"
    assert not any(near(p, green, 40) for p in samples), "bob is not recorded"


def onsets(times: list[float], values: list[float], threshold: float) -> list[float]:
    return [t for i, (t, v) in enumerate(zip(times, values)) if v > threshold and (i == 0 or values[i - 1] <= threshold)]


def av_onsets(path: str) -> tuple[list[float], list[float]]:
    """When the picture turns bright and when the sound turns loud, in the file's time."""
    import re

    v = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-an", "-vf", "scale=160:90,signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120).stdout
    vt = [float(x) for x in re.findall(r"pts_time:([\d.]+)", v)]
    vy = [float(x) for x in re.findall(r"YAVG=([\d.]+)", v)]
    a = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vn", "-af", "asetnsamples=n=240:p=0,astats=metadata=1:reset=1,ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=-", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120).stdout
    at = [float(x) for x in re.findall(r"pts_time:([\d.]+)", a)]
    ar = [float(x) if x not in ("-inf", "inf") else -120.0 for x in re.findall(r"RMS_level=(-?[\d.]+|-inf)", a)]
    assert vt and at and len(vt) == len(vy) and len(at) == len(ar), (len(vt), len(vy), len(at), len(ar))
    mid = (min(vy) + max(vy)) / 2
    return onsets(vt, vy, mid), onsets(at, ar, -35.0)


async def test_the_composite_keeps_sound_and_picture_together(server, peers, lkapi):
    """A GStreamer broadcaster (over WHIP) whose flashes and beeps coincide exactly, both driven
    by one pipeline clock, so any offset in the file is Huiyi's."""
    from test_whip import CLIENT, SYSTEM_PYTHON

    room = room_name("rec-sync")
    watcher = await peers.join(room, "watcher")
    broadcaster = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), f"{server.http_url}/whip", token(room, "alice"), "25", "--flash",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await watcher.events.wait("participant_connected", lambda p: p.identity == "alice", timeout=30)
        for _ in range(100):
            info = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="alice"))
            if len(info.tracks) == 2:
                break
            await asyncio.sleep(0.1)
        await measure_sync(server, room)
    finally:
        broadcaster.kill()
        await broadcaster.wait()


async def measure_sync(server, room: str) -> None:
    started = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/sync.mp4")
    await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
    await asyncio.sleep(9)
    egress(server, "stopEgress", egressId=started["egressId"])
    done = await wait_status(server, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"})
    assert done["status"] == "EGRESS_COMPLETE", done
    flashes, beeps = av_onsets(done["fileResults"][0]["filename"])
    offsets = []
    for f in flashes:
        near = [b - f for b in beeps if abs(b - f) < 0.45]
        if near:
            offsets.append(min(near, key=abs))
    assert len(offsets) >= 5, (flashes, beeps)
    offsets.sort()
    median = offsets[len(offsets) // 2]
    print(f"A/V offset (sound minus picture), median of {len(offsets)}: {median * 1000:.0f} ms; all: {[round(o * 1000) for o in offsets]}")
    assert abs(median) < 0.1, f"sound is {median * 1000:.0f} ms off the picture: {[round(o * 1000) for o in offsets]}"
