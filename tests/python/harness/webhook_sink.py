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


@dataclass
class WebhookSink:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/livekit"

    def wait_for(self, predicate, timeout: float = 20.0) -> list[Received]:
        """Waits (bounded) until `predicate(received)` holds; returns what was received."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = list(self.received)
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
