"""The generated Dockerfile, built unchanged with podman and run, for SQLite and
PostgreSQL; and compose.yaml run with podman-compose. Base images are stood in
from Debian's packages (tests/containers.py says how, README.md says what).

All of these share one build per database per session, so they run on one
xdist worker."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from containers import Podman
from helpers import UV, PostgresServer, Project, free_port, newest_revision, render

pytestmark = pytest.mark.xdist_group("podman")


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    podman = Podman(tmp_path_factory.mktemp("podman"))
    podman.ensure_standins()
    return podman


@pytest.fixture(scope="session")
def image(
    podman: Podman, template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], tuple[Project, str]]]:
    """Builds the image of a project with the given database, once per session;
    returns the project (locked as the hook leaves it) and the image's tag."""
    built: dict[str, tuple[Project, str]] = {}

    def build(database: str) -> tuple[Project, str]:
        if database not in built:
            destination = tmp_path_factory.mktemp(f"image-{database}") / "svc"
            project = Project(render(template, destination, {"database": database}))
            subprocess.run([UV, "lock", "--quiet"], cwd=project.path, check=True)
            tag = f"localhost/flask-template-test-{database}:{uuid.uuid4().hex[:8]}"
            podman.build(project.path, tag)
            built[database] = project, tag
        return built[database]

    yield build
    for _, tag in built.values():
        podman("rmi", "--force", tag, check=False)


def get(
    port: int,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple:
    """Status, headers and body of one request to this machine's loopback."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def api_token(run: Callable[..., subprocess.CompletedProcess[str]], where: tuple[str, ...]) -> str:
    """A read-write token of a new account, made with the image's `flask` as
    the README says; ``run(*where, command...)`` runs a command in the app's
    container (podman exec, or compose exec)."""
    run(*where, "flask", "auth", "create-user", "machine", "--password", "a long password")
    created = run(*where, "flask", "auth", "create-token", "machine", "--scope", "read-write")
    return created.stdout.strip().splitlines()[-1]


def wait_for(port: int, path: str, podman: Podman, container: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if get(port, path)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            logs = podman("logs", container, check=False)
            raise AssertionError(
                f"{path} not 200 within {seconds} s:\n{logs.stdout}\n{logs.stderr}"
            )
        time.sleep(0.2)


def worker_count(pid: int) -> int:
    return len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def test_sqlite_image_migrates_serves_unprivileged_and_passes_its_healthcheck(
    podman: Podman, image: Callable[[str], tuple[Project, str]]
) -> None:
    project, tag = image("sqlite")
    volume = f"flask-template-test-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", volume)
    port = free_port()
    env = {"SECRET_KEY": "c" * 64, "PORT": str(port)}
    data = ("--volume", f"{volume}:/data")
    container = ""
    try:
        # The release step, then the service.
        migrated = podman.run_once(tag, "flask", "db", "upgrade", env=env, options=data)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        # Limited to one CPU of this machine's two: gunicorn sizes its workers so.
        container = podman.run_detached(tag, env=env, options=(*data, "--cpus", "1"))
        wait_for(port, "/health", podman, container)

        status, headers, body = get(port, "/health")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert "Server" not in headers
        status, _, body = get(port, "/health/ready")
        assert (status, json.loads(body)) == (200, {"status": "ok", "database": "ok"})
        assert get(port, "/")[0] == 200

        def inside(*command: str) -> str:
            return podman("exec", container, *command).stdout.strip()

        assert inside("id", "-u") == "10001"
        assert inside("id", "-un") == "app"
        # The database on the volume is the app user's, and it can write to it.
        head = newest_revision(project.path / "migrations/versions")
        assert f"{head} (head)" in podman("exec", container, "flask", "db", "current").stdout
        inside("flask", "auth", "create-user", "owner", "--password", "a long password")
        assert inside("stat", "-c", "%U", "/data/flask_service.sqlite") == "app"

        # The image's own HEALTHCHECK command, run inside it (podman refuses an
        # image without one).
        healthcheck = podman("healthcheck", "run", container, check=False)
        assert healthcheck.returncode == 0, healthcheck.stdout + healthcheck.stderr

        assert worker_count(podman.host_pid(container)) == 3  # 2 x 1 CPU + 1
        logs = podman("logs", container).stdout
        assert any(
            json.loads(line).get("path") == "/health/ready"
            for line in logs.splitlines()
            if line.startswith("{")
        ), logs
    finally:
        if container:
            podman.remove(container)
        podman("volume", "rm", "--force", volume, check=False)


def test_postgresql_image_runs_concurrent_release_steps_and_serves(
    podman: Podman, image: Callable[[str], tuple[Project, str]], postgres: PostgresServer
) -> None:
    _, tag = image("postgresql")
    port = free_port()
    env = {"SECRET_KEY": "d" * 64, "PORT": str(port), "DATABASE_URL": postgres.create_database()}
    # Three deploys (or replicas that migrate as they start) at once: they take
    # turns, and all succeed.
    with ThreadPoolExecutor(3) as pool:
        runs = list(
            pool.map(lambda _: podman.run_once(tag, "flask", "db", "upgrade", env=env), range(3))
        )
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    container = podman.run_detached(tag, env=env)
    try:
        wait_for(port, "/health/ready", podman, container)
        status, _, body = get(port, "/health/ready")
        assert (status, json.loads(body)) == (200, {"status": "ok", "database": "ok"})
        # The API, with its own dependencies from the lock: a token made in the
        # container reads the items; without one, a problem document.
        token = api_token(podman, ("exec", container))
        status, _, body = get(port, "/api/v1/items", headers={"Authorization": f"Bearer {token}"})
        assert (status, json.loads(body)["items"]) == (200, [])
        status, headers, _ = get(port, "/api/v1/items")
        assert (status, headers["Content-Type"]) == (401, "application/problem+json")
        assert podman("exec", container, "id", "-u").stdout.strip() == "10001"
        healthcheck = podman("healthcheck", "run", container, check=False)
        assert healthcheck.returncode == 0, healthcheck.stdout + healthcheck.stderr
        # No CPU limit: the CPUs this machine lets it use.
        assert worker_count(podman.host_pid(container)) == 2 * len(os.sched_getaffinity(0)) + 1
    finally:
        podman.remove(container)


def compose(podman: Podman, project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "podman_compose", "--project-name", project.parent.name, *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env=podman.env,
        check=False,
    )
    assert result.returncode == 0, (
        f"podman-compose {' '.join(arguments)}:\n{result.stdout}\n{result.stderr}"
    )
    return result


# Run in the app container: its address on the compose network, then whether
# gunicorn's port answers there.
PAST_NGINX = """
import socket
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect(("10.255.255.255", 9))
address = probe.getsockname()[0]
try:
    socket.create_connection((address, 8000), timeout=3).close()
    print(address, "connected")
except ConnectionRefusedError:
    print(address, "refused")
"""


def test_compose_runs_the_release_step_then_serves_through_nginx(
    podman: Podman, image: Callable[[str], tuple[Project, str]]
) -> None:
    project, _ = image("sqlite")
    (project.path / ".env").write_text("SECRET_KEY=" + "e" * 64 + "\n")
    try:
        # The release step first, as a deploy runs it (`docker compose run --rm
        # migrate`). podman-compose 1.6 on Debian's podman 4.3 does not hold the
        # app back until `migrate` completes (Docker Compose does), so `up`
        # alone would race it here.
        compose(podman, project.path, "build")
        released = compose(podman, project.path, "run", "--rm", "migrate")
        assert "Running upgrade  -> 0001" in released.stdout + released.stderr
        compose(podman, project.path, "up", "--detach")
        deadline = time.monotonic() + 90
        while True:
            try:
                if get(8000, "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = compose(podman, project.path, "logs")
                raise AssertionError(f"compose did not serve /health:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.5)

        status, headers, _ = get(8000, "/health")
        assert headers.get("Server") == "nginx"  # nginx answers, without its version
        assert get(8000, "/health/ready")[0] == 200
        status, _, page = get(8000, "/")
        assert status == 200
        stylesheet = re.search(r'href="(/static/css/app\.css\?v=\w+)"', page).group(1)
        status, headers, css = get(8000, stylesheet)
        assert status == 200
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert css == (project.path / "src/flask_service/static/css/app.css").read_text()
        assert get(8000, "/api/v1/items", "POST", b"x" * (2 * 1024 * 1024))[0] == 413

        # gunicorn listens on the app container's loopback only, where nginx
        # reaches it: on the compose network's address (what the other
        # containers, and a neighbour routing to Docker's bridge, would reach)
        # it refuses, so no one can send it X-Forwarded-For past nginx.
        outside = compose(
            podman, project.path, "exec", "-T", "app", "python", "-c", PAST_NGINX
        ).stdout.split()
        assert outside[0] != "127.0.0.1"
        assert outside[1:] == ["refused"], outside

        # The tables the release step made on the shared volume serve the app,
        # and nginx passes a bearer token through.
        token = api_token(
            lambda *command: compose(podman, project.path, *command), ("exec", "-T", "app")
        )
        created = get(
            8000,
            "/api/v1/items",
            "POST",
            json.dumps({"name": "Through nginx"}).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert created[0] == 201, created
        status, _, body = get(8000, "/api/v1/items", headers={"Authorization": f"Bearer {token}"})
        assert [item["name"] for item in json.loads(body)["items"]] == ["Through nginx"]
    finally:
        compose(podman, project.path, "down", "--volumes")
        (project.path / ".env").unlink()
