"""gunicorn with the production configuration (studyserver/gunicorn.conf.py), DEBUG off: the
health endpoint, static files served by WhiteNoise, and HTTPS behind a reverse proxy."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "studyserver" / "gunicorn.conf.py"

# Marked so that pytest-django creates the test database, which the servers use on PostgreSQL.
pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(folder: Path) -> str:
    """The test database when the tests run on PostgreSQL, else a new SQLite file."""
    configured = os.environ.get("DATABASE_URL", "")
    if connection.vendor == "postgresql" and configured.startswith("postgres"):
        parts = urlsplit(configured)
        return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    return f"sqlite:///{folder / 'serve.sqlite3'}"


class Server:
    """gunicorn on a free loopback port, in its own process group."""

    def __init__(self, folder: Path, database_url: str, **environment: str):
        folder.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = folder / "gunicorn.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_HTTPS": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "CWOX_MEDIA_ROOT": str(folder / "media"),
            "CWOX_BIND": f"127.0.0.1:{port}",
            "CWOX_WORKERS": "1",
            "CWOX_THREADS": "2",
            **environment,
        }
        with self.log.open("wb") as stream:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "studyserver.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_listening(self, within: float = 40) -> None:
        deadline = time.monotonic() + within
        while True:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"gunicorn is silent:\n{self.log.read_text()}"
            try:
                httpx.get(self.url + "/static/css/site.css", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)

    def terminate(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait(self) -> None:
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory) -> Iterator[dict[str, str]]:
    """Two servers started together (each takes seconds to import the project): plain HTTP,
    and ``DJANGO_HTTPS=1`` as behind a TLS-terminating proxy. On PostgreSQL they reach the
    test database (``django_db_setup`` creates it)."""
    folder = tmp_path_factory.mktemp("serve")
    database = _database_url(folder)
    started = {
        "http": Server(folder / "http", database),
        "https": Server(folder / "https", database, DJANGO_HTTPS="1"),
    }
    try:
        for server in started.values():
            server.wait_until_listening()
        yield {name: server.url for name, server in started.items()}
    finally:
        for server in started.values():
            server.terminate()
        for server in started.values():
            server.wait()


def test_health_static_files_and_no_debug_pages(servers):
    base = servers["http"]
    health = httpx.get(base + "/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok"}
    assert health.headers["X-Frame-Options"] == "DENY"
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in health.headers

    css = httpx.get(base + "/static/css/site.css")
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.content == (ROOT / "static" / "css" / "site.css").read_bytes()
    assert "max-age" in css.headers["Cache-Control"]  # WhiteNoise's caching headers

    missing = httpx.get(base + "/no-such-page/")
    assert missing.status_code == 404
    assert "URLconf" not in missing.text and "Traceback" not in missing.text


def test_https_behind_a_proxy(servers):
    """With DJANGO_HTTPS=1, a request the proxy marks as HTTPS gets HSTS; plain HTTP is
    redirected to HTTPS, except the health probe (load balancers use plain HTTP)."""
    base = servers["https"]
    secure = httpx.get(base + "/healthz", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")

    plain = httpx.get(base + "/")
    assert plain.status_code == 301
    assert plain.headers["Location"] == base.replace("http:", "https:") + "/"
    assert httpx.get(base + "/healthz").status_code == 200
