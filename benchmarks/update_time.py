"""Print how long `copier update` takes between adjacent releases, as medians.

    uv run python benchmarks/update_time.py [--runs 5] [--from VERSION]

The releases are the previous one, or VERSION (rebuilt from its commit in
releases.toml), and the working tree as the next. Each run starts from a fresh
project generated at
the latest release, committed and installed into its .venv as the hook leaves
it, and times `copier update --trust --defaults` from the command line (Copier's
start-up included):
- with `--skip-tasks`: the merge and the release's migrations only;
- as users run it: the merge, the migrations, then the post-update check
  (re-install into .venv, ruff, the project's tests), whose own time it reports.

Nothing here passes or fails: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import clean_environment, generate, release_history  # noqa: E402


def timed_update(project: Path, *extra: str) -> tuple[float, str]:
    command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", *extra]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=project, capture_output=True, text=True, env=clean_environment(), check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {project}:\n{result.stdout}{result.stderr}")
    return seconds, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--from", dest="start", help="the release to update from")
    args = parser.parse_args()
    runs = args.runs
    work = Path(tempfile.mkdtemp(prefix="bench-update-"))
    repo, previous, current = release_history(
        work / "template", [args.start] if args.start else None
    )
    figures: dict[str, list[float]] = {}

    def fresh_project(name: str) -> Path:
        return generate(repo.path, work / name, vcs_ref=previous).install().path

    # Warm the package cache and Copier's imports once, so every run starts alike.
    timed_update(fresh_project("warm-up"))
    for run in range(runs):
        seconds, _ = timed_update(fresh_project(f"skipped-{run}"), "--skip-tasks")
        figures.setdefault("skipped", []).append(seconds)
        seconds, output = timed_update(fresh_project(f"checked-{run}"))
        green = re.search(r"post-update: GREEN in ([\d.]+) s", output)
        if not green:
            sys.exit(f"run {run} did not end green:\n{output}")
        figures.setdefault("checked", []).append(seconds)
        figures.setdefault("check", []).append(float(green.group(1)))

    median = {name: statistics.median(values) for name, values in figures.items()}
    print(
        f"copier update {previous} -> {current}: medians over {runs} runs, warm package "
        f"cache, Python {sys.version.split()[0]}, {os.cpu_count()} cores\n"
    )
    rows = [
        ("copier update --skip-tasks (merge + migrations)", f"{median['skipped']:.2f} s"),
        ("copier update (merge + migrations + check)", f"{median['checked']:.2f} s"),
        ("  of which the post-update check", f"{median['check']:.2f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print("\nEvery run:", {name: [round(v, 2) for v in values] for name, values in figures.items()})


if __name__ == "__main__":
    main()
