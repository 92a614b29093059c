"""Scale-out on one machine, all on loopback: two instances of one generated service
(PostgreSQL, accounts, API, Celery jobs) under gunicorn behind the shipped
deploy/nginx.conf, sharing one PostgreSQL and one Redis, with a real Celery worker.

Sessions and login limits (counted in Redis) are shared across instances;
concurrent migrations take turns; jobs queued through either instance run on the
worker, survive its processes' deaths and a PostgreSQL restart, stop at their
time limit, and are finished by a worker stopped mid-job; restarting the
instances one at a time under reads and writes fails no request; a Redis outage
degrades as the generated README documents (jobs refused, login limits counted
in the database) and recovers by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from cluster import (
    PASSWORD,
    Client,
    Cluster,
    Response,
    running_cluster,
    wait_for,
    worker_service,
)
from helpers import ROOT, PostgresServer, Project, clean_environment, render

pytestmark = pytest.mark.xdist_group("scale-out")

ANSWERS = {"database": "postgresql", "jobs": "celery"}
LOAD = ROOT / "tests" / "load.py"


@pytest.fixture(scope="module")
def cluster(
    template: Path, tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scale-out")
    project = Project(render(template, folder / "svc", ANSWERS)).install()
    with running_cluster(project, postgres.create_database(), folder) as cluster:
        yield cluster


def test_three_upgrades_at_once_on_an_empty_database_all_succeed(
    cluster: Cluster, postgres: PostgresServer
) -> None:
    env = {**cluster.env, "DATABASE_URL": postgres.create_database()}
    upgrades = [
        subprocess.Popen(
            [cluster.project.bin("flask"), "db", "upgrade"],
            cwd=cluster.project.path,
            env=clean_environment(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    for upgrade in upgrades:
        output, _ = upgrade.communicate(timeout=120)
        assert upgrade.returncode == 0, output
    current = cluster.project.run("flask", "db", "current", env=env).stdout
    assert current.split() == ["0004", "(head)"], current
    cluster.project.run("flask", "db", "check", env=env)


def test_a_session_made_on_one_instance_works_on_the_other(cluster: Cluster) -> None:
    first, second = (instance.port for instance in cluster.instances)
    client = Client(first, source="127.0.0.11")
    assert client.log_in("alice", PASSWORD).status == 302
    for port in (second, first, cluster.nginx_port):
        account = client.get("/auth/account", port=port)
        assert account.status == 200, port
        assert "alice</a>" in account.text


# Prints the count that the query in argv[2] gives in the database in argv[1].
COUNT = """
import sys
import psycopg

with psycopg.connect(sys.argv[1]) as connection:
    print(connection.execute(sys.argv[2]).fetchone()[0])
"""
LOGIN_ATTEMPTS = "SELECT count(*) FROM login_attempts"


def rows_in_the_database(cluster: Cluster, query: str = LOGIN_ATTEMPTS) -> int:
    url = cluster.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    return int(cluster.project.run("python", "-c", COUNT, url, query).stdout)


def counts_in_redis(cluster: Cluster) -> int:
    reply = cluster.redis.command("KEYS", "login-attempts:*")
    assert reply.startswith(b"*"), reply
    return int(reply[1 : reply.index(b"\r\n")])


def test_the_login_limit_is_counted_once_across_both_instances(cluster: Cluster) -> None:
    ports = [instance.port for instance in cluster.instances]
    client = Client(ports[0], source="127.0.0.12")
    # 10 a minute for one client address: alternating between the instances'
    # four worker processes, the 11th attempt is refused wherever it lands.
    # (A name of its own each time, so that only the address's limit counts.)
    statuses = [client.log_in(f"guess-{n}", "wrong", port=ports[n % 2]).status for n in range(10)]
    assert statuses == [200] * 10
    assert client.log_in("guess-10", "wrong", port=ports[0]).status == 429
    assert client.log_in("alice", PASSWORD, port=ports[1]).status == 429
    # Another client is not affected.
    assert Client(ports[1], source="127.0.0.13").log_in("alice", PASSWORD).status == 302
    # REDIS_URL holds the counts; the database writes none.
    assert counts_in_redis(cluster) > 0
    assert rows_in_the_database(cluster) == 0


def test_the_account_limit_is_counted_once_across_both_instances(cluster: Cluster) -> None:
    cluster.project.run(
        "flask", "auth", "create-user", "bob", "--password", PASSWORD, env=cluster.env
    )
    ports = [instance.port for instance in cluster.instances]
    # 10 in 15 minutes for one username, from any address: ten guessers, each
    # on an address of its own, take turns on the instances...
    statuses = [
        Client(ports[n % 2], source=f"127.0.1.{n}").log_in("bob", "wrong").status for n in range(10)
    ]
    assert statuses == [200] * 10
    # ...and then even the right password, from yet another address, waits,
    # as does a username nobody has, once it has had as many tries.
    assert Client(ports[1], source="127.0.1.10").log_in("bob", PASSWORD).status == 429
    unknown = [
        Client(ports[n % 2], source=f"127.0.2.{n}").log_in("nobody", "wrong").status
        for n in range(11)
    ]
    assert unknown == [200] * 10 + [429]
    assert rows_in_the_database(cluster) == 0


def finished_export(client: Client, location: str, port: int, timeout: float = 60) -> dict:
    status: dict = {}

    def finished() -> bool:
        nonlocal status
        status = client.get(location, port=port).json()
        return status["status"] in ("succeeded", "failed")

    wait_for(finished, f"export {location} finished", timeout)
    return status


def test_jobs_queued_through_either_instance_run_on_the_worker(cluster: Cluster) -> None:
    first, second = (instance.port for instance in cluster.instances)
    client = Client(cluster.nginx_port, source="127.0.0.14")
    assert client.log_in("alice", PASSWORD).status == 302
    assert client.api("POST", "/items", {"name": "=2+3", "description": "from a"}).status == 201
    for queued_on, asked_on in ((first, second), (second, first)):
        response = client.api("POST", "/exports", {}, port=queued_on)
        assert response.status == 202, response.text
        location = response.headers["Location"]
        assert re.fullmatch(r"/api/v1/exports/\d+", location)
        export = finished_export(client, location, asked_on)
        assert export["status"] == "succeeded", export
        assert export["progress"] == 100
        download = client.get(export["download_url"], port=cluster.nginx_port)
        assert download.status == 200
        assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert '"\'=2+3","from a"' in download.text
    worker_log = cluster.worker_log.read_text()
    assert worker_log.count("export_items") >= 4, worker_log  # received and succeeded, twice


# Holds an exclusive lock on the items table until its standard input closes, so
# an export that reads them waits.
LOCK_ITEMS = """
import sys
import psycopg

with psycopg.connect(sys.argv[1]) as connection:
    connection.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def items_locked(cluster: Cluster) -> Iterator[None]:
    """Hold the items table locked, so that an export's job waits, running, until
    the block ends."""
    url = cluster.env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    lock = subprocess.Popen(
        [cluster.project.bin("python"), "-c", LOCK_ITEMS, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert lock.stdout is not None
        assert lock.stdout.readline() == "locked\n"
        yield
    finally:
        lock.communicate(timeout=30)


def queue_export(client: Client) -> str:
    """Ask for an export of the client's items: its URL."""
    queued = client.api("POST", "/exports", {})
    assert queued.status == 202, queued.text
    return queued.headers["Location"]


def test_a_job_whose_worker_process_dies_runs_again(cluster: Cluster) -> None:
    client = Client(cluster.nginx_port, source="127.0.0.20")
    assert client.log_in("alice", PASSWORD).status == 302
    with items_locked(cluster):
        location = queue_export(client)
        wait_for(lambda: client.get(location).json()["status"] == "running", "export running")
        kill_pool_processes(cluster)
    export = finished_export(client, location, cluster.nginx_port)
    assert (export["status"], export["attempts"]) == ("succeeded", 2), export


def kill_pool_processes(cluster: Cluster) -> None:
    """SIGKILL every pool process of the worker (as the kernel's out-of-memory
    killer would), and wait until the worker has noticed."""
    assert cluster.worker is not None
    master = cluster.worker.pid
    losses = cluster.worker_log.read_text().count("WorkerLostError")
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        os.kill(int(child), signal.SIGKILL)

    def noticed() -> bool:
        return cluster.worker_log.read_text().count("WorkerLostError") > losses

    wait_for(noticed, "loss noticed")


def test_a_job_whose_worker_processes_keep_dying_fails(cluster: Cluster) -> None:
    """Each death delivers the job again at once: a job that killed every process
    it ran in would take one after another. Its third start fails it instead."""
    client = Client(cluster.nginx_port, source="127.0.0.23")
    assert client.log_in("alice", PASSWORD).status == 302
    with items_locked(cluster):
        location = queue_export(client)
        for attempt in (1, 2):

            def started(attempt: int = attempt) -> bool:
                status = client.get(location).json()
                return (status["status"], status["attempts"]) == ("running", attempt)

            wait_for(started, f"export started ({attempt})")
            kill_pool_processes(cluster)
        # Failed at once, with the items still locked.
        export = finished_export(client, location, cluster.nginx_port)
    assert (export["status"], export["attempts"]) == ("failed", 2), export
    assert export["error"] == "The export was interrupted too often; please try again later."
    assert "its worker process died 2 times" in cluster.worker_log.read_text()


def test_a_worker_stopped_mid_job_finishes_it_first(cluster: Cluster) -> None:
    """SIGTERM, as compose and Kubernetes stop a worker: a warm shutdown, which
    waits for the running job (their grace periods outlast its time limit)
    and exits cleanly, rather than leave it to Redis's visibility_timeout."""
    client = Client(cluster.nginx_port, source="127.0.0.24")
    assert client.log_in("alice", PASSWORD).status == 302
    worker = cluster.worker
    assert worker is not None
    with items_locked(cluster):
        location = queue_export(client)
        wait_for(lambda: client.get(location).json()["status"] == "running", "export running")
        worker.send_signal(signal.SIGTERM)
        time.sleep(3)
        assert worker.poll() is None, "the worker left its job"
    assert worker.wait(timeout=60) == 0, cluster.worker_log.read_text()
    export = client.get(location).json()
    assert (export["status"], export["attempts"]) == ("succeeded", 1), export
    cluster.start_worker()


def test_a_postgresql_restart_under_a_running_export_retries_it(
    cluster: Cluster, postgres: PostgresServer
) -> None:
    """The restart ends the job's query, and the job, retrying, finds the server
    still down as it records that: it must retry all the same (on a pooled
    connection that pool_pre_ping replaces), not leave the export running."""
    client = Client(cluster.nginx_port, source="127.0.0.22")
    assert client.log_in("alice", PASSWORD).status == 302
    with items_locked(cluster):
        try:
            location = queue_export(client)
            wait_for(lambda: client.get(location).json()["status"] == "running", "export running")
            postgres.stop()
            time.sleep(3)
        finally:
            postgres.start()
    # The first retry waits EXPORT_RETRY_SECONDS (10 s).
    export = finished_export(client, location, cluster.nginx_port)
    assert (export["status"], export["attempts"]) == ("succeeded", 2), export
    assert "database error, trying again" in cluster.worker_log.read_text()
    for instance in cluster.instances:
        wait_for(partial(cluster.ready, instance), "instance ready again")


# Queues an export for alice, as an app whose settings have time limits of
# argv[1] (soft) and argv[2] (hard) seconds; prints its id. (The limits travel
# in the job's message, from the app that queued it.)
QUEUE_WITH_TIME_LIMITS = """
import sys
from {package} import create_app
from {package}.config import ProductionConfig
from {package}.extensions import db
from {package}.jobs import enqueue
from {package}.jobs.exports import export_items
from {package}.models import Export, User

class Limited(ProductionConfig):
    CELERY_TASK_SOFT_TIME_LIMIT = int(sys.argv[1])
    CELERY_TASK_TIME_LIMIT = int(sys.argv[2])

app = create_app(Limited)
with app.test_request_context():
    alice = db.session.scalars(db.select(User).filter_by(username="alice")).one()
    export = Export(owner_id=alice.id)
    db.session.add(export)
    db.session.commit()
    enqueue(export_items, export.id)
    print(export.id)
"""


WAITING_FOR_A_LOCK = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"


def test_a_job_past_its_time_limit_fails_and_frees_its_worker_process(cluster: Cluster) -> None:
    """CELERY_TASK_SOFT_TIME_LIMIT interrupts a job waiting on the database (in
    psycopg, for a lock), which marks its export failed and has its query
    cancelled: without a limit it held its worker process until the lock
    went, and one running past the visibility_timeout ran twice; with one,
    its connection, still awaiting the query, refused to roll back, and the
    export stayed running."""
    client = Client(cluster.nginx_port, source="127.0.0.21")
    assert client.log_in("alice", PASSWORD).status == 302
    with items_locked(cluster):
        script = QUEUE_WITH_TIME_LIMITS.format(package=cluster.project.package)
        queued = cluster.project.run("python", "-c", script, "3", "60", env=cluster.env)
        location = f"/api/v1/exports/{int(queued.stdout)}"
        # Stopped by the soft limit, with the lock still held, and not run again.
        export = finished_export(client, location, cluster.nginx_port, timeout=30)
        assert (export["status"], export["attempts"]) == ("failed", 1), export
        assert export["error"] == (
            "The export took too long and was stopped; please try again later."
        )
        # Its query was cancelled: nothing waits for the lock any more.
        wait_for(
            lambda: rows_in_the_database(cluster, WAITING_FOR_A_LOCK) == 0,
            "the interrupted query cancelled",
            timeout=10,
        )
    # The worker's processes take the next jobs, on sound connections.
    for _ in range(3):
        export = finished_export(client, queue_export(client), cluster.nginx_port)
        assert export["status"] == "succeeded", export
    log = cluster.worker_log.read_text()
    assert "Soft time limit (3s) exceeded" in log, log
    assert "another command is already in progress" not in log, log


def test_the_workers_compose_healthcheck_passes(cluster: Cluster) -> None:
    kind, command = worker_service(cluster.project)["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # As the container's shell runs it: compose turns $$ into $, HOSTNAME is the
    # container's, and the image's venv is on PATH.
    venv = str(Path(cluster.project.bin("celery")).parent)
    env = {**cluster.env, "HOSTNAME": socket.gethostname(), "PATH": f"{venv}:{os.environ['PATH']}"}
    check = subprocess.run(
        ["sh", "-c", command.replace("$$", "$")],
        cwd=cluster.project.path,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "pong" in check.stdout


def load(
    url: str, client: Client, *, method: str = "GET", body: str | None = None
) -> subprocess.Popen[str]:
    """tests/load.py against ``url`` with the client's cookies and CSRF token, until
    SIGTERM (or 120 s)."""
    command = [sys.executable, str(LOAD), url, "--requests", "1000000", "--seconds", "120"]
    command += ["--concurrency", "6", "--method", method]
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    command += ["--header", f"Cookie: {cookie}", "--header", f"X-CSRFToken: {client.csrf_token()}"]
    if body is not None:
        command += ["--body", body, "--header", "Content-Type: application/json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def test_a_rolling_restart_under_reads_and_writes_fails_no_request(cluster: Cluster) -> None:
    client = Client(cluster.nginx_port, source="127.0.0.15")
    assert client.log_in("alice", PASSWORD).status == 302
    base = f"http://127.0.0.1:{cluster.nginx_port}/api/v1/items"
    reads = load(base, client)
    writes = load(base, client, method="POST", body='{"name": "written during the restart"}')
    runs_before = [len(instance.logs) for instance in cluster.instances]
    try:
        time.sleep(2)
        started = time.monotonic()
        for index in (0, 1):
            cluster.stop(index)
            cluster.start(index)
        restart = time.monotonic() - started
        time.sleep(2)
    finally:
        for run in (reads, writes):
            run.send_signal(signal.SIGTERM)
    outcomes = {}
    for name, run in (("reads", reads), ("writes", writes)):
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 0
        outcomes[name] = json.loads(output)
    print(f"rolling restart: {restart:.1f} s; {json.dumps(outcomes)}")
    assert outcomes["reads"]["errors"] == {}, outcomes
    assert set(outcomes["reads"]["statuses"]) == {"200"}, outcomes
    assert outcomes["writes"]["errors"] == {}, outcomes
    assert set(outcomes["writes"]["statuses"]) == {"201"}, outcomes
    # The load went on through both restarts, and both new instances took part.
    assert outcomes["reads"]["sent"] > 50
    assert outcomes["writes"]["sent"] > 20
    for index, runs in enumerate(runs_before):
        assert cluster.served(index, since=runs) > 0


def test_a_redis_outage_degrades_as_documented_and_recovers(cluster: Cluster) -> None:
    first, second = (instance.port for instance in cluster.instances)
    client = Client(cluster.nginx_port, source="127.0.0.16")
    assert client.log_in("alice", PASSWORD).status == 302
    location = queue_export(client)
    before = finished_export(client, location, cluster.nginx_port)

    cluster.redis.stop()
    seen: list[int] = []
    # Jobs are refused as unavailable, with a time to retry, and leave nothing.
    refused = client.api("POST", "/exports", {})
    seen.append(refused.status)
    assert refused.status == 503, refused.text
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == 503
    # Everything that needs no Redis goes on.
    for path in ("/health/ready", location, "/api/v1/items", "/auth/account"):
        response = client.get(path)
        seen.append(response.status)
        assert response.status == 200, (path, response.text)
    assert client.get(before["download_url"]).status == 200
    assert client.api("POST", "/items", {"name": "written during the outage"}).status == 201
    # Login attempts are counted in the database instead: logins work, and a
    # guesser is stopped after exactly 10 tries, whichever instance each lands on.
    guesser = Client(first, source="127.0.0.17")
    ports = [first, second]
    guesses = [guesser.log_in(f"guess-{n}", "wrong", port=ports[n % 2]).status for n in range(11)]
    seen += guesses
    assert guesses == [200] * 10 + [429], guesses
    assert rows_in_the_database(cluster) > 0
    assert Client(second, source="127.0.0.18").log_in("alice", PASSWORD).status == 302
    assert 500 not in seen
    # Each worker process warned once that Redis was unreachable, not once per attempt.
    for instance in cluster.instances:
        log = instance.logs[-1].read_text()
        assert 0 < log.count("Redis unreachable for login limits") <= 2, log

    cluster.redis.start()
    # Queuing works again, and the worker, which reconnects by itself, runs it.
    accepted: list[Response] = []

    def accepted_again() -> bool:
        response = client.api("POST", "/exports", {})
        assert response.status in (202, 503), response.text
        if response.status == 202:
            accepted.append(response)
        return bool(accepted)

    wait_for(accepted_again, "exports accepted again after Redis came back")
    location = accepted[0].headers["Location"]
    # The worker reconnects by itself, but Celery 5.7.0's exits instead when one of
    # its pool processes died since it started (as the kill test's did): kombu
    # 5.7.0 raises ValueError for the dead process's descriptor, which the pool
    # does not catch. Its supervisor (compose's restart policy, Kubernetes) starts
    # it again, as here; the job waits in Redis meanwhile.
    worker = cluster.worker
    assert worker is not None

    def ran_or_worker_stopped() -> bool:
        status = client.get(location, port=cluster.nginx_port).json()["status"]
        return status in ("succeeded", "failed") or worker.poll() is not None

    wait_for(ran_or_worker_stopped, "the export finished, or the worker stopped")
    if worker.poll() is not None:
        log = cluster.worker_log.read_text()
        assert "Unrecoverable error: ValueError('file descriptor is None')" in log, log
        assert worker.returncode != 0, "a supervisor restarting on failure must see one"
        cluster.start_worker()
    after = finished_export(client, location, cluster.nginx_port)
    assert after["status"] == "succeeded", after

    # Login attempts are counted in Redis again, by each process within a few
    # seconds, and no longer in the database. (A new address and name for each
    # attempt, so that no limit is reached.)
    probes = (Client(first, source=f"127.0.3.{n}") for n in range(1, 250))
    names = (f"probe-waiting-{n}" for n in range(250))
    keys = counts_in_redis(cluster)

    def counted_in_redis() -> bool:
        port = ports[int(time.monotonic()) % 2]
        assert next(probes).log_in(next(names), "wrong", port=port).status == 200
        return counts_in_redis(cluster) > keys

    wait_for(counted_in_redis, "login attempts counted in Redis again", timeout=30)
    time.sleep(6)  # every process has tried Redis again by now
    rows, keys = rows_in_the_database(cluster), counts_in_redis(cluster)
    for n, port in enumerate(ports * 2):
        assert next(probes).log_in(f"probe-{n}", "wrong", port=port).status == 200
    assert rows_in_the_database(cluster) == rows
    # Twelve new counts (two windows for each address, one for each name), less
    # any of the earlier ones whose windows ended meanwhile.
    assert counts_in_redis(cluster) > keys
    assert Client(second, source="127.0.0.18").log_in("alice", PASSWORD).status == 302
