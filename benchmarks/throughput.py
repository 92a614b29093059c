"""Print the generated service's throughput, p99 latency, memory per worker and
start-up time next to a bare Flask app's and the previous release's service, all
under the same gunicorn, in one run.

    uv run python benchmarks/throughput.py [--rounds 3] [--seconds 5] [--no-recycling]

The bare app is one route per path with a secret key, so that it opens the
signed-cookie session on every request as the generated service does. All run
under gunicorn with 2 sync workers: the bare app and the service with the
generated project's gunicorn.conf.py, the previous release's service with its
own, so what changed there counts too; the services in their production config
(JSON access line, security headers, CSRF, accounts). The bare app is also
served inside the service's access line and security headers alone, which shows
how much of the gap to the bare app is theirs and how much the service's Flask
hooks and extensions take; and the bare app's start-up is measured again with
SQLAlchemy's ORM imported, the least a service with SQLAlchemy models can take.
Memory is each worker's resident set, and the part of it that is the worker's
own rather than shared with the master it was forked from. The load comes from
wrk (Debian's `wrk` package) when it is installed, else from tests/load.py, in
a second process over loopback. Rounds alternate between the apps, so a noisy
neighbour hurts all alike; medians are printed, and the ratios are the figures
to read. Goals: /health at least 0.9 of the bare app's requests per second,
start-up (import and create_app()) at most 2x the bare app's.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import (
    ROOT,
    Project,
    TemplateRepo,
    clean_environment,
    export_release,
    free_port,
    gunicorn_command,
    previous_release,
    render,
    server_process,
    snapshot_template,
)

BARE_APP = """\
from flask import Flask

app = Flask(__name__)
app.secret_key = "5f0c8b2e7d1a4c6b9e3f2a1d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b"


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/")
def index():
    return "<!doctype html><title>Home</title><h1>Home</h1>"
"""
# The bare app inside the service's own access line and security headers, as
# logs.init_app and security.init_app wrap the service in production: what the
# service would serve if its Flask hooks and extensions cost nothing.
WRAPPED = "bare + middleware"
WRAPPED_APP = """\
from bare_app import app
from {package}.logs import AccessLog
from {package}.security import SecurityHeaders

app.wsgi_app = SecurityHeaders(AccessLog(app.wsgi_app, app.logger.name, json_lines=True))
"""
WORKERS = 2
PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "5f0c8b2e7d1a4c6b9e3f2a1d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b",
}


def measure(url: str, seconds: float, concurrency: int) -> dict:
    """Requests per second and p99 latency of GETs of ``url``; exits on any error."""
    if shutil.which("wrk"):
        output = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "--latency",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        errors = re.search(r"(Non-2xx or 3xx responses|Socket errors): .*", output)
        if errors:
            sys.exit(f"{url} answered with errors: {errors.group(0)}")
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
        assert p99, output
        scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
        return {
            "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
            "p99_ms": float(p99.group(1)) * scale,
        }
    output = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "load.py"),
            url,
            "--requests",
            str(int(seconds * 1000)),
            "--concurrency",
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(output)
    if result["errors"] or set(result["statuses"]) != {"200"}:
        sys.exit(f"{url} answered with errors: {result}")
    return result


def worker_memory_mib(master: int) -> dict[str, float]:
    """The largest resident set of the master's workers, and the largest part
    of one that is its own (not shared with the master it was forked from), in
    MiB."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    resident, private = [], []
    for pid in children:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        sizes = {
            name: int(kib) / 1024 for name, kib in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)
        }
        resident.append(sizes["Rss"])
        private.append(sizes["Private_Clean"] + sizes["Private_Dirty"])
    return {"rss": max(resident), "private": max(private)}


def served_command(project: Project, port: int, target: str) -> list[str]:
    """Gunicorn serving ``target`` with ``project``'s gunicorn.conf.py and
    WORKERS sync workers."""
    command = gunicorn_command(project, port, WORKERS)
    return [command[0], "--config", str(project.path / "gunicorn.conf.py"), *command[1:-1], target]


def start_up(python: str, code: str, cwd: Path, env: dict[str, str], runs: int = 7) -> float:
    """Median seconds for a fresh interpreter to run `code` (imports, app creation)."""
    timings = []
    for _ in range(runs + 1):  # the first run writes bytecode; it is not counted
        started = time.perf_counter()
        subprocess.run([python, "-c", code], cwd=cwd, env=env, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def serve_and_measure(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    paths: list[str],
    seconds: float,
    concurrency: int,
) -> tuple[dict[str, dict], dict[str, float]]:
    """Start a server, measure each path after a warm-up; results and worker memory."""
    results = {}
    with server_process(command, cwd, env, port) as (base, process):
        for path in paths:
            measure(f"{base}{path}", 1, concurrency)  # warm up
            results[path] = measure(f"{base}{path}", seconds, concurrency)
        memory = worker_memory_mib(process.pid)
    return results, memory


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * width for width in widths), *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--no-recycling",
        action="store_true",
        help="serve with max_requests off, to see what recycling workers costs",
    )
    options = parser.parse_args()
    recycling = ["--max-requests", "0"] if options.no_recycling else []

    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    template = snapshot_template(work / "template")
    project = Project(render(template, work / "svc")).install()
    baseline = previous_release()
    released = TemplateRepo.create(
        work / "previous", parts_from=export_release(baseline, work / "previous-parts")
    )
    released.release(baseline)
    previous = Project(render(released.path, work / "previous-svc")).install()
    (work / "bare").mkdir()
    (work / "bare" / "bare_app.py").write_text(BARE_APP)
    (work / "bare" / "wrapped_app.py").write_text(WRAPPED_APP.format(package=project.package))
    env = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{work}/production.sqlite"}
    project.run("flask", "db", "upgrade", env=env)
    previous_env = {**env, "DATABASE_URL": f"sqlite:///{work}/previous.sqlite"}
    previous.run("flask", "db", "upgrade", env=previous_env)

    # name: (folder, WSGI target, environment, the project whose gunicorn and
    # gunicorn.conf.py serve it)
    apps = {
        "bare": (work / "bare", "bare_app:app", env, project),
        WRAPPED: (work / "bare", "wrapped_app:app", env, project),
        "generated": (project.path, f"{project.package}:create_app()", env, project),
        baseline: (previous.path, f"{previous.package}:create_app()", previous_env, previous),
    }
    figures: dict[tuple[str, str], list[dict]] = {}
    memory: dict[str, list[dict[str, float]]] = {}
    for _ in range(options.rounds):
        for name, (cwd, target, app_env, owner) in apps.items():
            port = free_port()
            results, sizes = serve_and_measure(
                [*served_command(owner, port, target), *recycling],
                cwd,
                app_env,
                port,
                ["/health", "/"],
                options.seconds,
                options.concurrency,
            )
            for path, result in results.items():
                figures.setdefault((name, path), []).append(result)
            memory.setdefault(name, []).append(sizes)

    full_env = clean_environment(**env)
    startup = {
        "bare": start_up(project.bin("python"), "import bare_app", work / "bare", full_env),
        "generated": start_up(
            project.bin("python"),
            f"from {project.package} import create_app; create_app()",
            project.path,
            full_env,
        ),
        baseline: start_up(
            previous.bin("python"),
            f"from {previous.package} import create_app; create_app()",
            previous.path,
            clean_environment(**previous_env),
        ),
    }

    # The least any service with SQLAlchemy models can start in.
    orm_floor = start_up(
        project.bin("python"), "import bare_app, sqlalchemy.orm", work / "bare", full_env
    )

    def median(name: str, path: str, key: str) -> float:
        return statistics.median(result[key] for result in figures[(name, path)])

    def row(label: str, unit: str, values: dict[str, float], p99: str = "") -> tuple[str, ...]:
        shown = {name: f"{value:.0f} {unit}" for name, value in values.items()}
        return (
            label,
            shown["bare"],
            shown["generated"],
            f"{values['generated'] / values['bare']:.2f}",
            shown[baseline],
            f"{values['generated'] / values[baseline]:.2f}",
            p99,
        )

    load = "wrk" if shutil.which("wrk") else "tests/load.py"
    print(
        f"gunicorn, {WORKERS} sync workers, {load} over {options.concurrency} connections "
        f"for {options.seconds:g} s, medians of {options.rounds} alternating rounds"
        f"{', workers never recycled' if recycling else ''}\n"
    )
    compared = [name for name in apps if name != WRAPPED]
    rows = []
    for path in ("/health", "/"):
        rates = {name: median(name, path, "requests_per_second") for name in apps}
        p99 = " / ".join(f"{median(name, path, 'p99_ms'):.1f}" for name in compared)
        rows.append(row(path, "req/s", rates, f"{p99} ms"))
    rows.append(
        row("start-up (import + app)", "ms", {name: t * 1000 for name, t in startup.items()})
    )
    for kind, label in (("rss", "memory per worker (RSS)"), ("private", "  of which its own")):
        sizes = {name: statistics.median(m[kind] for m in memory[name]) for name in compared}
        rows.append(row(label, "MiB", sizes))
    header = ("", "bare", "generated", "vs bare", baseline, "vs " + baseline)
    table(rows, (*header, "p99 " + " / ".join(compared)))
    print(
        f"\nStart-up of the bare app when it also imports SQLAlchemy's ORM, as every"
        f" service whose models are SQLAlchemy's does: {orm_floor * 1000:.0f} ms,"
        f" {orm_floor / startup['bare']:.2f} of the bare app's."
    )
    wrapped = median(WRAPPED, "/health", "requests_per_second")
    print(
        f"\n/health of the bare app inside the service's access line and security headers:"
        f" {wrapped:.0f} req/s, {wrapped / median('bare', '/health', 'requests_per_second'):.2f}"
        " of the bare app's; the rest of the gap is the service's Flask hooks and extensions."
    )
    print(
        "\nEvery round:",
        {
            f"{name} {path}": [round(r["requests_per_second"]) for r in results]
            for (name, path), results in figures.items()
        },
    )


if __name__ == "__main__":
    main()
