"""Media over ICE-TCP: with UDP to the server dropped by a firewall rule, clients fall back to
the server's TCP candidate (RFC 6544, RFC 4571 framing) and media still flows.

The rule lives in the test's own network namespace (scripts/netns-run), on a second server's
UDP port only, and is removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from harness import server as huiyi
from test_media import assert_tone_reaches_a_listener

TABLE = "huiyi_ice_tcp"


def nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def udp_blocked_server(tmp_path):
    if shutil.which("nft") is None:
        pytest.fail("nft (Debian package nftables) is needed to block UDP; scripts/test installs it")
    srv = huiyi.start(tmp_path)
    nft("add", "table", "inet", TABLE)
    nft("add", "chain", "inet", TABLE, "input", "{ type filter hook input priority 0; }")
    nft("add", "rule", "inet", TABLE, "input", "udp", "dport", str(srv.rtc_udp_port), "drop")
    try:
        yield srv
    finally:
        nft("delete", "table", "inet", TABLE)
        huiyi.stop(srv)


async def test_media_flows_over_ice_tcp_when_udp_is_blocked(udp_blocked_server):
    srv = udp_blocked_server
    await assert_tone_reaches_a_listener(srv.ws_url, "tcp")
    # The media really took the TCP path: the server saw ICE-TCP connections.
    log = srv.log_path.read_text(errors="replace")
    assert "ICE-TCP connection established" in log, "no ICE-TCP connection in the server log"
