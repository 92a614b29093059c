"""gunicorn.conf.py under a real gunicorn: workers sized from the CPUs the process
may use (affinity, cgroup quota), recycled with jitter without dropping requests,
a worker still starting when the master stops not holding the stop up, no trust
in forwarded headers beyond the app's PROXY_COUNT, no Server header, bad settings
and configs other than production's refused in one line, no control socket for
instances on one machine to share."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import (
    ROOT,
    Project,
    clean_environment,
    free_port,
    gunicorn_command,
    log_of,
    server_process,
)


@contextmanager
def gunicorn_as_configured(
    project: Project, env: Mapping[str, str], *prefix: str, extra: tuple[str, ...] = ()
) -> Iterator[tuple[int, int]]:
    """gunicorn with only gunicorn.conf.py's settings (no --workers); yields its
    port and master pid. ``prefix`` wraps the command (taskset, say)."""
    port = free_port()
    command = [
        *prefix,
        project.bin("gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        *extra,
        f"{project.package}:create_app()",
    ]
    with server_process(command, project.path, env, port) as (_, process):
        yield port, process.pid


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for_workers(master: int, count: int) -> list[int]:
    deadline = time.monotonic() + 20
    while len(children(master)) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    return children(master)


def request(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_workers_default_to_the_cpus_this_process_may_use(
    default_project: Project, production: dict[str, str]
) -> None:
    cpus = len(os.sched_getaffinity(0))
    with gunicorn_as_configured(default_project, production) as (_, master):
        assert len(wait_for_workers(master, 2 * cpus + 1)) == 2 * cpus + 1
    # Pinned to one CPU (taskset): sized for one, not for the host.
    with gunicorn_as_configured(default_project, production, "taskset", "-c", "0") as (_, master):
        assert len(wait_for_workers(master, 3)) == 3
    with gunicorn_as_configured(default_project, {**production, "WEB_CONCURRENCY": "4"}) as (
        _,
        master,
    ):
        assert len(wait_for_workers(master, 4)) == 4


@contextmanager
def cpu_limited_cgroup(cpus: float) -> Iterator[Path]:
    """A real cgroup with a CPU bandwidth limit, in whichever hierarchy this
    machine mounts (v1's cpu controller, or v2 with cpu enabled); yields its
    cgroup.procs file."""
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    folder = None
    if (v1 / "cpu.cfs_quota_us").exists():
        folder = v1 / f"flask-template-test-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        (folder / "cpu.cfs_quota_us").write_text(str(int(cpus * 100_000)))
    elif "cpu" in (v2 / "cgroup.controllers").read_text().split():
        (v2 / "cgroup.subtree_control").write_text("+cpu")
        folder = v2 / f"flask-template-test-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        (folder / "cpu.max").write_text(f"{int(cpus * 100_000)} 100000")
    assert folder is not None, "no cgroup hierarchy with the cpu controller is mounted"
    try:
        yield folder / "cgroup.procs"
    finally:
        deadline = time.monotonic() + 10
        while (folder / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.1)
        folder.rmdir()


def test_workers_follow_the_cgroup_cpu_limit(
    default_project: Project, production: dict[str, str]
) -> None:
    """As in a container started with --cpus 1.5 on this 2-CPU machine: 2 CPUs' worth
    of workers (rounded up), then 1 with --cpus 0.5."""
    for cpus, expected in ((1.5, 5), (0.5, 3)):
        with cpu_limited_cgroup(cpus) as procs:
            # The shell joins the cgroup, then becomes gunicorn; workers inherit it.
            join = ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "join-cgroup"]
            with gunicorn_as_configured(default_project, production, *join) as (_, master):
                expected = min(expected, 2 * len(os.sched_getaffinity(0)) + 1)
                assert len(wait_for_workers(master, expected)) == expected


def test_workers_are_recycled_without_dropping_requests(
    default_project: Project, production: dict[str, str]
) -> None:
    requests = 4500
    with gunicorn_as_configured(default_project, production, extra=("--workers", "2")) as (
        port,
        master,
    ):
        log = Path(f"/proc/{master}/fd/1")
        before = set(wait_for_workers(master, 2))
        load = subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "load.py"),
                f"http://127.0.0.1:{port}/health",
                "--requests",
                str(requests),
                "--concurrency",
                "20",
                "--seconds",
                "150",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert '"errors": {}' in load.stdout, load.stdout
        assert f'"statuses": {{"200": {requests}}}' in load.stdout, load.stdout
        after = set(wait_for_workers(master, 2))
        restarts = log.read_text().count("Autorestarting worker after current request")
    # Each worker serves 1,000 to 1,100 requests (max_requests and its jitter),
    # then a fresh one, forked from the preloaded master, takes its place.
    assert requests // 1100 - 1 <= restarts <= requests // 1000, restarts
    assert before - after


def wait_for_new_workers(master: int, count: int, gone: set[int]) -> list[int]:
    """The master's workers once ``count`` of them run and none is in ``gone``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        workers = children(master)
        if len(workers) == count and not gone & set(workers):
            return workers
        time.sleep(0.1)
    raise AssertionError(f"workers {children(master)}, expected {count} new ones")


def test_workers_stopping_alone_leave_the_socket_serving(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """A HUP replaces every worker, TTOU removes one, and one may be sent SIGTERM
    alone: the others, and those that replace them, share the socket and go on
    serving. Only a stopping master has its workers drain it (test_scale_out.py
    restarts instances under load). A process manager that signals the workers
    as well as the master stops them just as cleanly."""
    port = free_port()
    command = gunicorn_command(default_project, port)
    with (tmp_path / "gunicorn.log").open("w+") as log:
        with server_process(command, default_project.path, production, port, log) as (
            _,
            process,
        ):
            master = process.pid
            first = set(wait_for_workers(master, 2))
            os.kill(master, signal.SIGHUP)
            replaced = wait_for_new_workers(master, 2, first)
            assert request(port, "/health")[0] == 200
            os.kill(master, signal.SIGTTOU)
            [left] = wait_for_workers(master, 1)
            assert request(port, "/health")[0] == 200
            os.kill(left, signal.SIGTERM)
            wait_for_new_workers(master, 1, {left, *replaced})
            assert request(port, "/health")[0] == 200
            # As systemd's default KillMode does: every process at once.
            for pid in (master, *children(master)):
                os.kill(pid, signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        output = log_of(log)
    assert "Traceback" not in output
    assert "Exception ignored" not in output


def test_a_worker_booting_as_the_master_stops_does_not_hold_it_up(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """Until gunicorn gives a new worker its own signal handlers, the worker has
    the master's, which take SIGTERM as the master's own and do nothing with it.
    A worker forked just as the master began to stop served on, and the master
    waited its whole graceful_timeout (30 s) before killing it: a rolling restart
    stalled now and then. Here every worker boots slowly, so the SIGTERM lands in
    that window each time."""
    settings = tmp_path / "slow_boot.conf.py"
    settings.write_text(
        f"exec(open({str(default_project.path / 'gunicorn.conf.py')!r}).read())\n"
        "import time\n"
        "_post_fork = post_fork\n"
        "def post_fork(server, worker):\n"
        "    _post_fork(server, worker)\n"
        "    time.sleep(1)\n"
    )
    port = free_port()
    command = [*gunicorn_command(default_project, port, workers=1), "--config", str(settings)]
    with (tmp_path / "gunicorn.log").open("w+") as log:
        with server_process(command, default_project.path, production, port, log) as (
            _,
            process,
        ):
            master = process.pid
            os.kill(master, signal.SIGTTIN)  # one more worker, booting for a second
            wait_for_workers(master, 2)
            os.kill(master, signal.SIGTERM)
            started = time.monotonic()
            assert process.wait(timeout=60) == 0
            stopped_after = time.monotonic() - started
        output = log_of(log)
    assert stopped_after < 15, output  # not graceful_timeout's 30 s
    assert "Traceback" not in output


def test_no_server_header_and_no_forwarded_trust_without_proxy_count(
    default_project: Project, production: dict[str, str]
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    # Gunicorn maps a SCRIPT_NAME header, from a proxy it trusts, to the app's mount point.
    mounted = {"SCRIPT_NAME": "/evil"}
    with gunicorn_as_configured(default_project, production) as (port, _):
        status, headers, _ = request(port, "/", https)
        assert status == 200
        assert "Server" not in headers
        # A client on this very machine is still not a proxy with PROXY_COUNT=0.
        assert "Strict-Transport-Security" not in headers
        assert request(port, "/evil/", mounted)[0] == 404

    # The same client against gunicorn's own default (trusting 127.0.0.1) is believed:
    # that is what the configuration prevents.
    with gunicorn_as_configured(
        default_project, production, extra=("--forwarded-allow-ips", "127.0.0.1")
    ) as (port, _):
        assert "Strict-Transport-Security" in request(port, "/", https)[1]
        status, _, page = request(port, "/evil/", mounted)
        assert status == 200
        assert 'href="/evil/static/' in page


def test_proxy_count_alone_decides_which_forwarded_headers_count(
    default_project: Project, production: dict[str, str]
) -> None:
    with gunicorn_as_configured(default_project, {**production, "PROXY_COUNT": "1"}) as (
        port,
        _,
    ):
        _, headers, _ = request(port, "/", {"X-Forwarded-Proto": "https"})
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        _, headers, _ = request(port, "/", {"X-Forwarded-Proto": "http"})
        assert "Strict-Transport-Security" not in headers


def test_zero_web_concurrency_is_refused_with_the_fix(
    default_project: Project, production: dict[str, str]
) -> None:
    result = check_config(default_project, production, WEB_CONCURRENCY="0")
    assert result.returncode != 0
    assert "WEB_CONCURRENCY=0 leaves no worker" in result.stderr


def test_a_web_concurrency_gunicorn_cannot_read_is_explained_in_the_readme(
    default_project: Project, production: dict[str, str]
) -> None:
    """gunicorn reads WEB_CONCURRENCY itself (``int(os.environ.get(...))`` as its
    config module is imported), before gunicorn.conf.py or any code of the
    project runs: a value that is not a whole number gives a traceback nothing
    generated can turn into one line. The generated README's settings table
    says what its last line is, and this holds the README to gunicorn."""
    result = check_config(default_project, production, WEB_CONCURRENCY="abc")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == "ValueError: invalid literal for int() with base 10: 'abc'"
    readme = " ".join((default_project.path / "README.md").read_text().split())
    assert f"whose last line is `{last}`" in readme


def refusal(project: Project, env: Mapping[str, str], *args: str, cwd: Path | None = None) -> str:
    """What gunicorn says on stderr as it refuses to start; fails if it starts."""
    result = subprocess.run(
        [project.bin("gunicorn"), *args],
        cwd=cwd or project.path,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # The generated test_gunicorn.py tries more values, in-process.
        ("PORT", "99999", "PORT='99999' is not a TCP port: set 1 to 65535"),
        ("PORT", "abc", "PORT='abc' is not a TCP port"),
        ("APP_ENV", "testing", "APP_ENV='testing' is not for gunicorn"),
    ],
)
def test_a_bad_setting_stops_gunicorn_in_one_line(
    default_project: Project, production: dict[str, str], variable: str, value: str, message: str
) -> None:
    """No --bind, so gunicorn would bind to PORT; the line is all it says."""
    stderr = refusal(
        default_project, {**production, variable: value}, f"{default_project.package}:create_app()"
    )
    assert stderr.startswith(message)
    assert stderr.count("\n") == 1


def test_an_app_loaded_in_another_config_is_refused(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """APP_ENV from .env (which the app reads, in the working folder or above it),
    a config named in the command, FLASK_DEBUG: the preloaded app shows them."""
    bind = ("--bind", f"127.0.0.1:{free_port()}")
    package = default_project.package
    testing = refusal(default_project, production, *bind, f"{package}:create_app('testing')")
    assert "The app has TESTING on, so it is not for gunicorn" in testing
    debug = refusal(
        default_project, {**production, "FLASK_DEBUG": "1"}, *bind, f"{package}:create_app()"
    )
    assert "The app has DEBUG on, so it is not for gunicorn" in debug
    # Served from another folder, whose .env chooses development.
    (tmp_path / ".env").write_text("APP_ENV=development\n")
    without_app_env = {key: value for key, value in production.items() if key != "APP_ENV"}
    settings = ("--config", str(default_project.path / "gunicorn.conf.py"))
    dotenv = refusal(
        default_project, without_app_env, *settings, *bind, f"{package}:create_app()", cwd=tmp_path
    )
    assert "The app has DEBUG on, so it is not for gunicorn" in dotenv


def test_instances_on_one_machine_share_no_control_socket(
    default_project: Project, production: dict[str, str], tmp_path: Path
) -> None:
    """Gunicorn 27's default: one control socket per user, which the second
    instance takes over and either one deletes as it stops."""
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir()
    sockets = (home / ".gunicorn" / "gunicorn.ctl", runtime / "gunicorn.ctl")
    env = {**production, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    one_worker = ("--workers", "1")
    with (
        gunicorn_as_configured(default_project, env, extra=one_worker),
        gunicorn_as_configured(default_project, env, extra=one_worker),
    ):
        time.sleep(1)  # the control socket opens once the workers have started
        assert not any(socket.exists() for socket in sockets)

    # Gunicorn's own default, without gunicorn.conf.py, opens one: the test sees it.
    with gunicorn_as_configured(default_project, env, extra=("--config", "/dev/null")):
        deadline = time.monotonic() + 10
        while not sockets[1].exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sockets[1].exists()


def check_config(
    project: Project, production: dict[str, str], **environment: str
) -> subprocess.CompletedProcess[str]:
    """`gunicorn --check-config` of the project's app, with these variables."""
    return subprocess.run(
        [project.bin("gunicorn"), "--check-config", f"{project.package}:create_app()"],
        cwd=project.path,
        env=clean_environment(**production, **environment),
        capture_output=True,
        text=True,
        timeout=60,
    )
