"""A webhook receiver for the tests: an HTTP server on a free loopback port that answers 200
to every POST and keeps what it got (headers and body), for a test to check with an SDK's
own webhook verifier."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


class _Sink:
    """What both receivers share: a server thread, a list of what arrived, a bounded wait."""

    server: ThreadingHTTPServer
    lock: threading.Lock

    def _kept(self) -> list:
        raise NotImplementedError

    def wait_for(self, predicate, timeout: float = 20.0) -> list:
        """Waits (bounded) until `predicate(kept)` holds; returns what was kept."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = list(self._kept())
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class WebhookSink(_Sink):
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/livekit"

    def _kept(self) -> list[Received]:
        return self.received


def start() -> WebhookSink:
    sink: WebhookSink | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = min(int(self.headers.get("Content-Length", "0")), 4 << 20)
            body = self.rfile.read(length).decode(errors="replace")
            with sink.lock:
                sink.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink = WebhookSink(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink


@dataclass
class TencentSink(_Sink):
    """A receiver of Tencent-style webhooks (docs/webhooks.md), as an integrator writes one:
    it answers the URL check by echoing the decoded `check_str`, and checks every delivery's
    signature, sha1 over the sorted token, timestamp, nonce and data, before decoding
    `{"data": base64(envelope)}`. Keeps the envelopes; counts signatures that did not match."""

    server: ThreadingHTTPServer
    token: str
    events: list[dict] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tencent"

    def signed(self, headers, value: str) -> bool:
        import hashlib

        parts = sorted([self.token, headers.get("timestamp", ""), headers.get("nonce", ""), value])
        return hashlib.sha1("".join(parts).encode()).hexdigest() == headers.get("signature", "")

    def _kept(self) -> list[dict]:
        return self.events


def start_tencent(token: str) -> TencentSink:
    import base64
    import json
    from urllib.parse import parse_qs, urlparse

    sink: TencentSink | None = None

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server's name)
            check = parse_qs(urlparse(self.path).query).get("check_str", [""])[0]
            if not sink.signed(self.headers, check):
                with sink.lock:
                    sink.bad_signatures += 1
                return self.answer(403)
            self.answer(200, base64.b64decode(check))

        def do_POST(self):  # noqa: N802
            length = min(int(self.headers.get("Content-Length", "0")), 4 << 20)
            data = json.loads(self.rfile.read(length))["data"]
            if not sink.signed(self.headers, data):
                with sink.lock:
                    sink.bad_signatures += 1
                return self.answer(403)
            with sink.lock:
                sink.events.append(json.loads(base64.b64decode(data)))
            self.answer(200)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink = TencentSink(server, token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink
