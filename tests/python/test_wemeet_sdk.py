"""Tencent's official Python SDK (`wemeet-openapi-sdk-python`) against Huiyi's `/v1`.

An integrator who already uses the SDK with Tencent Meeting points it at a Huiyi base URL and
changes nothing else: the client is built from its documented configuration (AppId, SdkId,
SecretId, SecretKey, and an `xhttp.Client` for the host), every request is signed by the SDK's
own `JWTAuthenticator`, and answers are read through the SDK's model classes. Each test calls
one SDK method as its README does and checks the values that come back, and the JSON types the
SDK's models declare: the Python SDK does not check them, but Tencent's Go SDK, generated from
the same specification, fails to decode a number where a string is declared, and the reverse.

The SDK keeps the nonce, timestamp and signature of a `JWTAuthenticator` after its first use,
so each request gets a new one (`auth()`), as the SDK's demo does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlparse

import pytest
import requests
import wemeet_openapi as wm
from wemeet_openapi.core import xhttp
from wemeet_openapi.core.constants import DEFAULT_SERIALIZER

# The dev enterprise of `huiyi serve --dev` (docs/tencent-api.md).
APP_ID, SDK_ID, SECRET_ID, SECRET_KEY = "dev-app", "dev-sdk", "devkey", "secret"
OPERATOR = "dev-user"
# operator_id_type 1: operator_id is a userid.
BY_USERID = "1"
# The SDK's demo uses instanceid 1 (PC).
INSTANCE = 1
DEADLINE_S = 15.0

# Every meeting setting the SDK (1.0.10) declares in V1MeetingsPostRequestSettings, with its declared
# type; most values differ from Tencent's defaults, so a server that drops a key is seen.
DOCUMENTED_SETTINGS = {
    "mute_enable_join": True,
    "mute_enable_type_join": 1,
    "allow_unmute_self": False,
    "allow_in_before_host": True,
    "auto_in_waiting_room": False,
    "allow_screen_shared_watermark": True,
    "water_mark_type": 1,
    "only_enterprise_user_allowed": False,
    "only_user_join_type": 1,
    "auto_record_type": "cloud",
    "participant_join_auto_record": True,
    "enable_host_pause_auto_record": False,
    "allow_multi_device": True,
    "change_nickname": 2,
    "play_ivr_on_join": True,
    "play_ivr_on_leave": True,
    "auto_asr": True,
    "open_asr_view": 1,
}
# The ones Huiyi accepted before issue 7, used where a test is about something else.
KNOWN_SETTINGS = {
    "mute_enable_join": True,
    "allow_unmute_self": True,
    "allow_in_before_host": True,
    "auto_in_waiting_room": False,
    "only_user_join_type": 1,
    "allow_multi_device": False,
    "auto_record_type": "none",
    "change_nickname": 1,
}

# For the live-control tests: nobody is muted on entry, so every mute seen is the control's.
LIVE_SETTINGS = dict(KNOWN_SETTINGS, mute_enable_join=False)


def auth() -> list:
    """The authenticator options for one request, exactly as the SDK's README builds them."""
    return [
        wm.JWTAuthenticator(
            nonce=random.randrange(1, 2**64), timestamp=str(int(time.time()))
        ).options_build()
    ]


def make_client(server, *, secret_key: str = SECRET_KEY) -> wm.Client:
    url = urlparse(server.http_url)
    session = requests.Session()
    # Loopback only: a proxy from the runner's environment must not carry these requests.
    session.trust_env = False
    http = xhttp.Client(
        host=url.netloc, protocol=url.scheme, session=session, serializer=DEFAULT_SERIALIZER
    )
    return wm.Client(
        app_id=APP_ID, sdk_id=SDK_ID, secret_id=SECRET_ID, secret_key=secret_key, clt=http
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def service_error(excinfo: pytest.ExceptionInfo) -> wm.ServiceException:
    err = excinfo.value
    assert isinstance(err, wm.ServiceException), f"not a service error: {err}"
    return err


def error_code_in_body(err: wm.ServiceException) -> int:
    """The error code read from the raw body, for checks that are not about the SDK's parser."""
    return json.loads(err.api_resp.raw_body)["error_info"]["error_code"]


@pytest.fixture(scope="module")
def sdk(server) -> wm.Client:
    return make_client(server)


@pytest.fixture(scope="module")
def members(sdk) -> list[str]:
    """Two users of the dev enterprise, created with the SDK, to be invited and hosts."""
    suffix = uuid.uuid4().hex[:6]
    made = []
    for i, name in enumerate(["Alice", "Bob"]):
        userid = f"sdk-{name.lower()}-{suffix}"
        resp = sdk.user_manager_api.v1_users_post(
            request=wm.ApiV1UsersPostRequest(
                body=wm.V1UsersPostRequest(
                    operator_id=OPERATOR,
                    operator_id_type=1,
                    userid=userid,
                    username=f"{name} SDK",
                    phone=f"1380000{i:04d}",
                    email=f"{userid}@example.com",
                )
            ),
            authenticator_options=auth(),
        )
        assert resp.data.userid == userid
        made.append(userid)
    return made


def create(sdk, *, settings: dict | None = None, invitees: list[str] = (), hosts: list[str] = (),
           subject: str = "SDK 会议 review", start_in: int = 3600, length: int = 3600,
           **extra) -> tuple[wm.V1MeetingsPost200ResponseMeetingInfoListInner, dict]:
    start = int(time.time()) + start_in
    body = dict(
        userid=OPERATOR,
        instanceid=INSTANCE,
        subject=subject,
        type=0,
        start_time=str(start),
        end_time=str(start + length),
        settings=wm.V1MeetingsPostRequestSettings(**(settings if settings is not None else KNOWN_SETTINGS)),
        invitees=[wm.V1MeetingsPostRequestInviteesInner(userid=u) for u in invitees],
        hosts=[wm.V1MeetingsPostRequestHostsInner(userid=u) for u in hosts],
        **extra,
    )
    resp = sdk.meetings_api.v1_meetings_post(
        request=wm.ApiV1MeetingsPostRequest(body=wm.V1MeetingsPostRequest(**body)),
        authenticator_options=auth(),
    )
    assert resp.data.meeting_number == 1
    (info,) = resp.data.meeting_info_list
    return info, body


@pytest.fixture
def meeting(sdk, members):
    """A scheduled meeting (in an hour) made with the settings Huiyi knew before issue 7."""
    info, body = create(
        sdk, invitees=members, hosts=[OPERATOR], password="2468", location="Room 301",
        time_zone="Asia/Shanghai",
    )
    return info, body


def by_code(sdk, code: str):
    """GET /v1/meetings?meeting_code=…&userid=…: the form that worked before issue 7."""
    resp = sdk.meetings_api.v1_meetings_get(
        request=wm.ApiV1MeetingsGetRequest(userid=OPERATOR, instanceid=str(INSTANCE), meeting_code=code),
        authenticator_options=auth(),
    )
    (info,) = resp.data.meeting_info_list
    return info


def upcoming_ids(sdk) -> set[str]:
    resp = sdk.meetings_api.v1_meetings_get(
        request=wm.ApiV1MeetingsGetRequest(userid=OPERATOR, instanceid=str(INSTANCE)),
        authenticator_options=auth(),
    )
    return {m.meeting_id for m in resp.data.meeting_info_list or []}


def end_meeting(sdk, meeting_id: str) -> None:
    """Set-up, not under test: dismiss with both `userid` and `operator_id` in the body (a dict,
    since the SDK's model has no `userid`), which Huiyi accepts before and after issue 7."""
    sdk.meeting_control_api.v1_meetings_meeting_id_dismiss_post(
        request=wm.ApiV1MeetingsMeetingIdDismissPostRequest(
            meeting_id=meeting_id,
            body={"userid": OPERATOR, "operator_id": OPERATOR, "operator_id_type": 1,
                  "instanceid": INSTANCE, "reason_code": 1},
        ),
        authenticator_options=auth(),
    )


def join_meeting(server, code: str, display_name: str, client_id: str | None = None) -> dict:
    """What the web app does from a join link: Huiyi's unsigned join, for a LiveKit token."""
    req = urllib.request.Request(
        f"{server.http_url}/v1/meetings/join",
        data=json.dumps({"meeting_code": code, "display_name": display_name,
                         "client_id": client_id or uuid.uuid4().hex}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        return json.loads(resp.read())


async def wait_for(what: str, probe):
    """Polls `probe` (a blocking SDK call, run off the event loop) until it returns a true value."""
    deadline = time.monotonic() + DEADLINE_S
    last = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        await asyncio.sleep(0.2)
    pytest.fail(f"{what}: not seen within {DEADLINE_S:.0f}s (last: {last!r})")


# --- errors and signing ------------------------------------------------------------------------


def test_an_error_is_parsed_by_the_sdk(sdk):
    with pytest.raises(wm.ServiceException) as excinfo:
        sdk.meetings_api.v1_meetings_get(
            request=wm.ApiV1MeetingsGetRequest(userid=OPERATOR, instanceid="1", meeting_code="000000000"),
            authenticator_options=auth(),
        )
    err = service_error(excinfo)
    assert err.api_resp.status_code == 404
    # The SDK reads `{"error_info": {"error_code", "new_error_code", "message"}}` and nothing
    # else at the top level; without `new_error_code` it gives up and leaves error_info None.
    assert err.error_info is not None, f"the SDK could not parse {err.api_resp.raw_body!r}"
    assert err.error_info.error_code == 10006
    assert isinstance(err.error_info.new_error_code, int) and err.error_info.new_error_code != 0
    assert "not found" in err.error_info.message
    assert "error code: 10006" in str(err)


def test_a_wrong_secret_key_is_an_authentication_error_the_sdk_reads(server):
    forger = make_client(server, secret_key="not-the-secret")
    with pytest.raises(wm.ServiceException) as excinfo:
        forger.user_manager_api.v1_users_userid_get(
            request=wm.ApiV1UsersUseridGetRequest(userid=OPERATOR, operator_id=OPERATOR, operator_id_type=BY_USERID),
            authenticator_options=auth(),
        )
    err = service_error(excinfo)
    assert err.api_resp.status_code == 401
    assert error_code_in_body(err) == 10002
    assert err.error_info is not None, f"the SDK could not parse {err.api_resp.raw_body!r}"
    assert err.error_info.error_code == 10002


def test_an_endpoint_huiyi_does_not_serve_is_an_error_the_sdk_reads(sdk):
    # The SDK has ~150 methods; one Huiyi does not serve must be a JSON error with a code,
    # not the web app's index.html with 200 (GET) or an empty 405 (POST).
    with pytest.raises((wm.ServiceException, wm.ClientException)) as excinfo:
        sdk.user_manager_api.v1_users_account_statistics_get(
            request=wm.ApiV1UsersAccountStatisticsGetRequest(operator_id=OPERATOR, operator_id_type=BY_USERID),
            authenticator_options=auth(),
        )
    err = service_error(excinfo)
    assert err.api_resp.status_code == 404
    assert err.error_info is not None, f"the SDK could not parse {err.api_resp.raw_body[:200]!r}"
    assert err.error_info.error_code == 10006

    with pytest.raises((wm.ServiceException, wm.ClientException)) as excinfo:
        sdk.meetings_api.v1_asr_push_status_post(
            request=wm.ApiV1AsrPushStatusPostRequest(
                body=wm.V1AsrPushStatusPostRequest(
                    is_open=True, meeting_id="no-such-meeting", operator_id=OPERATOR, operator_id_type=1
                )
            ),
            authenticator_options=auth(),
        )
    err = service_error(excinfo)
    assert err.api_resp.status_code == 404
    assert err.error_info is not None, f"the SDK could not parse {err.api_resp.raw_body[:200]!r}"


def test_a_reused_authenticator_is_a_replay(sdk):
    # The SDK signs exactly what Huiyi checks: the first request passes; the same authenticator
    # sends the same nonce and signature again, which is refused as a replay.
    options = auth()
    request = wm.ApiV1UsersUseridGetRequest(userid=OPERATOR, operator_id=OPERATOR, operator_id_type=BY_USERID)
    first = sdk.user_manager_api.v1_users_userid_get(request=request, authenticator_options=options)
    assert first.data.userid == OPERATOR
    with pytest.raises(wm.ServiceException) as excinfo:
        sdk.user_manager_api.v1_users_userid_get(request=request, authenticator_options=options)
    err = service_error(excinfo)
    assert err.api_resp.status_code == 401
    assert error_code_in_body(err) == 10004


# --- meetings ----------------------------------------------------------------------------------


def test_create_with_every_documented_setting(sdk, members):
    info, body = create(sdk, settings=DOCUMENTED_SETTINGS, invitees=members[:1])
    assert info.meeting_id and len(info.meeting_code) == 9
    got = info.settings
    assert got is not None
    for key, value in DOCUMENTED_SETTINGS.items():
        assert getattr(got, key, None) == value, f"settings.{key}"
        assert type(getattr(got, key)) is type(value), f"settings.{key} type"
    # Read back through the query by code, which returns the stored settings.
    stored = by_code(sdk, info.meeting_code).settings
    for key, value in DOCUMENTED_SETTINGS.items():
        if hasattr(wm.V1MeetingsGet200ResponseMeetingInfoListInnerSettings, key):
            assert getattr(stored, key, None) == value, f"stored settings.{key}"


def test_create_answer_has_tencent_fields(meeting, members):
    info, body = meeting
    assert info.subject == "SDK 会议 review"  # UTF-8 in the signed body
    assert info.meeting_code.isdigit() and len(info.meeting_code) == 9
    assert info.join_url.endswith(f"/j/{info.meeting_code}")
    assert (info.start_time, info.end_time) == (body["start_time"], body["end_time"])
    assert isinstance(info.start_time, str)
    assert info.password == "2468"
    assert [h.userid for h in info.hosts] == [OPERATOR]
    assert info.settings.mute_enable_join is True and info.settings.change_nickname == 1
    # Tencent names the invitees `participants` in a meeting's answer.
    assert info.participants is not None, "invitees are not returned as `participants`"
    assert sorted(p.userid for p in info.participants) == sorted(members)


def test_get_meeting_with_operator_id(sdk, meeting, members):
    info, body = meeting
    resp = sdk.meetings_api.v1_meetings_meeting_id_get(
        request=wm.ApiV1MeetingsMeetingIdGetRequest(
            meeting_id=info.meeting_id, operator_id=OPERATOR, operator_id_type=BY_USERID, instanceid=str(INSTANCE)
        ),
        authenticator_options=auth(),
    )
    assert resp.data.meeting_number == 1
    (got,) = resp.data.meeting_info_list
    assert (got.meeting_id, got.meeting_code, got.subject) == (info.meeting_id, info.meeting_code, info.subject)
    assert got.status == "MEETING_STATE_INIT"
    assert got.type == 0 and got.meeting_type == 0
    assert (got.start_time, got.end_time) == (body["start_time"], body["end_time"])
    assert got.need_password is True and got.location == "Room 301" and got.time_zone == "Asia/Shanghai"
    assert [h.userid for h in got.hosts] == [OPERATOR]
    assert got.participants is not None, "invitees are not returned as `participants`"
    assert sorted(p.userid for p in got.participants) == sorted(members)
    assert got.settings.allow_in_before_host is True and got.settings.only_user_join_type == 1


def test_query_by_code_and_list_upcoming(sdk, meeting):
    info, _ = meeting
    got = by_code(sdk, info.meeting_code)
    assert got.meeting_id == info.meeting_id
    assert got.status == "MEETING_STATE_INIT"
    assert isinstance(got.type, int) and isinstance(got.start_time, str)
    assert info.meeting_id in upcoming_ids(sdk)


def test_update_meeting(sdk, meeting):
    info, body = meeting
    new_start = int(body["start_time"]) + 1800
    resp = sdk.meetings_api.v1_meetings_meeting_id_put(
        request=wm.ApiV1MeetingsMeetingIdPutRequest(
            meeting_id=info.meeting_id,
            body=wm.V1MeetingsMeetingIdPutRequest(
                userid=OPERATOR, instanceid=INSTANCE, subject="Renamed by the SDK",
                start_time=str(new_start), end_time=str(new_start + 3600),
                location="Room 302", password="",
                settings=wm.V1MeetingsMeetingIdPutRequestSettings(mute_enable_join=False, change_nickname=2),
            ),
        ),
        authenticator_options=auth(),
    )
    (ref,) = resp.data.meeting_info_list
    assert (ref.meeting_id, ref.meeting_code) == (info.meeting_id, info.meeting_code)
    got = by_code(sdk, info.meeting_code)
    assert got.subject == "Renamed by the SDK" and got.location == "Room 302"
    assert got.start_time == str(new_start)
    assert got.need_password is False
    # Settings merge: the ones given change, the others stay.
    assert got.settings.mute_enable_join is False
    assert got.settings.allow_unmute_self is True


def test_update_with_documented_settings(sdk, meeting):
    info, _ = meeting
    sdk.meetings_api.v1_meetings_meeting_id_put(
        request=wm.ApiV1MeetingsMeetingIdPutRequest(
            meeting_id=info.meeting_id,
            body=wm.V1MeetingsMeetingIdPutRequest(
                userid=OPERATOR, instanceid=INSTANCE,
                settings=wm.V1MeetingsMeetingIdPutRequestSettings(
                    allow_screen_shared_watermark=True, water_mark_type=1, only_enterprise_user_allowed=True,
                    play_ivr_on_join=True, play_ivr_on_leave=False, auto_asr=True,
                    participant_join_auto_record=True, enable_host_pause_auto_record=False,
                ),
            ),
        ),
        authenticator_options=auth(),
    )
    got = by_code(sdk, info.meeting_code).settings
    assert got.allow_screen_shared_watermark is True
    assert got.water_mark_type == 1
    assert got.participant_join_auto_record is True
    assert got.enable_host_pause_auto_record is False


def test_invitees_list_and_update(sdk, meeting, members):
    info, _ = meeting
    resp = sdk.meetings_api.v1_meetings_meeting_id_invitees_get(
        request=wm.ApiV1MeetingsMeetingIdInviteesGetRequest(
            meeting_id=info.meeting_id, userid=OPERATOR, instanceid=str(INSTANCE), pos="0"
        ),
        authenticator_options=auth(),
    )
    assert sorted(i.userid for i in resp.data.invitees) == sorted(members)
    assert resp.data.has_remaining is False
    assert isinstance(resp.data.next_pos, int)

    put = sdk.meetings_api.v1_meetings_meeting_id_invitees_put(
        request=wm.ApiV1MeetingsMeetingIdInviteesPutRequest(
            meeting_id=info.meeting_id,
            body=wm.V1MeetingsMeetingIdInviteesPutRequest(
                userid=OPERATOR, instanceid=INSTANCE,
                invitees=[wm.V1MeetingsMeetingIdInviteesPutRequestInviteesInner(userid=members[1])],
            ),
        ),
        authenticator_options=auth(),
    )
    assert put.status_code == 200
    assert not put.data.user_non_registered

    after = sdk.meetings_api.v1_meetings_meeting_id_invitees_get(
        request=wm.ApiV1MeetingsMeetingIdInviteesGetRequest(
            meeting_id=info.meeting_id, userid=OPERATOR, instanceid=str(INSTANCE)
        ),
        authenticator_options=auth(),
    )
    assert [i.userid for i in after.data.invitees] == [members[1]]


def test_cancel_meeting(sdk, meeting):
    info, _ = meeting
    resp = sdk.meetings_api.v1_meetings_meeting_id_cancel_post(
        request=wm.ApiV1MeetingsMeetingIdCancelPostRequest(
            meeting_id=info.meeting_id,
            body=wm.V1MeetingsMeetingIdCancelPostRequest(
                userid=OPERATOR, instanceid=INSTANCE, reason_code=1, reason_detail="moved"
            ),
        ),
        authenticator_options=auth(),
    )
    assert resp.status_code == 200
    assert info.meeting_id not in upcoming_ids(sdk)
    with pytest.raises(wm.ServiceException) as excinfo:
        sdk.meetings_api.v1_meetings_meeting_id_cancel_post(
            request=wm.ApiV1MeetingsMeetingIdCancelPostRequest(
                meeting_id=info.meeting_id,
                body=wm.V1MeetingsMeetingIdCancelPostRequest(userid=OPERATOR, instanceid=INSTANCE, reason_code=1),
            ),
            authenticator_options=auth(),
        )
    assert service_error(excinfo).api_resp.status_code == 409


def test_history_lists_an_ended_meeting_with_integer_times(sdk, meeting):
    info, body = meeting
    end_meeting(sdk, info.meeting_id)
    resp = sdk.meetings_api.v1_history_meetings_userid_get(
        request=wm.ApiV1HistoryMeetingsUseridGetRequest(userid=OPERATOR, page="1", page_size="20"),
        authenticator_options=auth(),
    )
    assert resp.data.current_page == 1 and resp.data.total_count >= 1
    assert isinstance(resp.data.total_page, int)
    (got,) = [m for m in resp.data.meeting_info_list if m.meeting_id == info.meeting_id]
    assert got.meeting_code == info.meeting_code and got.subject == info.subject
    assert got.meeting_type == 0
    # Tencent's history answer has the times as integers (unix seconds).
    assert got.start_time == int(body["start_time"]), f"start_time is {got.start_time!r}"
    assert got.end_time == int(body["end_time"]), f"end_time is {got.end_time!r}"


# --- people in a meeting ---------------------------------------------------------------------


async def test_participants_and_real_time_participants(server, sdk, peers, members):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, invitees=members[:1])
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Examiner 张")
    await peers.join(joined["room"], joined["identity"], jwt=joined["token"])

    def participants():
        return sdk.meetings_api.v1_meetings_meeting_id_participants_get(
            request=wm.ApiV1MeetingsMeetingIdParticipantsGetRequest(
                meeting_id=info.meeting_id, operator_id=OPERATOR, operator_id_type=BY_USERID, pos="0", size="20"
            ),
            authenticator_options=auth(),
        ).data

    data = await wait_for("the participant in the attendance", lambda: (d := participants()).participants and d)
    assert data.meeting_id == info.meeting_id and data.meeting_code == info.meeting_code
    assert data.subject == b64(info.subject)
    assert data.schedule_start_time == info.start_time
    assert data.total_count == 1 and data.has_remaining is False and data.next_pos == 1
    (p,) = data.participants
    assert p.userid == joined["identity"]
    assert p.user_name == b64("Examiner 张")
    assert p.join_time.isdigit() and abs(int(p.join_time) - time.time()) < 120

    def real_time():
        return sdk.meetings_api.v1_meetings_meeting_id_real_time_participants_get(
            request=wm.ApiV1MeetingsMeetingIdRealTimeParticipantsGetRequest(
                meeting_id=info.meeting_id, operator_id=OPERATOR, operator_id_type=BY_USERID, page="1", page_size="20"
            ),
            authenticator_options=auth(),
        ).data

    live = await asyncio.to_thread(real_time)
    assert live.meeting_id == info.meeting_id
    assert live.status == "MEETING_STATE_STARTED"
    assert live.total_count == 1
    assert [p.userid for p in live.participants] == [joined["identity"]]
    assert live.participants[0].user_name == b64("Examiner 张")
    assert live.participants[0].join_time.isdigit()
    assert live.current_page == 1 and live.total_page == 1


def test_operator_id_is_preferred_over_userid(sdk, meeting):
    # Tencent: when both are given, operator_id wins; a stale userid must not matter.
    info, _ = meeting
    data = sdk.meetings_api.v1_meetings_meeting_id_participants_get(
        request=wm.ApiV1MeetingsMeetingIdParticipantsGetRequest(
            meeting_id=info.meeting_id, userid="no-such-user", operator_id=OPERATOR, operator_id_type=BY_USERID
        ),
        authenticator_options=auth(),
    ).data
    assert data.meeting_id == info.meeting_id
    assert data.total_count == 0 and not data.participants


async def test_dismiss_with_operator_id(server, sdk, peers):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60)
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Leaving soon")
    peer = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])

    resp = await asyncio.to_thread(
        sdk.meeting_control_api.v1_meetings_meeting_id_dismiss_post,
        request=wm.ApiV1MeetingsMeetingIdDismissPostRequest(
            meeting_id=info.meeting_id,
            body=wm.V1MeetingsMeetingIdDismissPostRequest(
                operator_id=OPERATOR, operator_id_type=1, instanceid=INSTANCE, reason_code=1,
                reason_detail="over", force_dismiss_meeting=1, retrieve_code=1,
            ),
        ),
        authenticator_options=auth(),
    )
    assert resp.status_code == 200
    await peer.events.wait("disconnected")
    assert info.meeting_id not in await asyncio.to_thread(upcoming_ids, sdk)


def test_waiting_room_participants(sdk, meeting):
    info, _ = meeting
    data = sdk.meetings_api.v1_meetings_meeting_id_waiting_room_participants_get(
        request=wm.ApiV1MeetingsMeetingIdWaitingRoomParticipantsGetRequest(
            meeting_id=info.meeting_id, userid=OPERATOR, page="1", page_size="10"
        ),
        authenticator_options=auth(),
    ).data
    assert data.meeting_id == info.meeting_id and data.meeting_code == info.meeting_code
    assert data.total_count == 0 and not data.participants
    assert data.current_page == 1 and isinstance(data.total_page, int)


def test_waiting_room_history(sdk, meeting):
    info, _ = meeting
    data = sdk.meetings_api.v1_meeting_meeting_id_waiting_room_get(
        request=wm.ApiV1MeetingMeetingIdWaitingRoomGetRequest(
            meeting_id=info.meeting_id, operator_id=OPERATOR, operator_id_type=BY_USERID, page="1", page_size="20"
        ),
        authenticator_options=auth(),
    ).data
    assert data.meeting_id == info.meeting_id
    assert data.total_count == 0 and not data.participants
    assert data.current_page == 1


# --- recordings --------------------------------------------------------------------------------


def test_records_list_is_empty_and_well_formed(sdk, meeting):
    info, _ = meeting
    now = int(time.time())
    resp = sdk.records_api.v1_records_get(
        request=wm.ApiV1RecordsGetRequest(
            operator_id=OPERATOR, operator_id_type=BY_USERID, start_time=str(now - 7 * 86400),
            end_time=str(now), page="1", page_size="20",
        ),
        authenticator_options=auth(),
    )
    assert resp.status_code == 200
    assert resp.data.total_count == 0 and not resp.data.record_meetings
    assert resp.data.current_page == 1 and isinstance(resp.data.total_page, int)
    by_meeting = sdk.records_api.v1_records_get(
        request=wm.ApiV1RecordsGetRequest(
            operator_id=OPERATOR, operator_id_type=BY_USERID, start_time=str(now - 86400),
            end_time=str(now), meeting_id=info.meeting_id,
        ),
        authenticator_options=auth(),
    )
    assert by_meeting.data.total_count == 0


# --- users -------------------------------------------------------------------------------------


def test_user_info(sdk, members):
    data = sdk.user_manager_api.v1_users_userid_get(
        request=wm.ApiV1UsersUseridGetRequest(userid=members[0], operator_id=OPERATOR, operator_id_type=BY_USERID),
        authenticator_options=auth(),
    ).data
    assert data.userid == members[0]
    assert data.username == "Alice SDK"
    assert data.email == f"{members[0]}@example.com" and data.phone == "13800000000"
    # Tencent's user `status` is a string: "1" active.
    assert data.status == "1", f"status is {data.status!r}"


def test_user_list(sdk, members):
    data = sdk.user_manager_api.v1_users_list_get(
        request=wm.ApiV1UsersListGetRequest(page="1", page_size="20", operator_id=OPERATOR, operator_id_type=BY_USERID),
        authenticator_options=auth(),
    ).data
    assert data.current_page == 1 and data.page_size == 20
    assert data.total_count >= 3 and data.current_size == len(data.users)
    by_id = {u.userid: u for u in data.users}
    assert {OPERATOR, *members} <= set(by_id)
    assert by_id[members[1]].username == "Bob SDK"
    assert all(u.status == "1" for u in data.users), [u.status for u in data.users]


def test_user_update_and_delete(sdk):
    userid = f"sdk-carol-{uuid.uuid4().hex[:6]}"
    sdk.user_manager_api.v1_users_post(
        request=wm.ApiV1UsersPostRequest(
            body=wm.V1UsersPostRequest(operator_id=OPERATOR, operator_id_type=1, userid=userid,
                                       username="Carol", phone="13900000000")
        ),
        authenticator_options=auth(),
    )
    put = sdk.user_manager_api.v1_users_userid_put(
        request=wm.ApiV1UsersUseridPutRequest(
            userid=userid,
            body=wm.V1UsersUseridPutRequest(operator_id=OPERATOR, operator_id_type=1, username="Carol Renamed"),
        ),
        authenticator_options=auth(),
    )
    assert put.status_code == 200
    got = sdk.user_manager_api.v1_users_userid_get(
        request=wm.ApiV1UsersUseridGetRequest(userid=userid, operator_id=OPERATOR, operator_id_type=BY_USERID),
        authenticator_options=auth(),
    ).data
    assert got.username == "Carol Renamed" and got.phone == "13900000000"

    deleted = sdk.user_manager_api.v1_users_userid_delete(
        request=wm.ApiV1UsersUseridDeleteRequest(userid=userid, operator_id=OPERATOR, operator_id_type=BY_USERID),
        authenticator_options=auth(),
    )
    assert deleted.status_code == 200
    with pytest.raises(wm.ServiceException) as excinfo:
        sdk.user_manager_api.v1_users_userid_get(
            request=wm.ApiV1UsersUseridGetRequest(userid=userid, operator_id=OPERATOR, operator_id_type=BY_USERID),
            authenticator_options=auth(),
        )
    err = service_error(excinfo)
    assert err.api_resp.status_code == 404 and error_code_in_body(err) == 10006


def kickout(sdk, meeting_id: str, operator: str, person: str, *, allow_rejoin: bool):
    return sdk.meeting_control_api.v1_real_control_meetings_meeting_id_kickout_put(
        request=wm.ApiV1RealControlMeetingsMeetingIdKickoutPutRequest(
            meeting_id=meeting_id,
            body=wm.V1RealControlMeetingsMeetingIdKickoutPutRequest(
                operator_id=operator, operator_id_type=1, instanceid=INSTANCE, allow_rejoin=allow_rejoin,
                reason="disruptive", users=[{"to_operator_id": person, "to_operator_id_type": 1, "instanceid": 5}],
            ),
        ),
        authenticator_options=auth(),
    )


async def test_kickout_removes_and_keeps_out(server, sdk, peers, members):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    browser = uuid.uuid4().hex
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Heckler", browser)
    peer = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    # A member who does not host the meeting may not remove anyone.
    with pytest.raises(wm.ServiceException) as excinfo:
        await asyncio.to_thread(kickout, sdk, info.meeting_id, members[0], joined["identity"], allow_rejoin=False)
    assert service_error(excinfo).error_info.error_code in (10005, 10006)
    # The host removes the guest, by the id the participant lists show.
    resp = await asyncio.to_thread(kickout, sdk, info.meeting_id, OPERATOR, joined["identity"], allow_rejoin=False)
    assert resp.status_code == 200
    await peer.events.wait("disconnected")
    # The same browser cannot come back, with the old token or a new one.
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(join_meeting, server, info.meeting_code, "Heckler", browser)
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["error_info"]["error_code"] == 10015


async def test_kickout_with_rejoin_allowed_lets_them_back(server, sdk, peers):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    browser = uuid.uuid4().hex
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Visitor", browser)
    peer = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    resp = await asyncio.to_thread(kickout, sdk, info.meeting_id, OPERATOR, joined["identity"], allow_rejoin=True)
    assert resp.status_code == 200
    await peer.events.wait("disconnected")
    again = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Visitor", browser)
    assert again["identity"] == joined["identity"]


def set_status(sdk, meeting_id: str, operator: str = OPERATOR, **controls):
    return sdk.meeting_control_api.v1_real_control_meetings_meeting_id_status_put(
        request=wm.ApiV1RealControlMeetingsMeetingIdStatusPutRequest(
            meeting_id=meeting_id,
            body=wm.V1RealControlMeetingsMeetingIdStatusPutRequest(
                operator_id=operator, operator_id_type=1, instanceid=INSTANCE, **controls
            ),
        ),
        authenticator_options=auth(),
    )


MIC = 2  # TrackSource.MICROPHONE in LiveKit's protocol


async def test_mute_all_without_self_unmute_is_enforced_by_the_server(server, sdk, peers, members):
    from harness import media

    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Talker")
    talker = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    seen = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Listener")
    listener = await peers.join(seen["room"], seen["identity"], jwt=seen["token"])
    tone = await media.publish_tone(talker)
    await listener.events.wait("track_published", lambda pub, p: pub.sid == tone.sid, timeout=15)
    # A member who does not host the meeting may not mute everyone.
    with pytest.raises(wm.ServiceException):
        await asyncio.to_thread(set_status, sdk, info.meeting_id, members[0], mute_all=True)

    resp = await asyncio.to_thread(set_status, sdk, info.meeting_id, mute_all=True, allow_unmute_by_self=False)
    assert resp.status_code == 200
    # The participant's own SDK learns it may no longer publish its microphone, and the
    # server unpublished the one it had.
    _, permission = await talker.events.wait(
        "participant_permissions_changed", lambda p, perm: p.identity == joined["identity"] and MIC not in perm.can_publish_sources
    )
    assert permission.can_publish and list(permission.can_publish_sources)
    await listener.events.wait("track_unpublished", lambda pub, p: pub.sid == tone.sid)
    # Publishing the microphone again is refused by the server.
    with pytest.raises(Exception):
        await media.publish_tone(talker, "again")
    # Someone who joins now is muted too.
    late = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Late")
    latecomer = await peers.join(late["room"], late["identity"], jwt=late["token"])
    assert MIC not in latecomer.local.permissions.can_publish_sources
    # Lifting it gives the microphone back.
    await asyncio.to_thread(set_status, sdk, info.meeting_id, mute_all=False)
    await talker.events.wait(
        "participant_permissions_changed", lambda p, perm: p.identity == joined["identity"] and not perm.can_publish_sources
    )
    again = await media.publish_tone(talker, "again")
    assert again.sid


async def test_a_locked_meeting_admits_nobody_new(server, sdk, peers):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    inside = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Inside")
    await peers.join(inside["room"], inside["identity"], jwt=inside["token"])
    await asyncio.to_thread(set_status, sdk, info.meeting_id, meeting_locked=True)
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(join_meeting, server, info.meeting_code, "Outside")
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["error_info"]["error_code"] == 10016
    # A control Huiyi does not enforce yet is refused, not silently accepted (allow_chat and
    # auto_waiting_room, which this test once used, are enforced now).
    with pytest.raises(wm.ServiceException) as unsupported:
        await asyncio.to_thread(set_status, sdk, info.meeting_id, play_ivr_on_join=True)
    assert service_error(unsupported).error_info.error_code == 10001
    await asyncio.to_thread(set_status, sdk, info.meeting_id, meeting_locked=False)
    assert (await asyncio.to_thread(join_meeting, server, info.meeting_code, "Outside"))["token"]


def person_control(sdk, kind: str, meeting_id: str, person: str, operator: str = OPERATOR, **field):
    """PUT /v1/real-control/meetings/{id}/<kind> through the official SDK's own method."""
    names = {"mutes": "Mutes", "video": "Video", "screen_shared": "ScreenShared"}[kind]
    method = getattr(sdk.meeting_control_api, f"v1_real_control_meetings_meeting_id_{kind}_put")
    request = getattr(wm, f"ApiV1RealControlMeetingsMeetingId{names}PutRequest")
    body = getattr(wm, f"V1RealControlMeetingsMeetingId{names}PutRequest")
    return method(
        request=request(
            meeting_id=meeting_id,
            body=body(operator_id=operator, operator_id_type=1, instanceid=INSTANCE,
                      user={"to_operator_id": person, "to_operator_id_type": 1, "instanceid": 5}, **field),
        ),
        authenticator_options=auth(),
    )


async def test_a_host_mutes_one_person_stops_their_camera_and_asks_them_to_unmute(server, sdk, peers, members):
    from harness import media

    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Speaker")
    speaker = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    seen = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Listener")
    listener = await peers.join(seen["room"], seen["identity"], jwt=seen["token"])
    tone = await media.publish_tone(speaker)
    camera = await media.publish_colours(speaker)
    for pub in (tone, camera):
        await listener.events.wait("track_published", lambda p, _who, sid=pub.sid: p.sid == sid, timeout=15)
    who = joined["identity"]
    assert not speaker.events.all("track_muted"), "nothing is muted before the host acts"

    with pytest.raises(wm.ServiceException):
        await asyncio.to_thread(person_control, sdk, "mutes", info.meeting_id, who, members[0], mute=True)
    await asyncio.to_thread(person_control, sdk, "mutes", info.meeting_id, who, mute=True)
    await speaker.events.wait("track_muted", lambda p, pub: pub.sid == tone.sid)
    await listener.events.wait("track_muted", lambda p, pub: pub.sid == tone.sid)

    await asyncio.to_thread(person_control, sdk, "video", info.meeting_id, who, video=False)
    await listener.events.wait("track_muted", lambda p, pub: pub.sid == camera.sid)
    with pytest.raises(wm.ServiceException) as turn_on:
        await asyncio.to_thread(person_control, sdk, "video", info.meeting_id, who, video=True)
    assert service_error(turn_on).error_info.error_code == 10001

    # Unmuting is the participant's choice: they are asked, on the huiyi.control topic.
    await asyncio.to_thread(person_control, sdk, "mutes", info.meeting_id, who, mute=False)
    (packet,) = await speaker.events.wait("data_received", lambda p: p.topic == "huiyi.control")
    assert json.loads(packet.data) == {"action": "ask-unmute"}
    assert not listener.events.all("data_received"), "the ask goes to that person only"

    # Someone who is not in the meeting cannot be muted.
    with pytest.raises(wm.ServiceException) as absent:
        await asyncio.to_thread(person_control, sdk, "screen_shared", info.meeting_id, "guest-000000000000")
    assert service_error(absent).error_info.error_code == 10006


def cohost(sdk, meeting_id: str, person: str, action: bool):
    return sdk.meeting_control_api.v1_real_control_meetings_meeting_id_cohosts_put(
        request=wm.ApiV1RealControlMeetingsMeetingIdCohostsPutRequest(
            meeting_id=meeting_id,
            body=wm.V1RealControlMeetingsMeetingIdCohostsPutRequest(
                operator_id=OPERATOR, operator_id_type=1, instanceid=INSTANCE, action=action,
                user={"to_operator_id": person, "to_operator_id_type": 1, "instanceid": 5},
            ),
        ),
        authenticator_options=auth(),
    )


async def test_co_hosts_run_the_controls_and_are_exempt_from_them(server, sdk, peers, members):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Helper")
    helper = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    who = joined["identity"]
    # A member who is no host may not run the controls, until made a co-host.
    with pytest.raises(wm.ServiceException):
        await asyncio.to_thread(set_status, sdk, info.meeting_id, members[0], mute_all=True)
    await asyncio.to_thread(cohost, sdk, info.meeting_id, members[0], True)
    resp = await asyncio.to_thread(set_status, sdk, info.meeting_id, members[0], mute_all=True, allow_unmute_by_self=False)
    assert resp.status_code == 200
    await helper.events.wait("participant_permissions_changed", lambda p, perm: p.identity == who and MIC not in perm.can_publish_sources)
    # The guest made co-host is marked for everyone, and gets the microphone back.
    await asyncio.to_thread(cohost, sdk, info.meeting_id, who, True)
    await helper.events.wait("participant_attributes_changed", lambda changed, p: p.identity == who and changed.get("huiyi.role") == "cohost")
    await helper.events.wait("participant_permissions_changed", lambda p, perm: p.identity == who and not perm.can_publish_sources)
    # Revoked: the mark goes, and the mute applies again.
    await asyncio.to_thread(cohost, sdk, info.meeting_id, who, False)
    await helper.events.wait("participant_permissions_changed", lambda p, perm: p.identity == who and MIC not in perm.can_publish_sources and perm.can_publish_sources)
    await helper.events.wait(
        "participant_attributes_changed",
        lambda changed, p: p.identity == who and changed.get("huiyi.role", "") == "" and not p.attributes.get("huiyi.role"),
    )


async def test_a_host_renames_a_participant_for_everyone(server, sdk, peers):
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=LIVE_SETTINGS)
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Anon")
    guest = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    seen = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Observer")
    observer = await peers.join(seen["room"], seen["identity"], jwt=seen["token"])

    def rename(person: str, name: str):
        return sdk.meeting_control_api.v1_real_control_meetings_meeting_id_names_put(
            request=wm.ApiV1RealControlMeetingsMeetingIdNamesPutRequest(
                meeting_id=info.meeting_id,
                body=wm.V1RealControlMeetingsMeetingIdNamesPutRequest(
                    operator_id=OPERATOR, operator_id_type=1, instanceid=INSTANCE,
                    users=[{"ms_open_id": person, "nick_name": name, "instanceid": 5}],
                ),
            ),
            authenticator_options=auth(),
        )

    await asyncio.to_thread(rename, joined["identity"], "张三 (Examiner)")
    _, old, new = await observer.events.wait("participant_name_changed", lambda p, old, new: p.identity == joined["identity"])
    assert (old, new) == ("Anon", "张三 (Examiner)")
    await guest.events.wait("participant_name_changed", lambda p, old, new: new == "张三 (Examiner)")
    with pytest.raises(wm.ServiceException) as absent:
        await asyncio.to_thread(rename, "guest-000000000000", "Nobody")
    assert service_error(absent).error_info.error_code == 10006


async def test_mute_on_entry_is_enforced_by_the_server(server, sdk, peers):
    from harness import media

    settings = dict(KNOWN_SETTINGS, mute_enable_join=True)
    settings.pop("mute_enable_type_join", None)
    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, settings=settings)
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Newcomer")
    newcomer = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    # The SDK publishes its microphone unmuted, as a client that ignores mute_on_join would;
    # the server mutes it and tells the client.
    tone = await media.publish_tone(newcomer)
    await newcomer.events.wait("track_muted", lambda p, pub: pub.sid == tone.sid)


# --- cloud recording ---------------------------------------------------------------------------


def sdk_call(sdk, method: str, uri: str, body: dict | None = None) -> dict:
    """A signed request through the SDK's own client and authenticator, for Huiyi's recording
    control and webhook subscriptions (extensions: the SDK has no method for them, so this is
    what an integrator would write)."""
    from wemeet_openapi.core.constants import DEFAULT_AUTHENTICATOR
    from wemeet_openapi.core.xhttp import ApiRequest

    config = sdk._Client__config
    authenticators = [option(config) for option in auth()] + [DEFAULT_AUTHENTICATOR]
    request = ApiRequest(api_uri=uri, authenticators=authenticators, header=None, body=body, serializer=None)
    resp = getattr(config.clt, method)(request)
    return {"status": resp.status_code, "body": json.loads(resp.raw_body or b"{}")}


def sdk_put(sdk, uri: str, body: dict) -> dict:
    return sdk_call(sdk, "put", uri, body)


def record(sdk, meeting_id: str, action: str) -> dict:
    return sdk_put(sdk, f"/v1/real-control/meetings/{meeting_id}/record",
                   {"operator_id": OPERATOR, "operator_id_type": 1, "instanceid": INSTANCE, "action": action})


async def test_a_cloud_recording_started_and_listed_through_the_sdk(server, sdk, peers):
    from harness import webhook_sink

    # An integrator's receiver for the recording's webhooks, subscribed through the signed API.
    hooks = webhook_sink.start_tencent("recording-hook-token")
    recording_events = ["recording.started", "recording.paused", "recording.resumed", "recording.stopped",
                        "recording.completed", "recording.deleted"]
    subscribed = await asyncio.to_thread(sdk_call, sdk, "post", "/v1/webhooks",
                                         {"url": hooks.url, "token": hooks.token, "events": recording_events})
    assert subscribed["status"] == 200, subscribed
    try:
        await recorded_through_the_sdk(server, sdk, peers, hooks)
    finally:
        await asyncio.to_thread(sdk_call, sdk, "delete", f"/v1/webhooks/{subscribed['body']['webhook_id']}")
        hooks.close()


async def recorded_through_the_sdk(server, sdk, peers, hooks):
    import subprocess

    from harness import media

    info, _ = await asyncio.to_thread(create, sdk, start_in=-60, subject="SDK 录制")
    joined = await asyncio.to_thread(join_meeting, server, info.meeting_code, "Presenter 王")
    presenter = await peers.join(joined["room"], joined["identity"], jwt=joined["token"])
    await media.publish_colours(presenter)
    await media.publish_tone(presenter)
    # Nothing to pause or stop yet; an unknown action is refused.
    nothing = await asyncio.to_thread(record, sdk, info.meeting_id, "pause")
    assert nothing["status"] == 409 and "not being recorded" in nothing["body"]["error_info"]["message"], nothing
    assert (await asyncio.to_thread(record, sdk, info.meeting_id, "explode"))["status"] == 400

    started = await asyncio.to_thread(record, sdk, info.meeting_id, "start")
    assert started["status"] == 200, started
    record_id = started["body"]["meeting_record_id"]
    assert (await asyncio.to_thread(record, sdk, info.meeting_id, "start"))["status"] == 409, "one recording at a time"
    # Everyone in the meeting sees that it is recorded (LiveKit's Room.active_recording).
    await wait_for("the recording indicator", lambda: presenter.room.is_recording)
    await asyncio.sleep(3)
    assert (await asyncio.to_thread(record, sdk, info.meeting_id, "pause"))["status"] == 200
    await asyncio.sleep(3)
    assert (await asyncio.to_thread(record, sdk, info.meeting_id, "resume"))["status"] == 200
    await asyncio.sleep(3)
    stopped = await asyncio.to_thread(record, sdk, info.meeting_id, "stop")
    assert stopped["status"] == 200 and stopped["body"]["meeting_record_id"] == record_id
    await wait_for("the indicator cleared", lambda: not presenter.room.is_recording)

    now = int(time.time())

    def listed():
        return sdk.records_api.v1_records_get(
            request=wm.ApiV1RecordsGetRequest(operator_id=OPERATOR, operator_id_type=BY_USERID,
                                              start_time=str(now - 3600), end_time=str(now + 60),
                                              meeting_id=info.meeting_id),
            authenticator_options=auth(),
        ).data

    data = await wait_for("the recording in /v1/records", lambda: (d := listed()).record_meetings and d)
    assert data.total_count == 1 and data.current_page == 1 and data.total_page == 1
    (rec,) = data.record_meetings
    assert rec.meeting_record_id == record_id and rec.meeting_id == info.meeting_id
    assert rec.meeting_code == info.meeting_code and rec.subject == "SDK 录制"
    (f,) = rec.record_files
    assert f.record_file_id == record_id and f.record_size > 0
    assert 2500 <= f.record_end_time - f.record_start_time

    addr = sdk.records_api.v1_addresses_record_file_id_get(
        request=wm.ApiV1AddressesRecordFileIdGetRequest(record_file_id=record_id, operator_id=OPERATOR, operator_id_type=BY_USERID),
        authenticator_options=auth(),
    ).data
    assert addr.meeting_id == info.meeting_id and addr.download_address_file_type == "MP4"
    link = addr.download_address
    assert "sig=" in link and "exp=" in link
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(link, timeout=30) as resp:
        body = resp.read()
        assert resp.headers.get("Content-Disposition", "").startswith("attachment"), "the download link saves the file"
    with opener.open(urllib.request.Request(addr.view_address, method="HEAD"), timeout=30) as resp:
        assert resp.headers.get("Content-Disposition", "").startswith("inline"), "the view link plays it"
    assert len(body) == f.record_size
    path = f"/tmp/huiyi-rec-{uuid.uuid4().hex}.mp4"
    try:
        with open(path, "wb") as out:
            out.write(body)
        probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path],
                                          capture_output=True, text=True, timeout=60, check=True).stdout)
        assert sorted(s["codec_name"] for s in probe["streams"]) == ["aac", "h264"]
        # 3 s recorded, 3 s paused, 3 s recorded: about 6 s of media (less the start and the
        # keyframe after the resume on a busy machine), never the 9 s a kept pause would give.
        assert 2.5 <= float(probe["format"]["duration"]) <= 7.0, probe["format"]["duration"]
    finally:
        os.remove(path) if os.path.exists(path) else None
    # A tampered or unsigned link is refused; so is a range of a valid one served partially.
    for bad in (link.replace("sig=", "sig=0"), link.split("?")[0]):
        with pytest.raises(urllib.error.HTTPError) as e:
            opener.open(bad, timeout=10)
        assert e.value.code == 403
    ranged = urllib.request.Request(link, headers={"Range": "bytes=0-99"})
    with opener.open(ranged, timeout=10) as resp:
        assert resp.status == 206 and len(resp.read()) == 100

    # Deleted through the SDK: gone from the list, the link answers 404.
    sdk.records_api.v1_records_record_file_id_delete(
        request=wm.ApiV1RecordsRecordFileIdDeleteRequest(record_file_id=record_id, operator_id=OPERATOR, operator_id_type=BY_USERID),
        authenticator_options=auth(),
    )
    assert listed().total_count == 0
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(link, timeout=10)
    assert e.value.code == 404

    # The receiver heard the whole life of the recording, signed, in Tencent's envelope.
    lifecycle = ["recording.started", "recording.paused", "recording.resumed", "recording.stopped",
                 "recording.completed", "recording.deleted"]

    def of_this_recording(events):
        return [e for e in events
                if e["payload"][0]["meeting_info"]["meeting_id"] == info.meeting_id
                and e["payload"][0].get("recording_files", [{}])[0].get("record_file_id") == record_id]

    got = of_this_recording(hooks.wait_for(lambda evs: set(lifecycle) <= {e["event"] for e in of_this_recording(evs)}))
    assert sorted(e["event"] for e in got) == sorted(lifecycle), [e["event"] for e in got]
    assert hooks.bad_signatures == 0
    # Deliveries run concurrently; a receiver orders them by operate_time.
    in_order = [e["event"] for e in sorted(got, key=lambda e: e["payload"][0]["operate_time"])]
    assert in_order[:4] == lifecycle[:4], in_order
    for e in got:
        (item,) = e["payload"]
        assert item["meeting_info"]["meeting_code"] == info.meeting_code and item["meeting_info"]["subject"] == "SDK 录制"
        assert item["operator"]["userid"] == OPERATOR, item["operator"]
        assert e["trace_id"]
