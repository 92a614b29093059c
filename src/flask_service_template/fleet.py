"""What `preview` and `update` share: the update a user asked for, which
projects can take it, the `copier update` command, and running over a fleet."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from packaging.version import InvalidVersion, Version

from flask_service_template import status as status_module
from flask_service_template.project import git
from flask_service_template.status import Status

UPDATE_TIMEOUT = 1800  # seconds; the post-update check installs and tests the project

Result = TypeVar("Result")


@dataclass
class Request:
    """The update asked for, passed on to every `copier update`."""

    vcs_ref: str | None = None
    data: Sequence[str] = ()
    conflict: str | None = None
    prereleases: bool = False

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Request:
        return cls(args.vcs_ref, args.data, args.conflict, args.prereleases)

    def copier_update(self, project: Path, *, skip_tasks: bool) -> list[str]:
        command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults"]
        if skip_tasks:
            command.append("--skip-tasks")
        if self.vcs_ref:
            command.append(f"--vcs-ref={self.vcs_ref}")
        command += [f"--data={item}" for item in self.data]
        if self.conflict:
            command.append(f"--conflict={self.conflict}")
        if self.prereleases:
            command.append("--prereleases")
        return [*command, str(project)]

    def target(self, status: Status) -> Version | None:
        """The version the update goes to, where it is known before running it."""
        ref = self.vcs_ref or status.newest_version
        if ref == ":current:":
            ref = status.recorded_version
        try:
            return Version(str(ref))
        except InvalidVersion:
            return None  # a branch, a commit, HEAD: Copier resolves it


@dataclass
class Skip:
    """Why a project does not take the update, and what would let it."""

    why: str
    fix: str | None = None
    current: bool = False  # the update would not move it: nothing to do


def skip_reason(status: Status, request: Request, *, allow_dirty: bool = False) -> Skip | None:
    """Why the project does not take the update, or None when it does."""
    blocked = {status_module.NOT_GIT, status_module.NOT_COMMITTED, status_module.UNCOMMITTED_UPDATE}
    if status.error or status.state in blocked:
        return Skip(status.error or status.message, status.fix)
    target = request.target(status)
    recorded = Version(str(status.recorded_version))
    if target is not None and target == recorded and not request.data:
        return Skip(f"already at {status.recorded_version}", current=True)
    if not status.clean and not allow_dirty:
        return Skip(
            f"{status.uncommitted_changes} uncommitted change(s): copier update refuses to run",
            status_module.dirty_fix(Path(status.project)),
        )
    if target is not None and target < recorded:
        if status.state == status_module.AHEAD:
            return Skip(status.message, status.fix)
        return Skip(
            f"it records {status.recorded_version}, newer than {target}: copier update "
            "refuses to go back"
        )
    return None


def run_copier(command: list[str]) -> tuple[int, str]:
    try:
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream, in the order it was written
            text=True,
            timeout=UPDATE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 1, f"copier update gave no result within {UPDATE_TIMEOUT} s"
    return result.returncode, result.stdout


def last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else "no output"


# The update guard's refusal (hooks/update_guard.py), and the fix on its next line.
GUARD_REFUSAL = re.compile(
    r"^update-guard: NOT UPDATING: (?P<why>.+)$(?:\nupdate-guard: (?P<fix>.+)$)?", re.MULTILINE
)


def copier_failure(output: str) -> tuple[str, str]:
    """Why `copier update` failed, and the fix where the update guard gave one:
    its refusal, not Copier's last line ("Task [...] returned non-zero exit status 1")."""
    refused = GUARD_REFUSAL.search(output)
    if refused:
        return f"the update guard refused: {refused['why'].strip()}", (refused["fix"] or "").strip()
    return f"copier update failed: {last_line(output)}", ""


def repository_of(project: Path) -> str:
    found = git(project, "rev-parse", "--show-toplevel")
    return found.stdout.strip() if found.returncode == 0 else str(project)


def for_each_project(
    projects: Sequence[str],
    work: Callable[[Status], Result],
    *,
    jobs: int,
    prereleases: bool,
    label: Callable[[Result], str],
    one_per_repository: bool = True,
) -> list[Result]:
    """``work`` on each project's status, in the given order of results.

    ``jobs`` projects at a time; with ``one_per_repository``, never two of one git
    repository (the services of a monorepo), whose index they would both write.
    """
    unique = list(dict.fromkeys(str(Path(folder).resolve()) for folder in projects))
    found = status_module.statuses(unique, prereleases)
    groups: dict[str, list[int]] = {}
    for position, status in enumerate(found):
        key = repository_of(Path(status.project)) if one_per_repository else status.project
        groups.setdefault(key, []).append(position)
    results: dict[int, Result] = {}

    def run_group(positions: list[int]) -> None:
        for position in positions:
            started = time.perf_counter()
            results[position] = work(found[position])
            seconds = time.perf_counter() - started
            print(
                f"[{len(results)}/{len(found)}] {found[position].project}: "
                f"{label(results[position])} ({seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(run_group, groups.values()))
    return [results[position] for position in range(len(found))]


def question_answer(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r} is not QUESTION=ANSWER, as in api=false")
    return text


def add_update_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `preview` and `update` share."""
    parser.add_argument("projects", nargs="+", metavar="PROJECT", help="a generated project")
    parser.add_argument(
        "--vcs-ref", help="the template release (tag) or commit to update to; default: newest"
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        type=question_answer,
        metavar="QUESTION=ANSWER",
        help="change an answer (repeatable), as copier update --data",
    )
    parser.add_argument(
        "--conflict",
        choices=["inline", "rej"],
        help="how Copier writes conflicts: markers in the file (default) or .rej files",
    )
    parser.add_argument(
        "--prereleases", action="store_true", help="count pre-release tags as releases"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="projects at a time (default 1; never two of one git repository)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
