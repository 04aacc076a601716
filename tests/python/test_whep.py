"""WHEP playback: a viewer that speaks only WHEP (GStreamer's webrtcbin, as `whepsrc` and
browser WHEP players use it) plays a participant's picture and sound with one HTTP request,
and nobody in the meeting sees it. Plus what a hostile or broken client gets back.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from livekit import api

from harness import media
from harness.peers import room_name, token
from test_whip import SYSTEM_PYTHON, http

CLIENT = Path(__file__).parent / "tools" / "whep_client.py"


async def play(url: str, tok: str, seconds: float) -> tuple[list[dict], str, int]:
    viewer = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), url, tok, str(seconds), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(viewer.communicate(), seconds + 60)
    steps = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return steps, err.decode()[-3000:], viewer.returncode


async def test_a_whep_viewer_plays_a_participant_and_is_seen_by_nobody(server, peers, lkapi):
    room = room_name("whep")
    alice = await peers.join(room, "alice")
    await media.publish_colours(alice)
    await media.publish_tone(alice)
    bob = await peers.join(room, "bob")
    await media.publish_tone(bob, "bob-mic")
    # A token may be shared by many viewers: two play at once, neither replaces the other.
    shared = token(room, "player-link")
    url = f"{server.http_url}/whep?participant=alice"
    (first, err1, rc1), (second, err2, rc2) = await asyncio.gather(play(url, shared, 8), play(url, shared, 8))
    for steps, err, rc in ((first, err1, rc1), (second, err2, rc2)):
        assert rc == 0, (steps, err)
        answered = next(s for s in steps if s["step"] == "answered")
        assert answered["status"] == 201 and "/whep/" in answered["location"], steps
        played = next(s for s in steps if s["step"] == "played")
        assert played["frames"] >= 60, played
        assert (played["width"], played["height"]) == (media.WIDTH, media.HEIGHT), played
        assert played["audio_rms"] > 2000, f"alice's tone is heard: {played}"
        assert {"step": "deleted", "status": 200} in steps, steps
    # Nobody in the room was told of a viewer.
    seen = [p.identity for p in alice.room.remote_participants.values()]
    assert seen == ["bob"], seen
    listed = [p.identity for p in (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants]
    assert not any(i.startswith("whep_") for i in listed), listed


async def test_without_a_participant_the_first_camera_is_played(server, peers):
    room = room_name("whep-room")
    carol = await peers.join(room, "carol")
    await media.publish_tone(carol)  # sound only: not the one played
    dave = await peers.join(room, "dave")
    await media.publish_colours(dave)
    steps, err, rc = await play(f"{server.http_url}/whep", token(room, "viewer"), 5)
    assert rc == 0, (steps, err)
    played = next(s for s in steps if s["step"] == "played")
    assert played["frames"] >= 30 and played["width"] == media.WIDTH, played


async def test_bad_whep_requests_get_clear_errors(server, peers):
    room = room_name("whep-bad")
    alice = await peers.join(room, "alice")
    await media.publish_colours(alice)
    url = f"{server.http_url}/whep"
    good = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token(room, 'viewer')}"}
    assert http("POST", url, b"v=0", {"Content-Type": "application/sdp"})[0] == 401, "no token"
    assert http("POST", url, b"v=0", {**good, "Authorization": "Bearer not-a-token"})[0] == 401
    assert http("POST", url, b"v=0", {**good, "Content-Type": "text/plain"})[0] == 415
    assert http("POST", url, b"x" * (65 * 1024), good)[0] == 413
    status, _, text = http("POST", url, b"v=0\r\ngarbage", good)
    assert status == 400 and "SDP" in text, (status, text)
    status, _, text = http("POST", f"{url}?participant=nobody", b"v=0", good)
    assert status in (400, 404), (status, text)
    # A token that may not subscribe.
    no_sub = {**good, "Authorization": f"Bearer {token(room, 'mute', can_subscribe=False)}"}
    status, _, text = http("POST", url, b"v=0", no_sub)
    assert status == 403 and "subscribe" in text, (status, text)
    # A room nobody is in.
    empty = {**good, "Authorization": f"Bearer {token(room_name('whep-empty'), 'viewer')}"}
    status, _, text = http("POST", url, b"v=0", empty)
    assert status in (400, 404), (status, text)
    # Unknown sessions.
    assert http("DELETE", f"{url}/no-such-session")[0] == 404
    assert http("PATCH", f"{url}/no-such-session", b"", {"Content-Type": "application/trickle-ice-sdpfrag"})[0] == 404
    # The room goes on.
    assert alice.room.isconnected()


def sessions(server) -> int:
    """The server's count of participant sessions (hidden WHEP viewers included), from /metrics."""
    import re
    import urllib.request

    text = urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10).read().decode()
    return int(re.search(r"^huiyi_participants (\d+)", text, re.M).group(1))


async def steady_sessions(server) -> int:
    """The session count once it has held for 2 s (earlier tests' sessions may still be leaving)."""
    last, since = sessions(server), asyncio.get_running_loop().time()
    for _ in range(300):
        await asyncio.sleep(0.2)
        now = sessions(server)
        if now != last:
            last, since = now, asyncio.get_running_loop().time()
        elif asyncio.get_running_loop().time() - since >= 2:
            return now
    raise AssertionError("the session count never settled")


async def test_a_whep_viewer_that_vanishes_is_ended(server, peers):
    """A player closed without DELETE (a crash, a lost network): its hidden session is ended
    once its connection is lost, rather than held (and counted against the viewer limit)."""
    import time

    room = room_name("whep-vanish")
    alice = await peers.join(room, "alice")
    await media.publish_colours(alice)
    before = await steady_sessions(server)
    viewer = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), f"{server.http_url}/whep?participant=alice", token(room, "player"), "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    location = None
    try:
        while location is None:
            line = await asyncio.wait_for(viewer.stdout.readline(), 30)
            assert line, "the viewer exited before its answer"
            step = json.loads(line)
            if step["step"] == "answered":
                location = step["location"] if step["location"].startswith("http") else f"{server.http_url}{step['location']}"
        for _ in range(150):
            if sessions(server) == before + 1:
                break
            await asyncio.sleep(0.2)
        assert sessions(server) == before + 1, "the viewer's session"
        await asyncio.sleep(3)  # playing
    finally:
        viewer.kill()  # SIGKILL: no DELETE
        await viewer.wait()
    killed = time.monotonic()
    for _ in range(300):
        if sessions(server) == before:
            break
        await asyncio.sleep(0.2)
    print(f"the vanished viewer was ended after {time.monotonic() - killed:.1f} s")
    assert sessions(server) == before, "the vanished viewer's session was ended"
    # A DELETE that comes after (the player restarted and cleans up) finds nothing to end.
    status, _, text = http("DELETE", location)
    assert status == 404 and "already ended" in text, (status, text)
