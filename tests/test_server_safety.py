"""The dashboard's server as run.sh starts it refuses a WebSocket asked for by a foreign host or origin:
a page on another site whose name resolves to this machine (DNS rebinding) cannot drive a session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.server import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # starts a server


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    """``python -m dashboard`` on a free port, started from another folder: the settings of
    .streamlit/config.toml reach Streamlit as flags, not by its reading the working folder."""
    port = free_port()
    folder = tmp_path_factory.mktemp("server")
    log = open(folder / "streamlit.log", "w+")
    env = dict(os.environ, PYTHONPATH=str(ROOT), DASHBOARD_PRELOAD="0")
    server = subprocess.Popen([sys.executable, "-m", "dashboard", "--server.headless", "true", "--server.port", str(port),
                               "--server.fileWatcherType", "none"], cwd=folder, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                log.seek(0)
                assert server.poll() is None and time.time() < deadline, log.read()
                time.sleep(0.5)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def upgrade_status(port: int, host: str, origin: str | None) -> str:
    """The status line the server answers a WebSocket upgrade of its session stream with."""
    lines = ["GET /_stcore/stream HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Protocol: streamlit"]
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def test_the_dashboards_own_origin_gets_its_websocket(port):
    assert " 101 " in upgrade_status(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    assert " 101 " in upgrade_status(port, f"localhost:{port}", f"http://localhost:{port}")


@pytest.mark.parametrize("host, origin", [
    ("evil.example:{port}", "http://evil.example:{port}"),  # DNS rebinding: same origin, foreign host
    ("evil.example:{port}", None),
    ("127.0.0.1:{port}", "http://evil.example:{port}"),  # another site's page
])
def test_a_foreign_host_or_origin_gets_no_websocket(port, host, origin):
    status = upgrade_status(port, host.format(port=port), origin and origin.format(port=port))
    assert " 101 " not in status, status
