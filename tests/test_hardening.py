"""The generated service attacked for real: its production config under gunicorn,
raw requests and cookie-stealing clients on loopback, several workers sharing one
database, SQLite and a real PostgreSQL server."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from helpers import (
    PostgresServer,
    Project,
    clean_environment,
    fetch,
    free_port,
    gunicorn_command,
    log_of,
    render,
    server_process,
)

OWNER, PASSWORD = "owner", "owner password!"


@contextmanager
def served(
    project: Project,
    env: dict[str, str],
    workers: int = 2,
    *options: str,
    log: IO[str] | None = None,
) -> Iterator[tuple[int, int]]:
    """The project under gunicorn; yields its port and master pid. Its output
    goes to ``log`` when given."""
    port = free_port()
    command = gunicorn_command(project, port, workers)
    command[-1:-1] = list(options)
    with server_process(command, project.path, env, port, log) as (_, process):
        yield port, process.pid


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        # Nothing more is coming: a server waiting for the rest of a body sees
        # its end now, not when its timeout kills the worker.
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


class Client:
    """A browser on loopback: keeps cookies, follows no redirect, can pose as
    another address behind a proxy (X-Forwarded-For, read with PROXY_COUNT=1)."""

    def __init__(self, port: int, address: str = "") -> None:
        self.port = port
        self.address = address
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        *,
        json_text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """Send a form, or JSON given as its text (so that it can be malformed)."""
        headers = {"Host": "localhost", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        if self.address:
            headers["X-Forwarded-For"] = self.address
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_text is not None:
            body = json_text
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, value = header.split(";", 1)[0].split("=", 1)
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return response.status, dict(response.headers), text
        finally:
            connection.close()

    def cookie_header(self) -> str:
        """Its cookies as a Cookie header carries them, for raw requests."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def form_token(self, path: str = "/auth/login") -> str:
        page = self.request("GET", path)[2]
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert match, page
        return match.group(1)

    def log_in(self, username: str, password: str, *, remember: bool = False) -> int:
        form = {"csrf_token": self.form_token(), "username": username, "password": password}
        if remember:
            form["remember"] = "y"
        return self.request("POST", "/auth/login", form)[0]

    def log_out(self) -> int:
        token = self.form_token("/auth/account")
        return self.request("POST", "/auth/logout", {"csrf_token": token})[0]

    def copy(self) -> Client:
        thief = Client(self.port, "203.0.113.66")
        thief.cookies = dict(self.cookies)
        return thief


def create_owner(project: Project, env: dict[str, str]) -> None:
    project.run("flask", "auth", "create-user", OWNER, "--password", PASSWORD, env=env)


MALFORMED = {
    "malformed chunked form": (
        b"POST /auth/login HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n"
    ),
    "truncated chunked JSON": (
        b"POST /api/v1/items HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
        b'ffff\r\n{"name": "x"}\r\n'
    ),
    "over-long host label": b"GET / HTTP/1.1\r\nHost: " + b"a" * 64 + b".example\r\n"
    b"Connection: close\r\n\r\n",
    "empty host label": (
        b"GET /auth/login HTTP/1.1\r\nHost: a..example\r\nConnection: close\r\n\r\n"
    ),
    "dot host": b"GET /no-such-page HTTP/1.1\r\nHost: .\r\nConnection: close\r\n\r\n",
    "id beyond 64 bits": (
        b"GET /api/v1/items/99999999999999999999999 HTTP/1.1\r\nHost: localhost\r\n"
        b"Connection: close\r\n\r\n"
    ),
    "NUL in the query": b"GET /?q=%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "NUL in a form": (
        b"POST /auth/register HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n"
        b"Connection: close\r\n\r\nusername=a%00b&x=yyyyy"
    ),
}


# JSON an API client may send, logged in and with its CSRF token, so that the
# body is read and parsed for real.
MALFORMED_JSON = {
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "nested objects": '{"name": ' * 50_000 + '"x"' + "}" * 50_000,
    "unpaired surrogate": '{"name": "\\ud800"}',
    "unpaired surrogate in a key": '{"\\udfff": "x"}',
    "NUL in a string": '{"name": "a\\u0000b"}',
    "truncated": '{"name": ',
}
# Ids no 64-bit database column holds, and pages whose offset none could.
OUT_OF_RANGE_IDS = [f"/api/v1/items/{2**63}", f"/api/v1/items/{10**30}"]
OUT_OF_RANGE_PAGES = [
    "/api/v1/items?page=99999999999999999999999",
    f"/api/v1/items?page={2**63 - 1}",
]


def test_malformed_requests_are_4xx_without_a_traceback(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    create_owner(default_project, production)
    with (tmp_path / "server.log").open("w+") as log:
        with served(default_project, production, log=log) as (port, _):
            statuses = {name: raw(port, request)[0] for name, request in MALFORMED.items()}
            client = Client(port)
            assert client.log_in(OWNER, PASSWORD) == 302
            token = {"X-CSRFToken": client.form_token("/auth/account")}
            for name, text in MALFORMED_JSON.items():
                statuses[name] = client.request(
                    "POST", "/api/v1/items", json_text=text, headers=token
                )[0]
            for path in OUT_OF_RANGE_IDS:
                statuses[path] = client.request("GET", path)[0]
            # Pages past the last are empty, however far past.
            for path in OUT_OF_RANGE_PAGES:
                status, _, body = client.request("GET", path)
                assert (status, json.loads(body)["items"]) == (200, []), body
            # The same client, with the same token, still gets its writes in.
            created = client.request(
                "POST", "/api/v1/items", json_text='{"name": "ok"}', headers=token
            )
            assert created[0] == 201, created
            assert fetch(f"http://127.0.0.1:{port}/health")[0] == 200
        output = log_of(log)
    assert all(400 <= status < 500 for status in statuses.values()), statuses
    assert "Traceback" not in output
    assert '"status": 500' not in output


def chunked_post(path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A POST whose body comes in 64 KiB chunks, without a Content-Length."""
    head = f"POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    parts = [body[start : start + 65536] for start in range(0, len(body), 65536)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
    return head.encode() + b"\r\n" + chunks + b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_a_413_not_cut_short(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """Valid fields first and padding after: a chunked body is counted whole, as
    one with a Content-Length is, and one at the limit is still read whole."""
    create_owner(default_project, production)
    limit = 1024 * 1024
    with (tmp_path / "server.log").open("w+") as log:
        with served(default_project, production, log=log) as (port, _):
            client = Client(port)
            fields = {"csrf_token": client.form_token(), "username": OWNER}
            fields["password"] = PASSWORD
            form = urllib.parse.urlencode(fields).encode() + b"&padding="
            headers = {
                "Host": "localhost",
                "Cookie": client.cookie_header(),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            over = form + b"x" * (3 * limit - len(form))
            status, answer, _ = raw(port, chunked_post("/auth/login", headers, over))
            assert status == 413
            assert answer["X-Content-Type-Options"] == "nosniff"
            assert "X-Request-ID" in answer
            beyond = form + b"x" * (limit + 1 - len(form))
            assert raw(port, chunked_post("/auth/login", headers, beyond))[0] == 413
            at_limit = form + b"x" * (limit - len(form))
            assert raw(port, chunked_post("/auth/login", headers, at_limit))[0] == 302
        output = log_of(log)
    assert "Traceback" not in output


def test_routing_redirects_stay_on_this_site(
    default_project: Project, production: dict[str, str]
) -> None:
    with served(default_project, production) as (port, _):
        status, headers, _ = raw(
            port,
            b"GET /auth//login?next=/auth/account HTTP/1.1\r\nHost: evil.example\r\n"
            b"Connection: close\r\n\r\n",
        )
    assert status == 308
    assert headers["Location"] == "/auth/login?next=/auth/account"


def test_copied_cookies_open_nothing_after_logout_or_a_reset(
    default_project: Project, production: dict[str, str]
) -> None:
    create_owner(default_project, production)
    with served(default_project, production) as (port, _):
        browser = Client(port)
        assert browser.log_in(OWNER, PASSWORD, remember=True) == 302
        first_token = browser.cookies["__Host-remember_token"]
        thief = browser.copy()
        remembered = Client(port, "203.0.113.77")
        remembered.cookies = {"__Host-remember_token": first_token}
        assert thief.request("GET", "/auth/account")[0] == 200
        assert remembered.request("GET", "/auth/account")[0] == 200
        private = thief.request("GET", "/auth/account")[1]
        assert private["Cache-Control"] == "no-store"

        assert browser.log_out() == 302
        assert thief.request("GET", "/auth/account")[0] == 302
        assert remembered.request("GET", "/auth/account")[0] == 302

        # A new login gets a new token; an operator's reset ends it too.
        assert browser.log_in(OWNER, PASSWORD, remember=True) == 302
        assert browser.cookies["__Host-remember_token"] != first_token
        thief = browser.copy()
        new_password = ["--password", "reset by the operator"]
        default_project.run("flask", "auth", "set-password", OWNER, *new_password, env=production)
        assert thief.request("GET", "/auth/account")[0] == 302
        assert browser.request("GET", "/auth/account")[0] == 302

        # The owner changes the password on the account page: this browser goes
        # on, every copy of its cookies stops.
        assert browser.log_in(OWNER, new_password[1], remember=True) == 302
        thief = browser.copy()
        change = {
            "csrf_token": browser.form_token("/auth/account"),
            "current": new_password[1],
            "password": PASSWORD,
            "confirm": PASSWORD,
        }
        assert browser.request("POST", "/auth/account/password", change)[0] == 302
        assert thief.request("GET", "/auth/account")[0] == 302
        assert browser.request("GET", "/auth/account")[0] == 200
        assert Client(port).log_in(OWNER, PASSWORD) == 302


def test_usernames_are_one_account_whatever_their_case_or_form(
    default_project: Project, production: dict[str, str]
) -> None:
    create_owner(default_project, production)
    # Every attempt comes from one address: let them all through.
    env = {**production, "LOGIN_RATE_LIMIT": "100 per minute"}
    with served(default_project, env) as (port, _):
        impostor = Client(port)
        for twin in ["OWNER", "Owner", "\uff4f\uff57\uff4e\uff45\uff52", "owner\n"]:
            form = {
                "csrf_token": impostor.form_token("/auth/register"),
                "username": twin,
                "password": "impostor password",
                "confirm": "impostor password",
            }
            impostor.request("POST", "/auth/register", form)
            # No second account: the twin's password opens nothing...
            assert Client(port).log_in(twin, "impostor password") == 200
            # ...and the owner's does, under any spelling.
            assert Client(port).log_in(twin.strip(), PASSWORD) == 302
    package = default_project.package
    count = (
        f"from {package} import create_app; from {package}.extensions import db; "
        f"from {package}.models import User\n"
        "with create_app().app_context(): print(db.session.query(User).count())"
    )
    assert default_project.run("python", "-c", count, env=production).stdout.split() == ["1"]


def attempts(port: int, address: str, usernames: list[str]) -> list[int]:
    client = Client(port, address)
    token = client.form_token()
    return [
        client.request(
            "POST",
            "/auth/login",
            {"csrf_token": token, "username": username, "password": "guess"},
        )[0]
        for username in usernames
    ]


@pytest.mark.parametrize("account", [OWNER, "nobody-here"])
def test_login_limits_hold_across_five_workers(
    default_project: Project, production: dict[str, str], account: str
) -> None:
    create_owner(default_project, production)
    env = {**production, "PROXY_COUNT": "1"}
    with served(default_project, env, workers=5) as (port, _):
        # 80 guesses at one account from 8 addresses, as fast as they go.
        addresses = [f"198.51.100.{n}" for n in range(8)]
        with ThreadPoolExecutor(8) as pool:
            results = pool.map(lambda a: attempts(port, a, [account] * 10), addresses)
        per_account = Counter(status for statuses in results for status in statuses)
        # 80 guesses at different accounts from one address.
        per_address = Counter(attempts(port, "192.0.2.1", [f"u{n}" for n in range(80)]))
    # Existing and unknown accounts alike: 10 per 15 minutes, then 429.
    assert per_account == {200: 10, 429: 70}
    # One address: 10 per minute, whichever worker answers.
    assert per_address == {200: 10, 429: 70}


def create_token(project: Project, env: dict[str, str]) -> str:
    """A new read-write token of OWNER's, as `flask auth create-token` prints it."""
    result = project.run("flask", "auth", "create-token", OWNER, "--scope", "read-write", env=env)
    return result.stdout.split()[-1]


def post_items(port: int, tokens: list[str], count: int) -> Counter[int]:
    """``count`` items posted at once, spread over ``tokens``; their statuses."""

    def post(number: int) -> int:
        headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
        client = Client(port)
        return client.request(
            "POST", "/api/v1/items", json_text=f'{{"name": "n{number}"}}', headers=headers
        )[0]

    with ThreadPoolExecutor(10) as pool:
        return Counter(pool.map(post, range(count)))


def test_api_writes_are_limited_per_user_across_workers_and_tokens(
    default_project: Project, production: dict[str, str]
) -> None:
    """One user's writes, through three tokens and five workers at once, are
    counted as one: unlimited, a script filled the disk a row per request."""
    create_owner(default_project, production)
    tokens = [create_token(default_project, production) for _ in range(3)]
    env = {**production, "API_WRITE_LIMIT": "12 per minute"}
    with served(default_project, env, workers=5) as (port, _):
        statuses = post_items(port, tokens, 40)
        client = Client(port)
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        status, headers, body = client.request(
            "POST", "/api/v1/items", json_text='{"name": "x"}', headers=auth
        )
        listing = json.loads(client.request("GET", "/api/v1/items", headers=auth)[2])
    assert statuses == {201: 12, 429: 28}
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 429
    assert listing["total"] == 12


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_items_per_user_hold_under_concurrent_creates(
    request: pytest.FixtureRequest,
    default_project: Project,
    production: dict[str, str],
    database: str,
) -> None:
    """Forty creates at once, on five workers, leave exactly ITEMS_PER_USER
    items: each counts the items of those that committed before it."""
    project, env = default_project, production
    if database == "postgresql":
        project = request.getfixturevalue("postgres_project")
        postgres: PostgresServer = request.getfixturevalue("postgres")
        env = on_postgresql(postgres.create_database())
        project.run("flask", "db", "upgrade", env=env)
    create_owner(project, env)
    tokens = [create_token(project, env) for _ in range(2)]
    env = {**env, "ITEMS_PER_USER": "7"}
    with served(project, env, workers=5) as (port, _):
        statuses = post_items(port, tokens, 40)
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        listing = json.loads(Client(port).request("GET", "/api/v1/items", headers=auth)[2])
    assert statuses == {201: 7, 409: 33}
    assert listing["total"] == 7


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_a_login_flood_neither_bloats_workers_nor_starves_health_checks(
    default_project: Project, production: dict[str, str]
) -> None:
    """Eighty logins at once from eight addresses, limits raised so that every one
    is hashed, into workers with eight threads each."""
    create_owner(default_project, production)
    env = {
        **production,
        "PROXY_COUNT": "1",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_LIMIT": "1000 per minute",
    }
    with served(default_project, env, 2, "--threads", "8") as (port, master):
        workers = workers_of(master)
        before = max(rss_kib(pid) for pid in workers)
        health: list[int] = []
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                health.append(fetch(f"http://127.0.0.1:{port}/health")[0])
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        with ThreadPoolExecutor(16) as pool:
            results = list(
                pool.map(lambda n: attempts(port, f"198.51.100.{n % 8}", [OWNER] * 5), range(16))
            )
        stop.set()
        prober.join()
        after = max(rss_kib(pid) for pid in workers)
    statuses = Counter(status for batch in results for status in batch)
    assert statuses == {200: 80}
    assert health
    assert set(health) == {200}
    # One Argon2id hash at a time per worker, 19 MiB each: scrypt at N=2^17 took
    # 128 MiB per concurrent hash.
    assert after - before < 64 * 1024, (before, after)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SECRET_KEY", "changeme"),
        ("SECRET_KEY", "a"),
        ("SECRET_KEY", "   "),
        ("SECRET_KEY", "x" * 31),
        ("PROXY_COUNT", "-1"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_URL", "postgres://user:secret@db.example/app"),
    ],
)
def test_a_bad_setting_stops_the_server_and_is_named(
    default_project: Project, production: dict[str, str], variable: str, value: str
) -> None:
    result = subprocess.run(
        gunicorn_command(default_project, free_port(), 1),
        cwd=default_project.path,
        env=clean_environment(**{**production, variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"Error: {variable} " in result.stderr
    assert "secret@" not in result.stderr


@pytest.fixture(scope="module")
def postgres_project(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Project:
    destination = tmp_path_factory.mktemp("hardening") / "pg-service"
    return Project(render(template, destination, {"database": "postgresql"})).install()


def on_postgresql(database_url: str) -> dict[str, str]:
    """Production settings for postgres_project on that database."""
    return {
        "APP_ENV": "production",
        "SECRET_KEY": "3b9f1c7e5a2d4f6b8c0e1a3d5f7b9c2e4a6d8f0b1c3e5a7d9f2b4c6e8a0d1f3b",
        "DATABASE_URL": database_url,
    }


CONNECTION_PARAMETERS = """
from {package}.extensions import db
from {package} import create_app

with create_app().app_context(), db.engine.connect() as connection:
    parameters = connection.connection.driver_connection.info.get_parameters()
    print(parameters["connect_timeout"], parameters["tcp_user_timeout"])
"""


def test_postgresql_connections_give_up_on_a_silent_network(
    postgres_project: Project, postgres: PostgresServer
) -> None:
    """libpq itself holds the timeouts (a cut network is noticed in 10 s, before
    gunicorn's 30 s timeout), not only the settings."""
    env = on_postgresql(postgres.create_database())
    script = CONNECTION_PARAMETERS.format(package=postgres_project.package)
    result = postgres_project.run("python", "-c", script, env=env)
    assert result.stdout.split() == ["5", "10000"]


def test_postgresql_nul_bytes_and_an_unmigrated_database(
    postgres_project: Project, postgres: PostgresServer
) -> None:
    env = on_postgresql(postgres.create_database())
    with served(postgres_project, env) as (port, _):
        # Never migrated: not ready, and a page that needs a table is a bug (500),
        # not an outage (503).
        status, _, body = fetch(f"http://127.0.0.1:{port}/health/ready")
        assert (status, json.loads(body)["database"]) == (
            503,
            "not migrated: run flask db upgrade",
        )
        client = Client(port)
        token = client.form_token()
        form = {"csrf_token": token, "username": OWNER, "password": PASSWORD}
        assert client.request("POST", "/auth/login", form)[0] == 500

        postgres_project.run("flask", "db", "upgrade", env=env)
        assert fetch(f"http://127.0.0.1:{port}/health/ready")[0] == 200
        # PostgreSQL refuses NUL in text: each is refused before it gets there.
        nul_form = {**form, "username": "own\x00er"}
        assert client.request("POST", "/auth/login", nul_form)[0] == 400
        assert client.request("GET", "/?q=%00")[0] == 400
        assert client.request("POST", "/auth/login", form)[0] == 200
        # 80 characters whose case fold, stored beside them, takes 160.
        long_fold = {
            "csrf_token": client.form_token("/auth/register"),
            "username": "\u00df" * 80,
            "password": PASSWORD,
            "confirm": PASSWORD,
        }
        status, _, page = client.request("POST", "/auth/register", long_fold)
        assert (status, "Use 3 to 80 characters" in page) == (200, True)
        # Ids beyond the 32 bits of PostgreSQL's INTEGER match no route.
        create_owner(postgres_project, env)
        assert client.log_in(OWNER, PASSWORD) == 302
        account = {"csrf_token": client.form_token("/auth/account")}
        for token_id in (2**31, 2**63 - 1):
            path = f"/auth/tokens/{token_id}/revoke"
            assert client.request("POST", path, account)[0] == 404
        assert client.request("GET", f"/api/v1/items/{2**31}")[0] == 404


def test_error_pages_for_a_logged_in_user_while_postgresql_is_down(
    postgres_project: Project, tmp_path: Path
) -> None:
    """Each page asks the database who is logged in: with PostgreSQL stopped, an
    error page keeps its status and the service's headers, shown as to a
    visitor, and the log says the database is unavailable without a traceback."""
    server = PostgresServer().start()
    try:
        env = on_postgresql(server.create_database())
        postgres_project.run("flask", "db", "upgrade", env=env)
        create_owner(postgres_project, env)
        with (tmp_path / "server.log").open("w+") as log:
            with served(postgres_project, env, log=log) as (port, _):
                client = Client(port)
                assert client.log_in(OWNER, PASSWORD) == 302
                server.stop()
                answers = {
                    404: client.request("GET", "/nope"),
                    405: client.request("PUT", "/"),
                    400: client.request("POST", "/auth/logout", {}),
                }
                too_large = (
                    "POST /auth/logout HTTP/1.1\r\nHost: localhost\r\n"
                    f"Cookie: {client.cookie_header()}\r\nContent-Length: {2 << 20}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Connection: close\r\n\r\n"
                )
                status, headers, page = raw(port, too_large.encode())
                answers[413] = (status, headers, page.decode())
            output = log_of(log)
    finally:
        server.stop()
        server.remove()
    for expected, (status, headers, page) in answers.items():
        assert status == expected, (expected, page)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "X-Request-ID" in headers
        assert "Log in" in page
    assert "database unavailable" in output
    assert "Traceback" not in output
