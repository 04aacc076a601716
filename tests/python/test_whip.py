"""WHIP ingest: a broadcaster that speaks only WHIP (GStreamer's webrtcbin, as `whipsink` and OBS
Studio use it) publishes into a room with one HTTP request, and a LiveKit client in the room
receives its picture and sound. Plus what a hostile or broken client gets back.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from livekit import rtc

from harness import media
from harness.peers import room_name, token
from test_media import assert_hears_tone

CLIENT = Path(__file__).parent / "tools" / "whip_client.py"
# Debian's Python, which has the GObject bindings the client needs.
SYSTEM_PYTHON = "/usr/bin/python3"


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def ingress_state(server, ingress_id: str) -> dict:
    """An ingress's `state` from ListIngress (proto JSON leaves out defaults: no status is
    ENDPOINT_INACTIVE)."""
    from test_egress import egress

    got = egress(server, "listIngress", ingressId=ingress_id)["items"][0]["state"]
    return {"status": "ENDPOINT_INACTIVE", **got}


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_a_whip_broadcast_is_seen_and_heard_in_the_room(server, peers, codec):
    room = room_name(f"whip-{codec}")
    viewer = await peers.join(room, "viewer")
    broadcaster = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), f"{server.http_url}/whip", token(room, "obs", name="OBS 演播室"), "12",
        *(["--h264"] if codec == "h264" else []),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        (participant,) = await viewer.events.wait("participant_connected", lambda p: p.identity == "obs", timeout=30)
        assert participant.name == "OBS 演播室"
        assert participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_INGRESS
        video, pub, _ = await viewer.events.wait("track_subscribed", lambda t, pub, p: p.identity == "obs" and t.kind == rtc.TrackKind.KIND_VIDEO, timeout=30)
        assert pub.source == rtc.TrackSource.SOURCE_CAMERA
        assert pub.mime_type.lower() == f"video/{codec}"
        frames = media.FrameCounter(viewer, video)
        await frames.wait_for_more(30, timeout=20)
        assert (frames.last.width, frames.last.height) == (640, 360)
        audio, _, _ = await viewer.events.wait("track_subscribed", lambda t, pub, p: p.identity == "obs" and t.kind == rtc.TrackKind.KIND_AUDIO, timeout=10)
        await assert_hears_tone(audio)
        # The broadcaster ends with DELETE: it leaves the room.
        await viewer.events.wait("participant_disconnected", lambda p: p.identity == "obs", timeout=30)
    finally:
        out, err = await asyncio.wait_for(broadcaster.communicate(), 60)
    steps = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    answered = next(s for s in steps if s["step"] == "answered")
    assert answered["status"] == 201 and "/whip/" in answered["location"], steps
    assert {"step": "deleted", "status": 200} in steps, (steps, err.decode()[-2000:])
    assert broadcaster.returncode == 0, err.decode()[-2000:]


async def test_an_ingress_stream_key_publishes_as_its_participant(server, peers, livekit_webhooks):
    from test_egress import egress

    room = room_name("whip-ingress")
    viewer = await peers.join(room, "viewer")
    made = egress(server, "createIngress", room=room, identity="studio-a", participantName="Studio A", name="OBS in studio A")
    assert "error" not in made, made
    assert made["ingressId"].startswith("IN_") and len(made["streamKey"]) >= 20
    assert made["url"].endswith("/whip") and made["inputType"] == "WHIP_INPUT"
    listed = egress(server, "listIngress", roomName=room)["items"]
    assert [i["ingressId"] for i in listed] == [made["ingressId"]]

    # OBS is given the URL and the stream key as its bearer token.
    broadcaster = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), made["url"], made["streamKey"], "8",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        (participant,) = await viewer.events.wait("participant_connected", lambda p: p.identity == "studio-a", timeout=30)
        assert participant.name == "Studio A"
        video, _, _ = await viewer.events.wait("track_subscribed", lambda t, pub, p: p.identity == "studio-a" and t.kind == rtc.TrackKind.KIND_VIDEO, timeout=30)
        await media.FrameCounter(viewer, video).wait_for_more(20, timeout=20)
        state = egress(server, "listIngress", ingressId=made["ingressId"])["items"][0]["state"]
        assert state["status"] == "ENDPOINT_PUBLISHING", state
    finally:
        await asyncio.wait_for(broadcaster.communicate(), 60)
    assert broadcaster.returncode == 0
    deleted = egress(server, "deleteIngress", ingressId=made["ingressId"])
    assert deleted["ingressId"] == made["ingressId"]
    # LiveKit-style webhooks for the broadcast's start and end.
    from test_egress import livekit_events

    events = livekit_events(livekit_webhooks, "ingress_info", made["ingressId"], {"ingress_started", "ingress_ended"})
    assert [e.event for e in events][:2] == ["ingress_started", "ingress_ended"], [e.event for e in events]
    assert events[0].ingress_info.room_name == room
    # A deleted key publishes nothing.
    status, _, text = http("POST", made["url"], b"v=0", {"Content-Type": "application/sdp", "Authorization": f"Bearer {made['streamKey']}"})
    assert status == 401 and "stream key" in text
    assert egress(server, "deleteIngress", ingressId=made["ingressId"])["error"]["code"] == "not_found"
    assert egress(server, "listIngress", roomName=room)["items"] == []


async def test_bad_whip_requests_get_clear_answers(server):
    url = f"{server.http_url}/whip"
    room = room_name("whip-bad")
    good = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token(room, 'obs')}"}
    # A browser page on another origin may POST its offer (the CORS preflight allows it) and
    # read the session's Location.
    status, headers, _ = http("OPTIONS", url, headers={"Origin": "https://studio.example", "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "authorization,content-type"})
    assert status in (200, 204) and headers.get("access-control-allow-origin") == "*", (status, headers)
    assert "POST" in headers.get("access-control-allow-methods", "") and "DELETE" in headers.get("access-control-allow-methods", "")
    assert http("POST", url, b"v=0", {**good, "Content-Type": "text/plain"})[0] == 415
    assert http("POST", url, b"v=0", {"Content-Type": "application/sdp"})[0] == 401
    assert http("POST", url, b"v=0", {**good, "Authorization": "Bearer not-a-token"})[0] == 401
    status, _, text = http("POST", url, b"this is not SDP", good)
    assert status == 400 and "SDP" in text
    assert http("POST", url, b"x" * (65 * 1024), good)[0] == 413
    # A viewer's token may not publish.
    no_publish = {**good, "Authorization": f"Bearer {token(room, 'viewer', can_publish=False)}"}
    assert http("POST", url, b"v=0", no_publish)[0] == 403
    # Sessions that do not exist.
    assert http("DELETE", f"{url}/nope")[0] == 404
    assert http("PATCH", f"{url}/nope", b"", {"Content-Type": "application/trickle-ice-sdpfrag"})[0] == 404


async def test_a_broadcaster_that_vanishes_ends_its_ingress(server, peers, livekit_webhooks):
    """OBS crashes or loses its network: no DELETE comes. When the server drops the silent
    publisher, the ingress stops publishing (LiveKit's `ingress_ended`, once), and the same
    key publishes again."""
    import time

    from test_egress import egress, livekit_events

    room = room_name("whip-vanish")
    viewer = await peers.join(room, "viewer")
    made = egress(server, "createIngress", room=room, identity="studio-v", participantName="Studio V", name="OBS that crashes")

    def state() -> dict:
        return ingress_state(server, made["ingressId"])

    broadcaster = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), made["url"], made["streamKey"], "60",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await viewer.events.wait("participant_connected", lambda p: p.identity == "studio-v", timeout=30)
        assert state()["status"] == "ENDPOINT_PUBLISHING"
        publisher = state()["resourceId"]
        assert publisher.startswith("PA_"), state()
    finally:
        broadcaster.kill()  # SIGKILL: no DELETE
        await broadcaster.wait()
    killed = time.monotonic()
    await viewer.events.wait("participant_disconnected", lambda p: p.identity == "studio-v", timeout=60)
    for _ in range(50):
        if state()["status"] != "ENDPOINT_PUBLISHING":
            break
        await asyncio.sleep(0.1)
    print(f"the vanished publisher was dropped after {time.monotonic() - killed:.1f} s")
    assert state()["status"] == "ENDPOINT_INACTIVE", state()
    events = livekit_events(livekit_webhooks, "ingress_info", made["ingressId"], {"ingress_started", "ingress_ended"})
    assert [e.event for e in events] == ["ingress_started", "ingress_ended"], [e.event for e in events]

    # The key still works: OBS restarted publishes again, and ends with DELETE.
    again = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(CLIENT), made["url"], made["streamKey"], "4",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    for _ in range(300):
        if state()["status"] == "ENDPOINT_PUBLISHING":
            break
        await asyncio.sleep(0.1)
    assert state()["status"] == "ENDPOINT_PUBLISHING", state()
    assert state()["resourceId"] != publisher, "a new publisher"
    _, err = await asyncio.wait_for(again.communicate(), 60)
    assert again.returncode == 0, err.decode()[-2000:]
    assert state()["status"] == "ENDPOINT_INACTIVE"
    egress(server, "deleteIngress", ingressId=made["ingressId"])


async def test_deleting_a_replaced_broadcast_leaves_the_new_one_publishing(server, peers, livekit_webhooks):
    """OBS reconnects with the same stream key while its old session lingers: the new session
    takes over. A late DELETE of the old session then answers 404 and must not end the ingress
    that the new one publishes."""
    from test_egress import egress

    room = room_name("whip-replaced")
    viewer = await peers.join(room, "viewer")
    made = egress(server, "createIngress", room=room, identity="studio-r", participantName="Studio R", name="OBS that reconnects")

    def state() -> dict:
        return ingress_state(server, made["ingressId"])

    async def start() -> tuple[asyncio.subprocess.Process, str]:
        proc = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, str(CLIENT), made["url"], made["streamKey"], "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "the client exited before its answer"
            step = json.loads(line)
            if step["step"] == "answered":
                assert step["status"] == 201, step
                location = step["location"]
                return proc, location if location.startswith("http") else f"{server.http_url}{location}"

    async def publisher_is(want) -> dict:
        for _ in range(300):
            s = state()
            if s["status"] == "ENDPOINT_PUBLISHING" and want(s["resourceId"]):
                return s
            await asyncio.sleep(0.1)
        raise AssertionError(f"the ingress never published as wanted: {state()}")

    first, first_location = await start()
    second = None
    try:
        await viewer.events.wait("participant_connected", lambda p: p.identity == "studio-r", timeout=30)
        old_sid = (await publisher_is(lambda sid: sid.startswith("PA_")))["resourceId"]
        second, second_location = await start()
        new_sid = (await publisher_is(lambda sid: sid != old_sid))["resourceId"]
        # The old session was replaced: its DELETE finds nothing live, and the key publishes on.
        status, _, text = http("DELETE", first_location)
        assert status == 404 and "already ended" in text, (status, text)
        await asyncio.sleep(0.5)
        assert state()["status"] == "ENDPOINT_PUBLISHING" and state()["resourceId"] == new_sid, state()
        # The live session's DELETE ends the broadcast and the ingress.
        assert http("DELETE", second_location)[0] == 200
        for _ in range(50):
            if state()["status"] == "ENDPOINT_INACTIVE":
                break
            await asyncio.sleep(0.1)
        assert state()["status"] == "ENDPOINT_INACTIVE", state()
        assert http("DELETE", second_location)[0] == 404, "a session is ended once"
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass  # it ended on its own (the replaced one does, once its connection goes)
                await proc.wait()
    egress(server, "deleteIngress", ingressId=made["ingressId"])
