"""Fixtures shared by the Python integration tests.

One `huiyi serve --dev` process serves the whole session; each test makes its own rooms, so
tests stay independent without paying for a server start each. When a test fails, the part of
the server log written during that test is attached to the report.
"""

from __future__ import annotations

import pytest
from livekit import api

from harness import server as huiyi
from harness import webhook_sink
from harness.peers import Peers

_SERVER_KEY = pytest.StashKey[huiyi.Server]()
_LOG_OFFSET_KEY = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def livekit_webhooks():
    """Where the session's server sends its LiveKit-style webhooks."""
    sink = webhook_sink.start()
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def server(request, tmp_path_factory, livekit_webhooks) -> huiyi.Server:
    srv = huiyi.start(tmp_path_factory.mktemp("huiyi"), extra_args=("--livekit-webhook-url", livekit_webhooks.url))
    request.config.stash[_SERVER_KEY] = srv
    yield srv
    huiyi.stop(srv)


@pytest.fixture(autouse=True)
def _server_log_slice(request, server: huiyi.Server):
    """Remember where the log stood when the test began, and fail fast on a dead server."""
    request.node.stash[_LOG_OFFSET_KEY] = server.log_size()
    code = server.exit_code()
    if code is not None:
        pytest.fail(f"huiyi exited with code {code} before this test; log:\n{server.log_since(0)}")
    yield
    code = server.exit_code()
    if code is not None:
        pytest.fail(f"huiyi exited with code {code} during this test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    srv = item.config.stash.get(_SERVER_KEY, None)
    if report.failed and srv is not None:
        offset = item.stash.get(_LOG_OFFSET_KEY, 0)
        report.sections.append(
            (f"huiyi log during {report.when} ({srv.log_path})", srv.log_since(offset))
        )
    return report


@pytest.fixture
async def peers(server: huiyi.Server):
    p = Peers(server.ws_url)
    yield p
    await p.close_all()


@pytest.fixture
async def lkapi(server: huiyi.Server):
    client = api.LiveKitAPI(server.http_url, huiyi.API_KEY, huiyi.API_SECRET)
    yield client
    await client.aclose()


# The Python livekit SDK's native runtime can abort the interpreter at exit: its tokio threads
# call back into Python while it finalizes, and that panic cannot unwind ("panic in a function
# that cannot unwind", seen in CI after all tests had passed). When the run is over and reported,
# the process ends here, with pytest's status, instead of going through that finalization.
_exit_status: int | None = None


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    import os
    import sys

    if _exit_status is None or "livekit.rtc._ffi_client" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
