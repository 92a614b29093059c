"""Gunicorn settings, read from the working directory by `gunicorn`.

Gunicorn binds to 127.0.0.1:8000, or to 0.0.0.0:$PORT when PORT is set (as in
the container image). It is meant to sit behind a buffering reverse proxy such
as deploy/nginx.conf: its workers serve one request at a time and must never
wait on a slow client. It serves the production config only.
"""

import ctypes
import gc
import math
import mmap
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker


def cgroup_cpu_limit() -> float | None:
    """How many CPUs' worth of time this process's cgroups allow, or None.

    Reads the CPU bandwidth limit (`docker run --cpus`, Kubernetes CPU limits)
    of cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us) for this process's cgroup
    and every parent up to the mount's root; the tightest one applies.
    """
    try:
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:  # not Linux, or no /proc
        return None
    limits = []
    for mount in mounts:
        fields = mount.split()
        kind, options = fields[fields.index("-") + 1], fields[-1].split(",")
        mount_root, mount_point = fields[3], fields[4]
        for membership in memberships:
            _, controllers, path = membership.split(":", 2)
            read = limit_reader(kind, options, controllers)
            if read is None:
                continue
            relative = os.path.relpath(path, mount_root)
            if relative.startswith(".."):
                continue  # this mount shows another part of the hierarchy
            folder = Path(mount_point, relative)
            while True:
                limits.append(read(folder))
                if folder == Path(mount_point):
                    break
                folder = folder.parent
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def limit_reader(
    kind: str, options: list[str], controllers: str
) -> Callable[[Path], float | None] | None:
    """How to read a CPU limit where a cgroup mount meets a membership line."""
    if kind == "cgroup2" and not controllers:
        return cpu_max
    if kind == "cgroup" and "cpu" in options and "cpu" in controllers.split(","):
        return cfs_quota
    return None


def cpu_max(folder: Path) -> float | None:
    """cgroup v2: "max 100000" (no limit) or "QUOTA PERIOD" in microseconds."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except OSError:
        return None
    return None if quota == "max" else int(quota) / int(period)


def cfs_quota(folder: Path) -> float | None:
    """cgroup v1: cpu.cfs_quota_us is -1 without a limit."""
    try:
        quota = (folder / "cpu.cfs_quota_us").read_text()
        period = (folder / "cpu.cfs_period_us").read_text()
    except OSError:
        return None
    return None if int(quota) <= 0 else int(quota) / int(period)


def usable_cpus() -> int:
    """The CPUs this process may run on (affinity), capped by its cgroup's quota:
    in a container limited to 1 CPU on a 64-core host, 1, not 64."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return cpus


def configured_workers() -> int:
    """WEB_CONCURRENCY, or (2 x usable CPUs) + 1 without it.

    Gunicorn 23 to 27 read WEB_CONCURRENCY themselves as they start, before
    this file, and stop with a traceback on one that is not a whole number;
    whichever reads it first, no such value starts a server.
    """
    setting = os.environ.get("WEB_CONCURRENCY")
    if setting is None:
        return 2 * usable_cpus() + 1
    try:
        count = int(setting)
    except ValueError:
        raise SystemExit(
            f"WEB_CONCURRENCY={setting!r} is not a number of workers: set a whole"
            " number, 1 or more (for example WEB_CONCURRENCY=4), or unset it for"
            " 2 x CPUs + 1."
        ) from None
    if count < 1:
        raise SystemExit(
            f"WEB_CONCURRENCY={setting} leaves no worker to serve requests: set 1 or"
            " more (for example WEB_CONCURRENCY=4), or unset it for 2 x CPUs + 1."
        )
    return count


def check_port() -> None:
    """Refuse a PORT that gunicorn cannot bind (it would stop with a traceback),
    and 0, which binds a random port that no proxy knows."""
    setting = os.environ.get("PORT")
    if setting is None:
        return
    if not (setting.isascii() and setting.isdigit() and 1 <= int(setting) <= 65535):
        raise SystemExit(
            f"PORT={setting!r} is not a TCP port: set 1 to 65535 (for example"
            " PORT=8000), or unset it to listen on 127.0.0.1:8000."
        )


# Served by gunicorn, the testing config would sign sessions with its public
# key, whatever SECRET_KEY says, without CSRF or login limits: anyone could
# forge a session for any account. Development's is as unsafe.
NOT_FOR_GUNICORN = (
    " is not for gunicorn, which serves production only: `flask run --debug`"
    " serves development, and the tests create the testing config in-process."
)


def check_app_env() -> None:
    """Refuse an APP_ENV other than production (unset or empty means production,
    as for the app)."""
    setting = os.environ.get("APP_ENV") or "production"
    if setting != "production":
        raise SystemExit(
            f"APP_ENV={setting!r}{NOT_FOR_GUNICORN} Unset APP_ENV, or set it to"
            " production."
        )


def on_starting(server: Any) -> None:
    refuse_apps_not_for_production(server)
    tell_workers_when_stopping(server)


def refuse_apps_not_for_production(server: Any) -> None:
    """Refuse a preloaded app that is not in production's config after all:
    APP_ENV from .env, which the app reads and this file does not, a config
    named in the command (create_app("testing")), or FLASK_DEBUG."""
    config = getattr(getattr(server.app, "callable", None), "config", {})
    if config.get("TESTING") or config.get("DEBUG"):
        raise SystemExit(
            f"The app has {'TESTING' if config.get('TESTING') else 'DEBUG'} on, so it"
            f"{NOT_FOR_GUNICORN} Check APP_ENV (in .env too) and FLASK_DEBUG, and"
            " create the app with create_app()."
        )


def tell_workers_when_stopping(server: Any) -> None:
    """Mark, in memory the master shares with every worker it forks, that the
    master is stopping, before it sends its workers SIGTERM.

    A worker also gets SIGTERM when only it stops (a HUP replaces the workers,
    TTOU removes one) while others go on serving from the same socket: it must
    then not drain the socket (see post_worker_init). The mark lives on the
    server, which a HUP keeps, not in this file, which a HUP reads again.
    """
    server.stopping = mmap.mmap(-1, 1)
    stop = server.stop

    def stop_and_tell_workers(graceful: bool = True) -> None:
        server.stopping[0] = 1
        stop(graceful)

    server.stop = stop_and_tell_workers


check_app_env()
check_port()


# Sync workers, one request each at a time: simple, and fast for a service
# whose requests are short and bound by CPU and its database. They need a
# buffering proxy in front (nginx reads whole requests from slow clients and
# takes whole responses), or a handful of slow clients occupies them all.
# Switch to "gthread" with `threads` only if views wait long on other services.
worker_class = "sync"
# Gunicorn's advice for sync workers: (2 x CPUs) + 1, counting the CPUs this
# container or cgroup may use, not the host's. WEB_CONCURRENCY overrides it.
workers = configured_workers()
# A worker silent this long is killed and replaced; the proxy's read timeout
# (60 s in deploy/nginx.conf) is longer, so the client gets a clean 502.
timeout = 30
# On SIGTERM, give in-flight requests, and the connections already waiting for
# a worker (see post_worker_init), this long to finish.
graceful_timeout = 30
# Recycle each worker after 1,000 to 1,100 requests, bounding slow memory
# growth; the jitter keeps workers from restarting all at once.
max_requests = 1000
max_requests_jitter = 100
# Load the app once, in the master, and fork workers from it: a worker starts,
# or replaces a recycled one, in milliseconds instead of importing the app again
# (seconds of CPU each time), and the workers share the app's memory. The cost:
# new code needs a restart; a HUP reloads the configuration only.
preload_app = True
# The app itself writes the access log to stdout, one line per request with its
# request id (JSON in production); gunicorn's own would repeat every line.
accesslog = None
# Gunicorn believes no proxy: the app's PROXY_COUNT decides, in one place, how
# many X-Forwarded-For/-Proto hops to trust (Werkzeug's ProxyFix). Gunicorn's
# default would trust those headers, and SCRIPT_NAME sent as a header, from
# any client on 127.0.0.1, even with PROXY_COUNT=0.
forwarded_allow_ips = ""
# Gunicorn 25.1 and later open a control socket for `gunicornc` at one path per
# user (~/.gunicorn/gunicorn.ctl): a second instance on the machine (PORT=8001)
# takes it over, and stopping either deletes it. Nothing here uses it.
control_socket_disable = True


# The most of a request body the app left unread that a worker reads before it
# closes the connection: what nginx lets through (client_max_body_size 1m).
UNREAD_BODY_READ = 1024 * 1024


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    """Read what the app left of the request body, before the connection closes.

    An app that answers without reading the body (a 401 or a 415, say) leaves
    it in the socket, and closing a socket with unread data resets the
    connection: nginx, still sending the body, then answered 502 instead of the
    app's answer (2 in 300 such requests). At most UNREAD_BODY_READ bytes, so
    that no client makes a worker read on and on.
    """
    left = UNREAD_BODY_READ
    try:
        while left > 0 and (chunk := environ["wsgi.input"].read(min(left, 65536))):
            left -= len(chunk)
    except Exception:
        # A body the client broke (a malformed chunk): the answer is sent, and
        # nothing more is owed to the connection.
        return


def pre_fork(server: Any, worker: Any) -> None:
    """Freeze the preloaded app's objects before each fork, as the `gc.freeze`
    documentation advises for processes that fork without exec.

    A worker's garbage collector then never walks the objects it inherited.
    Walking them writes to each page that holds one, which the kernel must then
    copy for that worker: every full collection did, and so did the last one,
    as a recycled worker exits. Frozen objects are never collected, so the
    master's garbage goes first.
    """
    gc.collect()
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    worker.master_stopping = getattr(server, "stopping", None)
    dispose_database_pools(server)


def dispose_database_pools(server: Any) -> None:
    """A forked worker must not share the master's database connections: give
    it its own pool (SQLAlchemy's advice for forking)."""
    app = server.app.callable
    database = app.extensions.get("sqlalchemy")
    if database is not None:
        with app.app_context():
            for engine in database.engines.values():
                engine.dispose(close=False)


def post_worker_init(worker: Any) -> None:
    """When the master stops, serve the connections already waiting, then stop
    listening.

    Gunicorn's own handler makes a sync worker exit after its current request,
    and once the last worker has gone the kernel resets the connections still
    queued on the socket: requests nginx has sent and must not send to another
    instance (a POST could run twice), so a restart would fail them. Instead the
    workers first have the kernel ignore new connections (see
    ignore_new_connections), then serve the connections already queued, then
    close the socket at once.

    A worker that stops alone (see tell_workers_when_stopping) exits after its
    current request, as gunicorn's own handler has it: the socket, which the
    other workers share, must go on taking connections.
    """
    if not isinstance(worker, SyncWorker):
        return
    wait_for_connections = worker.wait
    exit_after_this_request = signal.getsignal(signal.SIGTERM)
    master_stopping = getattr(worker, "master_stopping", None)
    draining = False

    def drain(signum: int, frame: Any) -> None:
        nonlocal draining
        if draining:  # a second SIGTERM, from a process manager as well
            return
        if master_stopping is None or not master_stopping[0]:
            if callable(exit_after_this_request):
                exit_after_this_request(signum, frame)
            return
        draining = True
        worker.max_requests = sys.maxsize  # no recycling half way
        for listener in worker.sockets:
            ignore_new_connections(listener.sock)

    def wait_unless_draining(timeout: float) -> Any:
        # The worker waits only once no connection is queued.
        if not draining:
            return wait_for_connections(timeout)
        for listener in worker.sockets:
            listener.close()
        worker.alive = False
        return []

    worker.wait = wait_unless_draining
    signal.signal(signal.SIGTERM, drain)
    # Until gunicorn sets a new worker's own handlers, the worker has the
    # master's, which take a SIGTERM as the master's and do nothing with it: a
    # worker forked as the master began to stop would serve on until the master
    # killed it, graceful_timeout later. The master marks that it stops before
    # it signals, so the mark is there for a signal the worker missed.
    if master_stopping is not None and master_stopping[0]:
        drain(signal.SIGTERM, None)


# Linux's SO_ATTACH_FILTER, which Python's socket module does not name, and a
# classic BPF program of one instruction, "return 0" (BPF_RET | BPF_K): the
# kernel drops every packet the socket is given.
SO_ATTACH_FILTER = 26
DROP_EVERY_PACKET = struct.pack("HBBI", 0x06, 0, 0, 0)


def ignore_new_connections(listener: socket.socket) -> None:
    """Have the kernel ignore new connections to this listening socket, keeping
    the ones already queued for a worker.

    A client whose connection is ignored tries again a second later; by then the
    socket is closed and refuses it, and nginx takes the request, which it has
    not sent, to another instance. Merely shrinking the queue (listen(0)) still
    lets one connection in at a time, and one that lands just as the last worker
    closes the socket is reset after nginx has sent it a request. Where socket
    filters are not available (not Linux), the shrunk queue is the fallback.
    """
    program = ctypes.create_string_buffer(DROP_EVERY_PACKET, len(DROP_EVERY_PACKET))
    # struct sock_fprog: the number of instructions and their address; the
    # kernel copies the program during the call.
    filter_program = struct.pack("HP", 1, ctypes.addressof(program))
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, filter_program)
    except OSError:
        listener.listen(0)


# Gunicorn names itself in a `Server` header on every response, which tells an
# attacker what to try; it has no setting to leave the header out.
_default_headers = wsgi.Response.default_headers


def _headers_without_server(response: wsgi.Response) -> list[str]:
    headers: list[str] = _default_headers(response)
    return [line for line in headers if not line.startswith("Server:")]


wsgi.Response.default_headers = _headers_without_server
