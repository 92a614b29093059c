"""Print how long the fleet commands take over a fleet of projects.

    uv run python benchmarks/fleet_time.py [--projects 10] [--from VERSION]

The releases are the latest one, or VERSION (rebuilt from its commit in
releases.toml), and the working tree as the next. Every project is generated at the latest
release, committed and installed into its .venv, as the hook leaves it. Each
measurement gets its own fresh fleet, and runs from the command line:
- `flask-template status` and `flask-template preview` (serial, then --jobs 2);
- `flask-template update --skip-check`, against the baseline of running
  `copier update --trust --defaults --skip-tasks` in each project in turn;
- `flask-template update` (with the post-update check), against running
  `copier update --trust --defaults` in each project in turn; then --jobs 2.

The ratios say what the fleet tool adds (its status check of every project,
its summary) to the copier updates it runs. Nothing here passes or fails:
shared machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import clean_environment, generate, release_history  # noqa: E402

FLASK_TEMPLATE = str(Path(sys.executable).with_name("flask-template"))
COPIER_UPDATE = [sys.executable, "-m", "copier", "update", "--trust", "--defaults"]


def timed(command: list[str], cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=clean_environment(), check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode not in ok:
        sys.exit(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--from", dest="start", help="the release to update from")
    args = parser.parse_args()
    count = args.projects
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        measure(work, count, args.start)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # some hundred MB of projects and venvs


def measure(work: Path, count: int, start: str | None) -> None:
    repo, previous, current = release_history(work / "template", [start] if start else None)

    def fleet(name: str, size: int = count) -> list[str]:
        return [
            str(generate(repo.path, work / name / f"service-{n}", vcs_ref=previous).install().path)
            for n in range(size)
        ]

    # Warm the package cache and Copier's imports once, so every figure starts alike.
    timed([FLASK_TEMPLATE, "update", *fleet("warm-up", 1)])
    figures: dict[str, float] = {}
    untouched = fleet("untouched")
    figures["status"] = timed([FLASK_TEMPLATE, "status", *untouched])
    figures["preview"] = timed([FLASK_TEMPLATE, "preview", *untouched])
    figures["preview --jobs 2"] = timed([FLASK_TEMPLATE, "preview", "--jobs", "2", *untouched])
    figures["copier update --skip-tasks, each in turn"] = sum(
        timed([*COPIER_UPDATE, "--skip-tasks"], cwd=Path(project)) for project in fleet("raw-skip")
    )
    figures["update --skip-check"] = timed(
        [FLASK_TEMPLATE, "update", "--skip-check", *fleet("skip")]
    )
    figures["copier update, each in turn"] = sum(
        timed(COPIER_UPDATE, cwd=Path(project)) for project in fleet("raw-check")
    )
    figures["update"] = timed([FLASK_TEMPLATE, "update", *fleet("check")])
    figures["update --jobs 2"] = timed([FLASK_TEMPLATE, "update", "--jobs", "2", *fleet("jobs")])

    print(
        f"{count} projects, {previous} -> {current}: warm package cache, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores\n"
    )
    width = max(len(name) for name in figures) + len("flask-template ")
    for name, seconds in figures.items():
        label = name if name.startswith("copier") else f"flask-template {name}"
        print(f"{label.ljust(width)}  {seconds:6.1f} s  ({seconds / count:.2f} s a project)")
    skip_ratio = (
        figures["update --skip-check"] / figures["copier update --skip-tasks, each in turn"]
    )
    check_ratio = figures["update"] / figures["copier update, each in turn"]
    print(f"\nflask-template update / copier update in turn: {skip_ratio:.2f} without the check,")
    print(f"{check_ratio:.2f} with it")


if __name__ == "__main__":
    main()
