"""The web tier as the Procfile and the bench start it: gunicorn with gunicorn.conf.py, in a process of its own."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(conn: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
    conn.request("GET", path, headers={"Host": "127.0.0.1"})
    response = conn.getresponse()
    response.read()
    return response


def test_the_web_server_keeps_a_clients_connection_between_requests(tmp_path):
    # A camera posts several frames a second: one connection for all of them, not one per frame (gunicorn.conf.py).
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "WEB_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="lfr_portal.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",  # /healthz/web only asks the database for SELECT 1
        LFR_VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(REPO_ROOT),
    )
    argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "lfr_portal.wsgi",
            "--bind", f"127.0.0.1:{port}"]  # fmt: skip
    server = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        deadline = time.monotonic() + 60
        while True:
            try:
                first = _get(conn, "/healthz/web")
                break
            except OSError:
                conn.close()
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
                time.sleep(0.2)
        assert first.status == 200
        assert (first.getheader("Connection") or "").lower() != "close"
        sock = conn.sock
        assert sock is not None, "http.client closed the connection: the server asked it to"
        second = _get(conn, "/healthz/web")
        assert second.status == 200 and conn.sock is sock, "the server closed the connection after one request"
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
