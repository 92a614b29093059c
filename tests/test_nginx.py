"""deploy/nginx.conf with Debian's nginx in front of the service's gunicorn, both on
loopback: slow clients dribbling headers cannot keep /health from being served
(while the same clients stop gunicorn alone), static files come with long cache
headers, bodies over the app's limit stop at nginx, and the app believes exactly
the forwarded headers nginx sets."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlencode

import pytest
from helpers import Project, free_port, gunicorn_command, nginx, server_process

SLOW_CLIENTS = 48


@pytest.fixture
def served(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> Iterator[tuple[int, int, Path]]:
    """gunicorn (2 workers, PROXY_COUNT=1, its log to a file) behind nginx; yields
    nginx's port, gunicorn's port and gunicorn's log."""
    app_port = free_port()
    env = {**production, "PROXY_COUNT": "1"}
    command = gunicorn_command(default_project, app_port)
    with (
        server_process(command, default_project.path, env, app_port) as (_, process),
        nginx(default_project, tmp_path / "nginx", app_port) as port,
    ):
        yield port, app_port, Path(f"/proc/{process.pid}/fd/1")


def get(
    port: int, path: str, *, method: str = "GET", body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


@contextmanager
def dribbling_clients(port: int, count: int, seconds: float = 30) -> Iterator[None]:
    """`count` clients that send a request's headers one line a second and never
    finish them (slowloris), until the block ends or `seconds` pass."""
    stop = threading.Event()
    sockets = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        sockets.append(client)

    def dribble() -> None:
        deadline = time.monotonic() + seconds
        while not stop.wait(1) and time.monotonic() < deadline:
            for client in sockets:
                # The server may give up on a client: as it should.
                with suppress(OSError):
                    client.sendall(b"X-Slow: 1\r\n")

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    time.sleep(1.5)  # the servers have taken every connection they will take
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for client in sockets:
            client.close()


def health_within(port: int, attempts: int = 10) -> list[int | str]:
    """Outcome of each /health request: its status, or the error that ended it."""
    outcomes: list[int | str] = []
    for _ in range(attempts):
        try:
            outcomes.append(get(port, "/health")[0])
        except OSError as error:
            outcomes.append(type(error).__name__)
    return outcomes


def test_slow_clients_cannot_starve_the_workers_behind_nginx(
    served: tuple[int, int, Path],
) -> None:
    port, app_port, _ = served
    # Against gunicorn alone, a handful of slow clients holds both sync workers.
    with dribbling_clients(app_port, 6):
        assert 200 not in health_within(app_port, attempts=2)
    # Through nginx, dozens of them cost nginx connections, not workers.
    with dribbling_clients(port, SLOW_CLIENTS):
        assert health_within(port) == [200] * 10


def test_static_files_come_from_nginx_with_long_cache_headers(
    served: tuple[int, int, Path], default_project: Project
) -> None:
    port, _, _ = served
    status, _, page = get(port, "/")
    assert status == 200
    stylesheet = re.search(r'href="(/static/css/app\.css\?v=\w+)"', page).group(1)
    status, headers, css = get(port, stylesheet)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"] == "text/css"
    assert css == (default_project.path / "src/flask_service/static/css/app.css").read_text()
    assert get(port, "/static/../pyproject.toml")[0] in (400, 404)
    assert headers["Server"] == "nginx"  # and no version


def test_bodies_over_the_apps_limit_stop_at_nginx(served: tuple[int, int, Path]) -> None:
    port, _, log = served
    status, headers, _ = get(port, "/api/v1/items", method="POST", body=b"x" * (1024 * 1024 + 1))
    assert status == 413
    assert "X-Request-ID" not in headers  # nginx answered: the app never saw it
    # Just under the limit reaches the app, which answers for itself.
    status, headers, _ = get(port, "/api/v1/items", method="POST", body=b"{}" * 500_000)
    assert status != 413
    assert "X-Request-ID" in headers
    assert "/api/v1/items" in log.read_text()


def test_the_app_believes_exactly_the_forwarded_headers_nginx_sets(
    served: tuple[int, int, Path],
) -> None:
    port, _, log = served
    # A client at another loopback address lies about its address and scheme.
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=5, source_address=("127.0.0.5", 0)
    )
    connection.request(
        "GET",
        "/health",
        headers={
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Request-ID": "forwarded-check",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200
    # nginx replaced the scheme with its own (http): no HSTS over plain HTTP.
    assert response.getheader("Strict-Transport-Security") is None
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    entry = next(line for line in lines if line.get("request_id") == "forwarded-check")
    # The app took the address nginx saw, not the one the client claimed.
    assert entry["remote_addr"] == "127.0.0.5"


def test_a_forged_loopback_host_through_nginx_opens_only_the_health_checks(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """nginx passes the client's Host on, so anyone can send `Host: localhost`;
    the app lets loopback names in for the health checks beside it (the image's,
    Kubernetes' probes), and must refuse them everywhere else, as TRUSTED_HOSTS
    asks, or a forged Host is what pages build their absolute URLs on."""
    app_port = free_port()
    env = {**production, "PROXY_COUNT": "1", "TRUSTED_HOSTS": "service.example"}
    command = gunicorn_command(default_project, app_port)
    with (
        server_process(command, default_project.path, env, app_port),
        nginx(default_project, tmp_path / "nginx", app_port) as port,
    ):
        for host in ("localhost", "127.0.0.1", f"localhost:{port}", "evil.example"):
            for path in ("/", "/auth/login", "/api/v1/items", "/no-such-page"):
                status, _, text = get(port, path, Host=host)
                assert status == 400, (host, path, text)
                assert "is not trusted" in text, (host, path)
        for host in ("localhost", "127.0.0.1"):
            assert get(port, "/health", Host=host)[0] == 200
            assert get(port, "/health/ready", Host=host)[0] == 200
        assert get(port, "/auth/login", Host="service.example")[0] == 200
        # An HTTP/1.0 request may name no host: nginx then passes none on,
        # and the app would take gunicorn's own address, 127.0.0.1, for it.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"GET /auth/login HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]


def test_forms_sent_over_https_on_another_port_are_accepted(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """Behind nginx on a port other than 443, a browser's Referer names that port;
    the app must be given the Host with it, or Flask-WTF takes the Referer for
    another site's and refuses every form sent over HTTPS."""
    certificate = (tmp_path / "cert.pem", tmp_path / "key.pem")
    files = ["-out", str(certificate[0]), "-keyout", str(certificate[1])]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", *files],
        check=True,
        capture_output=True,
    )
    default_project.run(
        "flask", "auth", "create-user", "alice", "--password", "correct horse", env=production
    )
    app_port, plain_port = free_port(), free_port()
    env = {**production, "PROXY_COUNT": "1"}
    command = gunicorn_command(default_project, app_port)
    with (
        server_process(command, default_project.path, env, app_port),
        nginx(default_project, tmp_path / "nginx", app_port, certificate, plain_port) as port,
    ):
        # Set up as deploy/nginx.conf says, plain HTTP serves no login form (a
        # password typed there would travel in clear text): it redirects.
        status, headers, _ = get(plain_port, "/auth/login?next=%2Fitems", Host="example.test")
        assert status == 301
        assert headers["Location"] == "https://example.test/auth/login?next=%2Fitems"
        assert "X-Request-ID" not in headers  # the app never saw it

        page = f"https://localhost:{port}/auth/login"

        def send(method: str, headers: dict[str, str], body: str = "") -> tuple[int, str, str]:
            connection = http.client.HTTPSConnection(
                "localhost", port, timeout=5, context=ssl._create_unverified_context()
            )
            try:
                connection.request(method, "/auth/login", body=body, headers=headers)
                response = connection.getresponse()
                cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
                return response.status, cookie, response.read().decode()
            finally:
                connection.close()

        _, cookie, text = send("GET", {})
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text)
        assert match, text
        form = urlencode(
            {"csrf_token": match.group(1), "username": "alice", "password": "correct horse"}
        )
        status, _, text = send(
            "POST",
            {
                "Cookie": cookie,
                "Referer": page,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            form,
        )
    assert status == 302, text


def test_a_second_instance_started_as_the_readme_says_listens_on_loopback_only(
    default_project: Project, production: dict[str, str]
) -> None:
    """Listening on every address, an instance is reached past nginx, where a
    client with PROXY_COUNT=1 names its own address in X-Forwarded-For and
    escapes the login limits."""
    readme = (default_project.path / "README.md").read_text()
    match = re.search(r"`gunicorn --bind 127\.0\.0\.1:8001 \"([^\"]+)\"`", readme)
    assert match, "the README shows no command for a second instance on one machine"
    port = free_port()
    command = [default_project.bin("gunicorn"), "--bind", f"127.0.0.1:{port}", match.group(1)]
    env = {**production, "PROXY_COUNT": "1"}
    with server_process(command, default_project.path, env, port):
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        # Another address of this machine (all of 127/8 is), which a socket
        # listening on every address would answer too.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=3)
