"""Recordings kept in an S3-compatible bucket: a local S3 server (moto in server mode, started
here on a free loopback port) stands in for AWS, MinIO or COS. A LiveKit app names its bucket
in the request (livekit-server-sdk's S3Upload); a server configured with a bucket of its own
(`--recordings-s3-*`) puts every other recording there, and deletes it after the retention.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import media
from harness.peers import Peers, room_name
from harness import server as huiyi
from test_egress import decoded_seconds, egress, probe, wait_status

ACCESS, SECRET = "testing-access", "testing-secret"


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1, and a boto3 client for it; stopped after the module."""
    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET, region_name="us-east-1")
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_buckets()
            break
        except Exception:  # noqa: BLE001 (not up yet)
            assert time.monotonic() < deadline and moto.poll() is None, "moto_server did not start"
            time.sleep(0.2)
    yield endpoint, client
    moto.terminate()
    moto.wait(timeout=10)


def fetch(client, bucket: str, key: str, into: Path) -> Path:
    client.download_file(bucket, key, str(into))
    return into


async def test_a_livekit_app_records_into_its_own_bucket(server, peers, s3, tmp_path):
    endpoint, client = s3
    client.create_bucket(Bucket="app-recordings")
    room = room_name("rec-s3")
    alice = await peers.join(room, "alice")
    await media.publish_colours(alice)
    await media.publish_tone(alice)
    upload = {"bucket": "app-recordings", "endpoint": endpoint, "region": "us-east-1", "accessKey": ACCESS, "secret": SECRET, "forcePathStyle": True}
    started = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/meeting.mp4", s3=upload)
    assert "error" not in started, started
    await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
    await asyncio.sleep(4)
    stop_at = time.time()
    egress(server, "stopEgress", egressId=started["egressId"])
    done = await wait_status(server, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"}, timeout=60)
    assert done["status"] == "EGRESS_COMPLETE", done
    # From the server's own start (ACTIVE: the first picture written) to the stop: polling the
    # status through the SDK's CLI would add a second or more to the start.
    recorded = stop_at - int(done["startedAt"]) / 1e9
    result = done["fileResults"][0]
    assert result["location"] == f"s3://app-recordings/{room}/meeting.mp4", result
    assert not os.path.exists(result["filename"]), "the local copy is removed after the upload"
    head = client.head_object(Bucket="app-recordings", Key=f"{room}/meeting.mp4")
    assert head["ContentLength"] == int(result["size"]) > 0
    path = fetch(client, "app-recordings", f"{room}/meeting.mp4", tmp_path / "meeting.mp4")
    streams = {s["codec_type"]: s["codec_name"] for s in probe(str(path))["streams"]}
    assert streams == {"video": "h264", "audio": "aac"}, streams
    assert abs(decoded_seconds(str(path)) - recorded) < 1.0, (decoded_seconds(str(path)), recorded)

    # A bucket that does not exist: the job fails saying so, and the file stays in the folder.
    bad = dict(upload, bucket="no-such-bucket")
    started = egress(server, "startRoomCompositeEgress", room=room, filepath=f"{room}/kept.mp4", s3=bad)
    await wait_status(server, started["egressId"], {"EGRESS_ACTIVE"})
    await asyncio.sleep(2)
    egress(server, "stopEgress", egressId=started["egressId"])
    done = await wait_status(server, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"}, timeout=60)
    assert done["status"] == "EGRESS_FAILED" and "upload" in done["error"], done
    assert os.path.getsize(done["fileResults"][0]["filename"]) > 0, "the file is kept when its upload fails"


async def test_a_server_bucket_keeps_every_recording_until_its_retention(s3, tmp_path):
    """A server with its own bucket and a retention of 20 s: a recording made without an upload
    of its own goes to the bucket, and is deleted (object and listing) once it is older."""
    endpoint, client = s3
    client.create_bucket(Bucket="huiyi-recordings")
    srv = huiyi.start(tmp_path, extra_args=(
        "--recordings-s3-bucket", "huiyi-recordings", "--recordings-s3-endpoint", endpoint,
        "--recordings-s3-access-key", ACCESS, "--recordings-s3-secret-key", SECRET,
        "--recordings-s3-force-path-style", "true", "--recordings-retention-days", str(20 / 86_400),
    ))
    peers = Peers(srv.ws_url)
    try:
        room = room_name("rec-s3-srv")
        alice = await peers.join(room, "alice")
        await media.publish_colours(alice)
        started = egress(srv, "startTrackEgress", room=room, trackId=(await wait_track(srv, room)), filepath=f"{room}/{{track_id}}")
        assert "error" not in started, started
        await wait_status(srv, started["egressId"], {"EGRESS_ACTIVE"})
        await asyncio.sleep(3)
        egress(srv, "stopEgress", egressId=started["egressId"])
        done = await wait_status(srv, started["egressId"], {"EGRESS_COMPLETE", "EGRESS_FAILED"}, timeout=60)
        assert done["status"] == "EGRESS_COMPLETE", done
        location = done["fileResults"][0]["location"]
        assert location.startswith("s3://huiyi-recordings/") and location.endswith(".webm"), location
        key = location.removeprefix("s3://huiyi-recordings/")
        assert client.head_object(Bucket="huiyi-recordings", Key=key)["ContentLength"] > 0
        assert not os.path.exists(done["fileResults"][0]["filename"])
        # Past the retention (20 s, swept every 5 s): the object and the job are gone.
        deadline = time.monotonic() + 60
        while egress(srv, "listEgress", egressId=started["egressId"])["items"] and time.monotonic() < deadline:
            await asyncio.sleep(1)
        assert egress(srv, "listEgress", egressId=started["egressId"])["items"] == [], "the job is deleted after its retention"
        assert client.list_objects_v2(Bucket="huiyi-recordings").get("KeyCount", 0) == 0, "the object is deleted"
    finally:
        await peers.close_all()
        huiyi.stop(srv)


async def wait_track(srv, room: str) -> str:
    """The sid of the first track published in `room`, through the server's RoomService."""
    from livekit import api

    from harness.server import API_KEY, API_SECRET

    async with api.LiveKitAPI(srv.http_url, API_KEY, API_SECRET) as lk:
        for _ in range(100):
            ps = (await lk.room.list_participants(api.ListParticipantsRequest(room=room))).participants
            tracks = [t.sid for p in ps for t in p.tracks]
            if tracks:
                return tracks[0]
            await asyncio.sleep(0.1)
    raise AssertionError("no track published")


async def test_a_meeting_recording_in_the_server_bucket_downloads_through_a_presigned_link(s3, tmp_path):
    """A meeting's cloud recording (Tencent's API, through Tencent's SDK) on a server with a
    bucket: the record's download link redirects to a presigned URL on the bucket, which serves
    the file; deleting the record deletes the object."""
    import urllib.error
    import urllib.request

    import wemeet_openapi as wm
    from test_wemeet_sdk import BY_USERID, OPERATOR, auth, create, join_meeting, make_client, record

    endpoint, client = s3
    client.create_bucket(Bucket="meeting-recordings")
    srv = huiyi.start(tmp_path, extra_args=(
        "--recordings-s3-bucket", "meeting-recordings", "--recordings-s3-endpoint", endpoint,
        "--recordings-s3-access-key", ACCESS, "--recordings-s3-secret-key", SECRET,
        "--recordings-s3-force-path-style", "true",
    ))
    peers = Peers(srv.ws_url)
    try:
        sdk = make_client(srv)
        info, _ = await asyncio.to_thread(create, sdk, start_in=-60, subject="S3 录制")
        joined = await asyncio.to_thread(join_meeting, srv, info.meeting_code, "Presenter")
        presenter = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
        await media.publish_colours(presenter)
        await media.publish_tone(presenter)
        started = await asyncio.to_thread(record, sdk, info.meeting_id, "start")
        assert started["status"] == 200, started
        record_id = started["body"]["meeting_record_id"]
        await asyncio.sleep(4)
        assert (await asyncio.to_thread(record, sdk, info.meeting_id, "stop"))["status"] == 200
        done = await wait_status(srv, record_id, {"EGRESS_COMPLETE", "EGRESS_FAILED"}, timeout=60)
        assert done["status"] == "EGRESS_COMPLETE", done
        key = done["fileResults"][0]["location"].removeprefix("s3://meeting-recordings/")
        size = client.head_object(Bucket="meeting-recordings", Key=key)["ContentLength"]

        addr = sdk.records_api.v1_addresses_record_file_id_get(
            request=wm.ApiV1AddressesRecordFileIdGetRequest(record_file_id=record_id, operator_id=OPERATOR, operator_id_type=BY_USERID),
            authenticator_options=auth(),
        ).data

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
        try:
            opener.open(addr.download_address, timeout=30)
            raise AssertionError("the download link did not redirect")
        except urllib.error.HTTPError as e:
            assert e.code == 302, e.code
            presigned = e.headers["Location"]
        assert presigned.startswith(f"{endpoint}/meeting-recordings/") and "X-Amz-Signature=" in presigned, presigned
        plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with plain.open(presigned, timeout=30) as resp:
            body = resp.read()
        assert len(body) == size > 0
        path = tmp_path / "meeting.mp4"
        path.write_bytes(body)
        streams = {s["codec_type"]: s["codec_name"] for s in probe(str(path))["streams"]}
        assert streams == {"video": "h264", "audio": "aac"}, streams

        sdk.records_api.v1_records_record_file_id_delete(
            request=wm.ApiV1RecordsRecordFileIdDeleteRequest(record_file_id=record_id, operator_id=OPERATOR, operator_id_type=BY_USERID),
            authenticator_options=auth(),
        )
        assert client.list_objects_v2(Bucket="meeting-recordings").get("KeyCount", 0) == 0, "deleting the record deletes the object"
    finally:
        await peers.close_all()
        huiyi.stop(srv)
