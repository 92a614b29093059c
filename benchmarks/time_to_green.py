"""Print how fast a new service goes from `copier copy` to green, as medians.

    uv run python benchmarks/time_to_green.py [--runs 5]

Measures, with a warm package cache:
- `copier copy` with the hook skipped (Copier's own start-up included);
- time to green: `copier copy` with the hook (git, .venv, install, ruff, tests);
  once as this machine runs Python (PYTHONDONTWRITEBYTECODE as set here) and once
  as most machines do (bytecode written); and, in the same runs, the previous
  release's time to green, the baseline the ratio compares with (goal: < 5 s);
- the generated suite's own time inside pytest, and its wall time.

Figures are printed next to the best-known existing Flask template's, measured
on the same kind of machine (shared/notes/peers.md). Nothing here passes or fails:
shared machines are noisy, so read the figures as ratios.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import (
    ROOT,
    PostgresServer,
    TemplateRepo,
    copy_command,
    export_release,
    previous_release,
    snapshot_template,
)

PEER = {
    "name": "cookiecutter-flask",
    "render": 0.8,
    "install": 38.0,
    "tests_wall": 4.5,
    "tests_inside": 1.3,
    "tests": 30,
    "coverage": 83,
    "green_uv": 13.0,
    "green_readme": 43.0,
}


def timed(command: list[str], cwd: Path | None = None, **env: str) -> tuple[float, str]:
    environment = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | env
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=environment, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return seconds, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-suite", action="store_true", help="don't time the template's tests")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    template = snapshot_template(work / "template")
    # The previous release, timed in the same runs: on a shared machine its
    # time is the baseline that the working tree's is read against.
    baseline = previous_release()
    previous = TemplateRepo.create(
        work / "previous", parts_from=export_release(baseline, work / "previous-parts")
    )
    previous.release(baseline)
    postgres = PostgresServer().start()
    figures: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    def green(name: str, *extra: str, source: Path = template, **env: str) -> tuple[float, str]:
        seconds, output = timed(copy_command(source, work / name, *extra), **env)
        if "post-generate: ready in" not in output:
            sys.exit(f"{name} did not end green:\n{output}")
        return seconds, output

    try:
        # Warm the package cache once, so every measured run starts alike.
        green("warm-up")
        green("warm-up-previous", source=previous.path)
        green("warm-up-postgresql", "--data", "database=postgresql")
        for run in range(options.runs):
            record("copy", timed(copy_command(template, work / f"copy-{run}", "--skip-tasks"))[0])
            record("green_previous", green(f"green-previous-{run}", source=previous.path)[0])
            seconds, output = green(f"green-{run}")
            record("green", seconds)
            record("hook", float(re.search(r"ready in ([\d.]+) s", output).group(1)))
            tests = int(re.search(r"ready in [\d.]+ s: (\d+) passed", output).group(1))
            record("green_bytecode", green(f"green-bytecode-{run}", PYTHONDONTWRITEBYTECODE="")[0])
            # The hook's tests run on the server TEST_DATABASE_URL names.
            seconds, output = green(
                f"green-postgresql-{run}",
                "--data",
                "database=postgresql",
                TEST_DATABASE_URL=postgres.create_database(),
            )
            if "database: postgresql" not in output:
                sys.exit(f"the PostgreSQL variant's tests did not run on PostgreSQL:\n{output}")
            record("green_postgresql", seconds)
            project = work / f"green-{run}"
            pytest = [
                str(project / ".venv/bin/python"),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
            ]
            seconds, output = timed(pytest, cwd=project)
            record("tests_wall", seconds)
            record("tests_inside", float(re.search(r"passed in ([\d.]+)s", output).group(1)))
            _, output = timed([*pytest, "--cov"], cwd=project)
            coverage = float(re.search(r"Total coverage: ([\d.]+)%", output).group(1))
    finally:
        postgres.stop()
        postgres.remove()
    suite = None
    if not options.skip_suite:
        suite, _ = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT)

    median = {name: statistics.median(values) for name, values in figures.items()}
    print(
        f"Medians over {options.runs} runs, warm package cache, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores "
        f"(PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE') or 'unset'} here)\n"
    )
    rows = [
        (
            "copier copy, hook skipped",
            f"{median['copy']:.2f} s",
            f"{PEER['render']:.1f} s (render)",
            "< 1 s",
        ),
        (
            "time to green: copy + hook",
            f"{median['green']:.1f} s",
            f"{PEER['green_uv']:.0f} s with uv, {PEER['green_readme']:.0f} s by its README",
            "< 5 s",
        ),
        (
            f"  the same, {baseline} (previous release) in the same runs",
            f"{median['green_previous']:.1f} s",
            f"ratio {median['green'] / median['green_previous']:.2f}",
            "",
        ),
        (
            "  of which the hook",
            f"{median['hook']:.1f} s",
            "none: nothing checks a new project",
            "",
        ),
        ("time to green, bytecode written", f"{median['green_bytecode']:.1f} s", "", "< 5 s"),
        (
            "time to green, PostgreSQL variant",
            f"{median['green_postgresql']:.1f} s",
            "no PostgreSQL option",
            "",
        ),
        (
            "generated suite inside pytest",
            f"{median['tests_inside']:.2f} s",
            f"{PEER['tests_inside']:.1f} s",
            "< 2 s",
        ),
        (
            "generated suite, wall",
            f"{median['tests_wall']:.2f} s",
            f"{PEER['tests_wall']:.1f} s",
            "",
        ),
        ("generated tests", str(tests), str(PEER["tests"]), ""),
        (
            "branch coverage of the package",
            f"{coverage:.0f} %",
            f"{PEER['coverage']} % (lines)",
            ">= 95 %",
        ),
    ]
    if suite is not None:
        rows.append(
            (
                "template's own test suite (once)",
                f"{suite:.0f} s",
                "tests the default render only",
                "< 15 min in CI",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("figure", "this template", PEER["name"], "target")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    print("\nEvery run:", {name: [round(v, 2) for v in values] for name, values in figures.items()})


if __name__ == "__main__":
    main()
