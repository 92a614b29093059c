"""Several instances of one generated service on loopback, as the scale-out tests
and benchmarks/scale_out.py run them: gunicorns behind the shipped nginx config,
sharing one PostgreSQL database and one Redis, with a Celery worker; and a
browser-like client for them."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import yaml
from helpers import Project, RedisServer, clean_environment, free_port, gunicorn_command, nginx

PASSWORD = "alice's password"


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> dict:
        return json.loads(self.text)


@dataclass
class Client:
    """A browser-like HTTP client: keeps cookies, logs in through the form and
    sends the page's CSRF token with API writes. Each test's client comes from a
    loopback address of its own, so it is a client of its own to the login limit."""

    port: int
    source: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        port: int | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port or self.port, timeout=30, source_address=(self.source, 0)
        )
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return Response(response.status, dict(response.getheaders()), text)

    def get(self, path: str, *, port: int | None = None) -> Response:
        return self.request("GET", path, port=port)

    def log_in(self, username: str, password: str, *, port: int | None = None) -> Response:
        page = self.get("/auth/login", port=port).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "username": username, "password": password}
        return self.request(
            "POST",
            "/auth/login",
            port=port,
            body=urllib.parse.urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def csrf_token(self, *, port: int | None = None) -> str:
        page = self.get("/", port=port).text
        return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)

    def api(
        self, method: str, path: str, payload: object = None, *, port: int | None = None
    ) -> Response:
        headers = {"X-CSRFToken": self.csrf_token(port=port)}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload)
        return self.request(method, f"/api/v1{path}", port=port, body=body, headers=headers)


@dataclass
class Instance:
    port: int
    logs: list[Path] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None


@dataclass
class Cluster:
    project: Project
    env: dict[str, str]
    redis: RedisServer
    folder: Path
    instances: list[Instance]
    nginx_port: int = 0
    worker: subprocess.Popen[str] | None = None
    worker_log: Path = Path()

    def start(self, index: int) -> None:
        """Start instance ``index`` and wait until it is ready."""
        instance = self.instances[index]
        log = self.folder / f"instance-{index}-{len(instance.logs)}.log"
        instance.logs.append(log)
        with log.open("w") as output:
            instance.process = subprocess.Popen(
                gunicorn_command(self.project, instance.port),
                cwd=self.project.path,
                env=clean_environment(**self.env),
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
        wait_for(lambda: self.ready(instance), f"instance {index} ready", timeout=90)

    def start_worker(self) -> None:
        """Start the Celery worker with compose.yaml's command (the README's), with
        a process per CPU here, and wait until it is ready; each run appends to
        worker_log."""
        runs = self.worker_log.read_text().count(" ready.") if self.worker_log.exists() else 0
        command = worker_service(self.project)["command"]
        with self.worker_log.open("a") as output:
            self.worker = subprocess.Popen(
                [self.project.bin(command[0]), *command[1:], "--concurrency", "2"],
                cwd=self.project.path,
                env=clean_environment(**self.env),
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )

        def started() -> bool:
            return self.worker_log.read_text().count(" ready.") > runs

        wait_for(started, "worker ready", timeout=90)

    def ready(self, instance: Instance) -> bool:
        assert instance.process is not None
        assert instance.process.poll() is None, instance.logs[-1].read_text()
        try:
            return Client(instance.port).get("/health/ready").status == 200
        except OSError:
            return False

    def stop(self, index: int) -> None:
        """SIGTERM instance ``index``; it must finish what it has and exit cleanly."""
        process = self.instances[index].process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, self.instances[index].logs[-1].read_text()

    def served(self, index: int, since: int = 0) -> int:
        """Requests instance ``index`` has logged, in its runs from ``since`` on."""
        logs = self.instances[index].logs[since:]
        return sum(log.read_text().count('"path": ') for log in logs)


def worker_service(project: Project) -> dict:
    return yaml.safe_load((project.path / "compose.yaml").read_text())["services"]["worker"]


@contextmanager
def running_cluster(
    project: Project, database_url: str, folder: Path, instances: int = 2
) -> Iterator[Cluster]:
    """``instances`` gunicorns of ``project`` (production config, 2 workers each)
    behind nginx, a Celery worker with compose's command, and a Redis of their
    own; the database is migrated and has the user alice."""
    redis = RedisServer().start()
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "c" * 64,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "PROXY_COUNT": "1",
        # The rolling restart writes as fast as one client can, far past the
        # default limits of a user's writes and items, which are not what it
        # tests; the writes are still counted, in Redis, by every instance.
        "API_WRITE_LIMIT": "1000000 per minute",
        "ITEMS_PER_USER": "1000000",
    }
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "auth", "create-user", "alice", "--password", PASSWORD, env=env)
    cluster = Cluster(
        project,
        env,
        redis,
        folder,
        [Instance(free_port()) for _ in range(instances)],
        worker_log=folder / "worker.log",
    )
    try:
        for index in range(instances):
            cluster.start(index)
        cluster.start_worker()
        ports = [instance.port for instance in cluster.instances]
        with nginx(project, folder / "nginx", ports) as port:
            cluster.nginx_port = port
            yield cluster
    finally:
        for instance in cluster.instances:
            if instance.process is not None and instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
                instance.process.wait(timeout=60)
        # A warm shutdown: the worker finishes its jobs and exits cleanly.
        if cluster.worker is not None:
            cluster.worker.send_signal(signal.SIGTERM)
            assert cluster.worker.wait(timeout=60) == 0, cluster.worker_log.read_text()
        redis.stop()
        redis.remove()
