"""Start and stop one `huiyi serve --dev` process for the test session.

The server runs as a real process on free ports (HTTP, ICE/TCP, UDP media), with its own data
directory, and writes stdout and stderr to one log file. Tests read that file when they fail, so
a failure report shows what the server said while the test ran.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
API_KEY = "devkey"
API_SECRET = "secret"
STARTUP_TIMEOUT_S = 30.0


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    rtc_tcp_port: int
    rtc_udp_port: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int, limit: int = 60_000) -> str:
        """The log written since `offset`, keeping the last `limit` bytes if it is longer."""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        if len(text) > limit:
            text = f"[... {len(text) - limit} bytes cut ...]\n" + text[-limit:]
        return text

    def exit_code(self) -> int | None:
        return self.proc.poll()


def binary_path() -> Path:
    explicit = os.environ.get("HUIYI_BIN")
    if explicit:
        return Path(explicit)
    # Same default as scripts/test, so a developer can run pytest directly after a build.
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/huiyi-target"))
    return Path(target) / "debug" / "huiyi"


def free_port(kind: int) -> int:
    """A port the kernel just handed out; a tiny race with other processes is acceptable here."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(work_dir: Path, *, bind: str = "127.0.0.1", node_ip: str | None = None, extra_args: tuple[str, ...] = ()) -> Server:
    """Starts a server; `bind`, `node_ip` and `extra_args` are passed through (see
    docs/configuration.md)."""
    binary = binary_path()
    if not binary.is_file():
        raise RuntimeError(f"huiyi binary not found at {binary}; build it or set HUIYI_BIN")

    port = free_port(socket.SOCK_STREAM)
    rtc_tcp_port = free_port(socket.SOCK_STREAM)
    while rtc_tcp_port == port:
        rtc_tcp_port = free_port(socket.SOCK_STREAM)
    rtc_udp_port = free_port(socket.SOCK_DGRAM)
    data_dir = work_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "huiyi.log"

    args = [
        str(binary), "serve", "--dev",
        "--bind", bind,
        *(["--node-ip", node_ip] if node_ip else []),
        "--port", str(port),
        "--rtc-tcp-port", str(rtc_tcp_port),
        "--rtc-udp-port", str(rtc_udp_port),
        "--data-dir", str(data_dir),
        "--web-dir", str(REPO_ROOT / "web" / "dist"),
        *extra_args,
    ]
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "info")
    env.setdefault("RUST_BACKTRACE", "1")
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(args) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=work_dir,
        )
    server = Server(proc, port, rtc_tcp_port, rtc_udp_port, log_path)
    try:
        wait_healthy(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = "no attempt"
    while time.monotonic() < deadline:
        code = server.exit_code()
        if code is not None:
            raise RuntimeError(
                f"huiyi exited with code {code} during startup; log:\n{server.log_since(0)}"
            )
        try:
            with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
                last_error = f"status {resp.status}"
        except (urllib.error.URLError, OSError) as e:
            last_error = str(e)
        # Polling is the only way to learn that a separate process has bound its port.
        time.sleep(0.1)
    raise RuntimeError(
        f"huiyi did not answer /healthz with 200 within {STARTUP_TIMEOUT_S:.0f}s "
        f"(last: {last_error}); log:\n{server.log_since(0)}"
    )


def stop(server: Server) -> None:
    if server.exit_code() is not None:
        return
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)
