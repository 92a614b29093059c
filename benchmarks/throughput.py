"""Print the generated service's throughput, p99 latency and start-up time next to
a bare one-route Flask app's, both under the same gunicorn settings, in one run.

    uv run python benchmarks/throughput.py [--rounds 3] [--requests 3000]

The load comes from tests/load.py in a second process, over loopback only. The
rounds alternate between the two apps, so a noisy neighbour hurts both alike;
medians are printed, and the ratio is the figure to read (target: the generated
service keeps at least 0.9 of the bare app's requests per second on /health).
"""

from __future__ import annotations

import argparse
import json
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
    clean_environment,
    free_port,
    gunicorn_command,
    render,
    server_process,
    snapshot_template,
)

BARE_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/")
def index():
    return "<!doctype html><title>Home</title><h1>Home</h1>"
"""
WORKERS = 2


def measure(url: str, requests: int, concurrency: int) -> dict:
    output = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "load.py"),
            url,
            "--requests",
            str(requests),
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


def start_up(python: str, code: str, cwd: Path, env: dict[str, str], runs: int = 7) -> float:
    """Median seconds for a fresh interpreter to run `code` (imports, app creation)."""
    timings = []
    for _ in range(runs + 1):  # the first run writes bytecode; it is not counted
        started = time.perf_counter()
        subprocess.run([python, "-c", code], cwd=cwd, env=env, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    template = snapshot_template(work / "template")
    project = Project(render(template, work / "svc")).install()
    (work / "bare").mkdir()
    (work / "bare" / "bare_app.py").write_text(BARE_APP)
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "t" * 64,
        "DATABASE_URL": f"sqlite:///{work}/production.sqlite",
    }
    project.run("flask", "db", "upgrade", env=env)

    apps = {
        "bare": (work / "bare", "bare_app:app"),
        "generated": (project.path, f"{project.package}:create_app()"),
    }
    figures: dict[tuple[str, str], list[dict]] = {}
    for _ in range(options.rounds):
        for name, (cwd, target) in apps.items():
            port = free_port()
            command = [*gunicorn_command(project, port, WORKERS)[:-1], target]
            with server_process(command, cwd, env, port) as (base, _):
                for path in ("/health", "/"):
                    measure(f"{base}{path}", 300, options.concurrency)  # warm up
                    result = measure(f"{base}{path}", options.requests, options.concurrency)
                    figures.setdefault((name, path), []).append(result)

    python = project.bin("python")
    full_env = clean_environment(**env)
    startup = {
        "bare": start_up(python, "import bare_app", work / "bare", full_env),
        "generated": start_up(
            python,
            f"from {project.package} import create_app; create_app()",
            project.path,
            full_env,
        ),
    }

    def median(name: str, path: str, key: str) -> float:
        return statistics.median(result[key] for result in figures[(name, path)])

    print(
        f"gunicorn, {WORKERS} sync workers, {options.requests} requests over "
        f"{options.concurrency} connections, medians of {options.rounds} alternating rounds\n"
    )
    header = ("path", "bare req/s", "generated req/s", "ratio", "bare p99", "generated p99")
    rows = []
    for path in ("/health", "/"):
        bare, generated = (
            median("bare", path, "requests_per_second"),
            median("generated", path, "requests_per_second"),
        )
        rows.append(
            (
                path,
                f"{bare:.0f}",
                f"{generated:.0f}",
                f"{generated / bare:.2f}",
                f"{median('bare', path, 'p99_ms'):.1f} ms",
                f"{median('generated', path, 'p99_ms'):.1f} ms",
            )
        )
    rows.append(
        (
            "start-up (import + app)",
            f"{startup['bare'] * 1000:.0f} ms",
            f"{startup['generated'] * 1000:.0f} ms",
            f"{startup['generated'] / startup['bare']:.2f}",
            "",
            "",
        )
    )
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * width for width in widths), *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(
        "\nEvery round:",
        {
            f"{name} {path}": [r["requests_per_second"] for r in results]
            for (name, path), results in figures.items()
        },
    )


if __name__ == "__main__":
    main()
