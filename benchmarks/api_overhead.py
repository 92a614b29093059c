"""Print what a validated API call costs per request, in-process, in the working
tree's generated service next to the same call in an earlier release's.

    uv run python benchmarks/api_overhead.py [--rounds 5] [--calls 2000] [--baseline X.Y.Z]

Both projects are rendered with the default answers (SQLite, accounts, API) and
installed into their own .venv (the baseline is the previous release unless
--baseline names another); each round runs benchmarks/api_calls.py in one, then
the other, so a noisy neighbour hurts both alike. The calls go through Flask's
test client, with the testing config and its in-memory database: no network and
no disk, so what differs is the code a request runs (authentication, body
parsing, validation, serialisation). The same call means the same route and
body with the same logged-in session, which is all the baseline's API knew;
the working tree's bearer-token call, which machine clients make, is printed
beside it. Medians of each round's median, in microseconds, and their
ratio. Nothing passes or fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import Project, release_history, render  # noqa: E402

CALLS_SCRIPT = ROOT / "benchmarks" / "api_calls.py"
CALLS = ("GET /api/v1/items/<id>", "PATCH /api/v1/items/<id>", "POST /api/v1/items")


def run_calls(project: Project, calls: int, token: bool) -> dict[str, float]:
    arguments = ["--calls", str(calls), *(["--token"] if token else [])]
    output = project.run("python", str(CALLS_SCRIPT), *arguments).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--baseline", help="a release in releases.toml (default: the previous)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="api-overhead-"))
    baseline = [options.baseline] if options.baseline else None
    repo, previous, current = release_history(work / "template-repo", baseline)
    before = Project(render(repo.path, work / "before", vcs_ref=previous)).install()
    after = Project(render(repo.path, work / "after", vcs_ref=current)).install()

    rounds: dict[str, list[dict[str, float]]] = {"before": [], "session": [], "token": []}
    for _ in range(options.rounds):
        rounds["before"].append(run_calls(before, options.calls, token=False))
        rounds["session"].append(run_calls(after, options.calls, token=False))
        rounds["token"].append(run_calls(after, options.calls, token=True))

    def median(variant: str, call: str) -> float:
        return statistics.median(result[call] for result in rounds[variant])

    print(
        f"Per call, in-process (Flask's test client, testing config, in-memory SQLite), "
        f"medians of {options.rounds} alternating rounds of {options.calls} calls\n"
        f"before: {previous} with a logged-in session; after: {current} with the same "
        "session, and with a bearer token\n"
    )
    header = ("call", "before", "after (session)", "overhead", "ratio", "after (token)", "ratio")
    rows = []
    for call in CALLS:
        then, session, token = (median(name, call) for name in ("before", "session", "token"))
        rows.append(
            (
                call,
                f"{then:.0f} µs",
                f"{session:.0f} µs",
                f"{session - then:+.0f} µs",
                f"{session / then:.2f}",
                f"{token:.0f} µs",
                f"{token / then:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * width for width in widths), *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("\nEvery round:", json.dumps(rounds))


if __name__ == "__main__":
    main()
