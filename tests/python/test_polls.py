"""Polls in a meeting, as a LiveKit app sees them: drafted, launched and closed by a host over
`/api/polls` with the host's own access token, voted on by participants with theirs, and
announced by the server on the data topic `huiyi.poll` (docs/protocol.md, "Polls"), which the
Python `livekit` SDK receives like any other data packet.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import wemeet_openapi as wm

from harness.peers import token
from test_meeting_interaction import started_meeting
from test_wemeet_sdk import OPERATOR, cohost, join_meeting, kickout, make_client, members  # noqa: F401 (members is a fixture)

POLL = "huiyi.poll"

LUNCH = {
    "title": "午饭",
    "questions": [
        {"text": "Where?", "options": ["Noodles", "Dumplings", "Salad"]},
        {"text": "Drinks?", "multiple": True, "options": ["Tea", "Coffee", "Water"]},
    ],
}


@pytest.fixture(scope="module")
def sdk(server) -> wm.Client:
    return make_client(server)


def call(server, jwt: str | None, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if jwt:
        headers["Authorization"] = f"Bearer {jwt}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{server.http_url}{path}", data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"text": raw.decode(errors="replace")}


async def api(server, jwt, method, path, body=None):
    return await asyncio.to_thread(call, server, jwt, method, path, body)


def host_token(meeting_id: str) -> str:
    """The host's token, as the integrator's backend minted it for `started_meeting`."""
    return token(meeting_id, OPERATOR, name="Host", metadata=json.dumps({"role": "host", "person": OPERATOR}))


def announced(events, poll_id: str, predicate=lambda poll: True) -> list[dict]:
    out = []
    for (p,) in events.all("data_received", lambda p: p.topic == POLL):
        body = json.loads(p.data)
        if body["type"] == "poll" and body["poll"]["id"] == poll_id and predicate(body["poll"]):
            out.append(body["poll"])
    return out


async def announcement(peer, poll_id: str, predicate):
    await peer.events.wait("data_received", lambda p: p.topic == POLL and json.loads(p.data)["poll"]["id"] == poll_id and predicate(json.loads(p.data)["poll"]))
    return announced(peer.events, poll_id, predicate)[-1]


async def test_a_poll_runs_from_draft_to_results_and_each_person_votes_once(server, sdk, peers):
    info, host, [(alice, a), (bob, b)] = await started_meeting(server, sdk, peers, "Alice", "Bob")
    hjwt = host_token(info.meeting_id)

    # Participants cannot draft, see drafts, launch or vote in one.
    status, body = await api(server, a["token"], "POST", "/api/polls", LUNCH)
    assert (status, body["code"]) == (403, "not_host"), body
    status, draft = await api(server, hjwt, "POST", "/api/polls", LUNCH)
    assert status == 201 and draft["state"] == "draft" and draft["title"] == "午饭", draft
    pid = draft["id"]
    assert (await api(server, a["token"], "GET", "/api/polls"))[1]["polls"] == [], "drafts are the hosts'"
    assert (await api(server, a["token"], "POST", f"/api/polls/{pid}/launch"))[0] == 403
    status, body = await api(server, a["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[0], [0]]})
    assert (status, body["code"]) == (409, "not_launched"), body
    # A bad draft says what is wrong.
    status, body = await api(server, hjwt, "PUT", f"/api/polls/{pid}", {"title": "x", "questions": [{"text": "?", "options": ["only one"]}]})
    assert status == 400 and "2 to" in body["message"], body
    status, edited = await api(server, hjwt, "PUT", f"/api/polls/{pid}", {**LUNCH, "title": "Lunch"})
    assert status == 200 and edited["title"] == "Lunch"

    # Launched: everyone is told, over LiveKit's data channel.
    status, live = await api(server, hjwt, "POST", f"/api/polls/{pid}/launch")
    assert status == 200 and live["state"] == "live", live
    for peer in (alice, bob, host):
        seen = await announcement(peer, pid, lambda p: p["state"] == "live")
        assert seen["questions"][1] == {"text": "Drinks?", "multiple": True, "options": ["Tea", "Coffee", "Water"]}
    assert (await api(server, hjwt, "PUT", f"/api/polls/{pid}", LUNCH))[1]["code"] == "live", "a launched poll is not edited"

    # Ballots: checked against the questions, one per person.
    for bad in ([[0, 1], [0]], [[3], [0]], [[0]], [[0], []]):
        status, body = await api(server, a["token"], "POST", f"/api/polls/{pid}/votes", {"answers": bad})
        assert (status, body["code"]) == (400, "invalid"), (bad, body)
    status, mine = await api(server, a["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[1], [2, 0]]})
    assert status == 200 and mine["my_answers"] == [[1], [0, 2]], mine
    status, body = await api(server, a["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[0], [0]]})
    assert (status, body["code"]) == (409, "already_voted"), body
    assert (await api(server, b["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[1], [1]]}))[0] == 200

    # Live results reach everyone (this poll shows them); names reach the hosts only.
    seen = await announcement(alice, pid, lambda p: p.get("results", {}).get("voters") == 2)
    assert seen["results"]["counts"] == [[0, 2, 0], [1, 1, 1]] and "ballots" not in seen["results"]
    seen = await announcement(host, pid, lambda p: p.get("results", {}).get("voters") == 2)
    assert sorted(x["name"] for x in seen["results"]["ballots"]) == ["Alice", "Bob"]

    # A late joiner reads the poll with its results; closing ends the voting.
    late = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Late")
    late_peer = await peers.join(late["room"], late["identity"], jwt=late["token"])
    status, listed = await api(server, late["token"], "GET", "/api/polls")
    assert status == 200 and listed["polls"][0]["results"]["voters"] == 2 and "my_answers" not in listed["polls"][0]
    assert (await api(server, hjwt, "POST", f"/api/polls/{pid}/close"))[1]["state"] == "closed"
    await announcement(late_peer, pid, lambda p: p["state"] == "closed")
    status, body = await api(server, late["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[0], [0]]})
    assert (status, body["code"]) == (409, "closed"), body
    status, listed = await api(server, a["token"], "GET", "/api/polls")
    assert listed["polls"][0]["my_answers"] == [[1], [0, 2]]
    assert (await api(server, hjwt, "DELETE", f"/api/polls/{pid}"))[1]["code"] == "closed", "a launched poll is the meeting's record"


async def test_hidden_results_and_anonymous_ballots(server, sdk, peers):
    info, host, [(alice, a)] = await started_meeting(server, sdk, peers, "Alice")
    hjwt = host_token(info.meeting_id)
    _, poll = await api(server, hjwt, "POST", "/api/polls", {**LUNCH, "anonymous": True, "show_results": False})
    pid = poll["id"]
    await api(server, hjwt, "POST", f"/api/polls/{pid}/launch")
    _, mine = await api(server, a["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[2], [1]]})
    assert "results" not in mine, "participants do not see hidden results"
    seen = await announcement(host, pid, lambda p: p.get("results", {}).get("voters") == 1)
    assert seen["results"]["counts"][0] == [0, 0, 1] and "ballots" not in seen["results"], "anonymous: counts only"
    await api(server, hjwt, "POST", f"/api/polls/{pid}/close")
    seen = await announcement(alice, pid, lambda p: p["state"] == "closed")
    assert "results" not in seen
    assert all("results" not in p for p in announced(alice.events, pid))
    # Only one poll runs at a time.
    _, first = await api(server, hjwt, "POST", "/api/polls", LUNCH)
    _, second = await api(server, hjwt, "POST", "/api/polls", LUNCH)
    assert (await api(server, hjwt, "POST", f"/api/polls/{first['id']}/launch"))[0] == 200
    status, body = await api(server, hjwt, "POST", f"/api/polls/{second['id']}/launch")
    assert (status, body["code"]) == (409, "another_live"), body


async def test_only_people_in_the_meeting_take_part_and_nobody_forges_an_announcement(server, sdk, peers, members):
    info, host, [(alice, a), (bob, b)] = await started_meeting(server, sdk, peers, "Alice", "Bob")
    hjwt = host_token(info.meeting_id)
    _, poll = await api(server, hjwt, "POST", "/api/polls", LUNCH)
    pid = poll["id"]
    # Someone with a valid token who never joined, a forged token, and no token.
    outsider = token(info.meeting_id, "outsider", name="Outsider")
    assert (await api(server, outsider, "GET", "/api/polls"))[0] == 403
    assert (await api(server, token(info.meeting_id, OPERATOR, secret="wrong-secret", metadata=json.dumps({"role": "host"})), "GET", "/api/polls"))[0] == 401
    assert (await api(server, None, "GET", "/api/polls"))[0] == 401
    # A host token for a room that is not a meeting: polls belong to meetings.
    room_only = "plain-room"
    await peers.join(room_only, "plain-host", name="P")
    status, body = await api(server, token(room_only, "plain-host", room_admin=True), "POST", "/api/polls", LUNCH)
    assert (status, body.get("code")) == (404, "not_a_meeting"), body

    # A co-host made during the meeting runs polls at once.
    assert (await api(server, b["token"], "POST", f"/api/polls/{pid}/launch"))[0] == 403
    await asyncio.to_thread(cohost, sdk, info.meeting_id, b["identity"], True)
    await bob.events.wait("participant_attributes_changed", lambda changed, p: p.identity == b["identity"] and p.attributes.get("huiyi.role") == "cohost")
    status, launched = await api(server, b["token"], "POST", f"/api/polls/{pid}/launch")
    assert status == 200, launched

    # A participant's own packet on the poll topic reaches nobody.
    await alice.local.publish_data(json.dumps({"type": "poll", "poll": {"id": pid, "state": "closed", "title": "fake"}}).encode(), topic=POLL)
    await alice.local.publish_data(b"marker", topic="app")
    await bob.events.wait("data_received", lambda p: p.topic == "app")
    assert not announced(bob.events, pid, lambda p: p["title"] == "fake")

    # Removed from the meeting, Alice can no longer vote, though her token is still valid.
    await asyncio.to_thread(kickout, sdk, info.meeting_id, OPERATOR, a["identity"], allow_rejoin=False)
    await alice.events.wait("disconnected")
    status, body = await api(server, a["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[0], [0]]})
    assert status == 403, body
    assert (await api(server, b["token"], "POST", f"/api/polls/{pid}/votes", {"answers": [[0], [0]]}))[0] == 200
