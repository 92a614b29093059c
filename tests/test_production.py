"""The generated service running for real, in its production config: under bounded
load from a second process, with a worker killed mid-load, and through an outage
of a real PostgreSQL server. Traffic goes to loopback addresses only."""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import (
    ROOT,
    PostgresServer,
    Project,
    fetch,
    free_port,
    gunicorn_command,
    server_process,
)

LOAD = ROOT / "tests" / "load.py"


@contextmanager
def production_server(project: Project, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """The service under gunicorn with 2 workers; yields its URL and master pid."""
    port = free_port()
    with server_process(gunicorn_command(project, port), project.path, env, port) as served:
        base, process = served
        # The preloaded app answers from the first worker while the master is
        # still forking the second: wait for both.
        deadline = time.monotonic() + 20
        while len(workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield base, process.pid


def workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def load(url: str, requests: int, concurrency: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(LOAD),
            url,
            "--requests",
            str(requests),
            "--concurrency",
            str(concurrency),
            "--seconds",
            "120",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str]) -> dict:
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0
    return json.loads(output)


def test_bounded_load_is_served_without_errors(
    default_project: Project, production: dict[str, str]
) -> None:
    with production_server(default_project, production) as (base, _):
        health, home = load(f"{base}/health", 2000, 50), load(f"{base}/", 1000, 25)
        for outcome, sent in ((result(health), 2000), (result(home), 1000)):
            assert outcome["errors"] == {}
            assert outcome["statuses"] == {"200": sent}


def test_killing_a_worker_mid_load_leaves_the_service_answering(
    default_project: Project, production: dict[str, str]
) -> None:
    with production_server(default_project, production) as (base, master):
        before = workers(master)
        assert len(before) == 2
        running = load(f"{base}/health", 3000, 50)
        time.sleep(0.5)
        os.kill(before[0], signal.SIGKILL)
        outcome = result(running)
        # At most the one request the killed worker was serving is lost.
        assert sum(outcome["errors"].values()) <= 1, outcome
        assert outcome["statuses"]["200"] >= 2999, outcome
        assert set(outcome["statuses"]) == {"200"}
        deadline = time.monotonic() + 20
        while len(workers(master)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        after = workers(master)
        assert len(after) == 2
        assert before[0] not in after
        assert fetch(f"{base}/health")[0] == 200


class Browser:
    """A cookie-keeping HTTP client that logs in through the real form."""

    def __init__(self, base: str) -> None:
        self.base = base
        # Production cookies are Secure; keep sending them over loopback HTTP.
        policy = http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "http"))
        jar = http.cookiejar.CookieJar(policy)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(self, path: str) -> tuple[int, str, str]:
        return self.send(urllib.request.Request(self.base + path))

    def send(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, response.headers["Content-Type"], response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read().decode()

    def log_in(self, username: str, password: str) -> None:
        page = self.get("/auth/login")[2]
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "username": username, "password": password}
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base + "/auth/login", data=data)
        status, _, body = self.send(request)
        assert status == 200
        assert f"{username}</a>" in body


@pytest.fixture
def outage_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, which it stops and starts."""
    server = PostgresServer().start()
    yield server
    server.stop()
    server.remove()


def test_postgresql_outage_degrades_cleanly_and_recovers_without_restart(
    copy: Callable[..., Project], outage_server: PostgresServer
) -> None:
    project = copy(database="postgresql").install()
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "o" * 64,
        "DATABASE_URL": outage_server.create_database(),
    }
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "auth", "create-user", "owner", "--password", "owner password!", env=env)
    with production_server(project, env) as (base, _):
        browser = Browser(base)
        browser.log_in("owner", "owner password!")
        assert fetch(f"{base}/health/ready")[0] == 200
        visitor = Browser(base)
        page = visitor.get("/auth/login")[2]
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

        outage_server.stop()
        # Login limits are counted in the database: with it down, a login
        # attempt is an outage (503), never a 500.
        form = {"csrf_token": token, "username": "owner", "password": "guess"}
        attempt = urllib.request.Request(
            f"{base}/auth/login", data=urllib.parse.urlencode(form).encode()
        )
        status, content_type, page = visitor.send(attempt)
        assert (status, content_type) == (503, "text/html; charset=utf-8")
        assert "briefly unavailable" in page
        assert fetch(f"{base}/health") == (200, "application/json", '{"status":"ok"}\n')
        status, content_type, body = fetch(f"{base}/health/ready")
        assert (status, content_type) == (503, "application/json")
        assert json.loads(body) == {"status": "unavailable", "database": "unreachable"}
        # Every page of a logged-in user loads the user, so each fails: cleanly.
        status, content_type, page = browser.get("/")
        assert (status, content_type) == (503, "text/html; charset=utf-8")
        assert "briefly unavailable" in page
        assert "psycopg" not in page
        assert "Traceback" not in page
        status, content_type, body = browser.get("/api/v1/items")
        assert (status, content_type) == (503, "application/problem+json")
        assert json.loads(body)["status"] == 503

        outage_server.start()
        deadline = time.monotonic() + 20
        while fetch(f"{base}/health/ready")[0] != 200:
            assert time.monotonic() < deadline, "not ready 20 s after the database came back"
            time.sleep(0.2)
        status, _, page = browser.get("/")
        assert status == 200
        assert "owner</a>" in page  # the session and the committed user survived
        assert browser.get("/api/v1/items")[0] == 200
