"""Print the deployment figures: the image's build time and size, a container's
time from start to ready, and /health throughput through nginx next to gunicorn
alone, in one run.

    uv run python benchmarks/deploy.py [--rounds 3] [--requests 3000]

The image is the default project's, built with podman from its unchanged
Dockerfile on the Debian stand-in base (tests/containers.py): figures for the
official python image will differ, most of all the size. Build times: cold
(no layer cached), and after a change to the code only (the dependency layer
cached). Throughput: gunicorn with 2 sync workers on loopback, alone and behind
Debian's nginx running deploy/nginx.conf, rounds alternating so a noisy
neighbour hurts both alike; medians are printed, and the ratio is the figure to
read. Nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from containers import Podman, image_size
from helpers import (
    ROOT,
    UV,
    Project,
    free_port,
    gunicorn_command,
    nginx,
    render,
    server_process,
    snapshot_template,
)

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


def start_to_ready(podman: Podman, tag: str, volume: str) -> float:
    """Seconds from `podman run` to the first 200 from /health/ready."""
    port = free_port()
    started = time.perf_counter()
    container = podman.run_detached(
        tag,
        env={"SECRET_KEY": "b" * 64, "PORT": str(port)},
        options=("--volume", f"{volume}:/data"),
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                if time.perf_counter() - started > 60:
                    sys.exit(podman("logs", container).stdout)
                time.sleep(0.02)
    finally:
        podman.remove(container)


def image_figures(work: Path, project: Project, runs: int) -> dict[str, float]:
    podman = Podman(work / "podman")
    podman.ensure_standins()
    tag = "localhost/flask-template-bench:latest"
    figures: dict[str, list[float]] = {}
    for run in range(runs):
        figures.setdefault("cold", []).append(podman.build(project.path, tag, "--no-cache"))
        # A change to the code only: the dependency layer stays cached.
        routes = project.path / "src" / project.package / "main" / "routes.py"
        routes.write_text(routes.read_text() + f"\n# edit {run}\n")
        figures.setdefault("cached", []).append(podman.build(project.path, tag))
    size = image_size(podman, tag)
    base = image_size(podman, "docker.io/library/python:3.11-slim")
    volume = "flask-template-bench"
    podman("volume", "rm", "--force", volume)
    podman("volume", "create", volume)
    migrated = podman.run_once(
        tag,
        "flask",
        "db",
        "upgrade",
        env={"SECRET_KEY": "b" * 64},
        options=("-v", f"{volume}:/data"),
    )
    assert migrated.returncode == 0, migrated.stderr
    ready = [start_to_ready(podman, tag, volume) for _ in range(max(runs, 5))]
    podman("volume", "rm", "--force", volume)
    podman("rmi", "--force", tag)
    return {
        "cold": statistics.median(figures["cold"]),
        "cached": statistics.median(figures["cached"]),
        "size_mb": size / 1e6,
        "base_mb": base / 1e6,
        "ready": statistics.median(ready),
    }


def throughput(work: Path, project: Project, rounds: int, requests: int, concurrency: int) -> dict:
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "t" * 64,
        "DATABASE_URL": f"sqlite:///{work}/production.sqlite",
        "PROXY_COUNT": "1",
    }
    project.run("flask", "db", "upgrade", env=env)
    results: dict[str, list[dict]] = {"gunicorn": [], "nginx": []}
    for round_number in range(rounds):
        port = free_port()
        command = gunicorn_command(project, port, WORKERS)
        with (
            server_process(command, project.path, env, port),
            nginx(project, work / f"nginx-{round_number}", port) as proxy_port,
        ):
            for name, target in (("gunicorn", port), ("nginx", proxy_port)):
                url = f"http://127.0.0.1:{target}/health"
                measure(url, 300, concurrency)  # warm up
                results[name].append(measure(url, requests, concurrency))
    return {
        name: {
            "rps": statistics.median(r["requests_per_second"] for r in runs),
            "p99": statistics.median(r["p99_ms"] for r in runs),
        }
        for name, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--skip-image", action="store_true", help="throughput only")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="deploy-"))
    template = snapshot_template(work / "template")
    project = Project(render(template, work / "svc"))
    subprocess.run([UV, "lock", "--quiet"], cwd=project.path, check=True)
    if not options.skip_image:
        image = image_figures(work, project, options.rounds)
        print("image:", {name: round(value, 2) for name, value in image.items()}, flush=True)
    project.install()
    served = throughput(work, project, options.rounds, options.requests, options.concurrency)

    print(f"Medians of {options.rounds} runs; podman on the Debian stand-in base\n")
    rows = (
        []
        if options.skip_image
        else [
            ("image build, cold (no cache)", f"{image['cold']:.1f} s"),
            ("image build, code changed (dependency layer cached)", f"{image['cached']:.1f} s"),
            ("  ratio cached / cold", f"{image['cached'] / image['cold']:.2f}"),
            (
                "image size (stand-in base alone)",
                f"{image['size_mb']:.0f} MB ({image['base_mb']:.0f} MB)",
            ),
            ("container start to /health/ready 200", f"{image['ready']:.2f} s"),
        ]
    )
    rows += [
        (
            f"/health, gunicorn alone ({WORKERS} sync workers)",
            f"{served['gunicorn']['rps']:.0f} req/s, p99 {served['gunicorn']['p99']:.1f} ms",
        ),
        (
            "/health through nginx",
            f"{served['nginx']['rps']:.0f} req/s, p99 {served['nginx']['p99']:.1f} ms",
        ),
        (
            "  ratio nginx / gunicorn alone",
            f"{served['nginx']['rps'] / served['gunicorn']['rps']:.2f}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
