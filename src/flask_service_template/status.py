"""Show where each project stands against its template release.

    flask-template-status [--json] [--prereleases] PROJECT [PROJECT ...]
    flask-template status ...                  (the same)

For each project folder it prints the template version the project records (in
its last commit), the newest release of that template, whether an update is
due, whether the git working tree is clean (Copier updates only a clean one),
and its state: current, update due, or what stops `copier update` there (no
git, uncommitted changes, an update applied but not committed, a project ahead
of the newest release, an answers file copier cannot use, an unreachable
template), with the command that fixes it. Versions come from
`copier check-update`. `--json` prints the same as a list of objects for
scripts. The exit status is 1 when a project could not be checked, else 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from flask_service_template.project import (
    ANSWERS_FILE,
    AnswersProblem,
    WorkingTree,
    answers_of,
    changed_answers,
    committed_answers_text,
    display_version,
    git,
    parse_answers,
    quoted,
    working_answers_text,
    working_tree,
)
from flask_service_template.tables import table

# Each check clones the template: a few at a time keeps a fleet quick.
PARALLEL_CHECKS = 8
CHECK_TIMEOUT = 300  # seconds; cloning a remote template can be slow

# The states a project can be in, worst first.
ERROR = "error"  # cannot be checked: see `error`
NOT_GIT = "not-git"  # copier update runs only in a git repository
NOT_COMMITTED = "not-committed"  # in git, but its answers file was never committed
UNCOMMITTED_UPDATE = "uncommitted-update"  # an update (or answer change) not yet committed
AHEAD = "ahead"  # generated from a template commit after the newest release
DIRTY = "dirty"  # an update is due, but uncommitted changes block it
UPDATE_DUE = "update-due"
CURRENT = "current"


@dataclass
class Status:
    project: str
    template: str | None = None
    recorded_commit: str | None = None  # as the last commit records it
    recorded_version: str | None = None
    newest_version: str | None = None
    update_due: bool | None = None  # copier update would move it to a newer release
    clean: bool | None = None
    uncommitted_changes: int | None = None
    error: str | None = None
    state: str = ERROR
    message: str = ""  # what the state means for this project
    fix: str | None = None  # the command that fixes it, or does what is due
    applied_commit: str | None = None  # an update in the working tree, not committed
    applied_version: str | None = None


def check_update(folder: Path, prereleases: bool) -> dict[str, object]:
    """`copier check-update` for the answers file in ``folder``; raises RuntimeError."""
    command = [sys.executable, "-m", "copier", "check-update", "--output-format", "json"]
    if prereleases:
        command.append("--prereleases")
    try:
        result = subprocess.run(
            [*command, str(folder)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"copier check-update gave no answer within {CHECK_TIMEOUT} s") from None
    try:
        versions = json.loads(result.stdout)
    except json.JSONDecodeError:
        lines = (result.stderr + result.stdout).strip().splitlines()
        raise RuntimeError(
            f"copier check-update failed: {lines[-1] if lines else 'no output'}"
        ) from None
    return dict(versions)


def check_committed_answers(text: str, prereleases: bool) -> dict[str, object]:
    """`copier check-update` for answers as the last commit records them."""
    with tempfile.TemporaryDirectory(prefix="flask-template-status-") as folder:
        Path(folder, ANSWERS_FILE).write_text(text, encoding="utf-8")
        return check_update(Path(folder), prereleases)


def last_working_answers(project: Path) -> str | None:
    """The newest commit whose answers file copier update could use, if any."""
    history = git(project, "log", "--format=%H", "-n", "50", "--", ANSWERS_FILE)
    for commit in ["HEAD", *history.stdout.split()]:
        text = committed_answers_text(project, commit)
        if text is None or text == working_answers_text(project):
            continue
        try:
            parse_answers(text, project)
        except AnswersProblem:
            continue
        return commit
    return None


def answers_problem(status: Status, project: Path, problem: AnswersProblem) -> Status:
    status.error = problem.message
    status.fix = problem.fix
    working = last_working_answers(project)
    if working == "HEAD":
        status.fix = f"git -C {quoted(project)} checkout HEAD -- {ANSWERS_FILE}"
    elif working:
        status.fix = (
            f"git -C {quoted(project)} checkout {working[:12]} -- {ANSWERS_FILE} (its newest "
            "commit that copier can use; then commit it, with any answer changed since)"
        )
    return status


def read_versions(status: Status, versions: dict[str, object]) -> None:
    status.recorded_version = str(versions["current_version"])
    status.newest_version = str(versions["latest_version"])
    status.update_due = bool(versions["update_available"])


def unreachable(status: Status, error: RuntimeError) -> Status:
    status.state, status.error = ERROR, str(error)
    status.fix = (
        f"`git ls-remote {quoted(status.template or '')}` must list the template's release "
        "tags: check the address and your access; if the template moved, set _src_path "
        f"in {ANSWERS_FILE} to its new address and commit"
    )
    return status


def project_status(folder: str, prereleases: bool = False) -> Status:
    project = Path(folder).resolve()
    status = Status(project=str(project))
    if not project.is_dir():
        status.error = "no such folder"
        return status
    tree = working_tree(project)
    if tree.repository:
        status.uncommitted_changes = len(tree.changes)
        status.clean = tree.clean
    text = working_answers_text(project)
    if text is None:
        status.error = f"no {ANSWERS_FILE}: not generated by Copier, or moved"
        if committed_answers_text(project) is not None:
            status.fix = f"git -C {quoted(project)} checkout HEAD -- {ANSWERS_FILE}"
        return status
    try:
        answers = parse_answers(text, project)
    except AnswersProblem as problem:
        return answers_problem(status, project, problem)
    status.template = str(answers["_src_path"])
    status.recorded_commit = str(answers["_commit"])
    committed = committed_answers_text(project) if tree.committed else None
    if committed is not None and answers_of(committed) != answers:
        return uncommitted_update(status, project, answers, committed, prereleases)
    try:
        read_versions(status, check_update(project, prereleases))
    except RuntimeError as error:
        return unreachable(status, error)
    return judge(status, project, tree, committed is not None)


def uncommitted_update(
    status: Status,
    project: Path,
    applied: dict[str, object],
    committed: str,
    prereleases: bool,
) -> Status:
    """The working tree's answers differ from the last commit's: the recorded
    version is the commit's, and the working tree holds an update in progress."""
    try:
        recorded = parse_answers(committed, project)
    except AnswersProblem:
        recorded = {}
    status.applied_commit = status.recorded_commit
    status.applied_version = display_version(status.applied_commit)
    status.recorded_commit = str(recorded.get("_commit") or "?")
    status.state = UNCOMMITTED_UPDATE
    if recorded:
        try:
            read_versions(status, check_committed_answers(committed, prereleases))
        except RuntimeError as error:
            return unreachable(status, error)
    status.update_due = False
    if status.applied_commit != status.recorded_commit:
        what = f"an update to {status.applied_version}"
    elif changed_answers(recorded, applied):
        what = f"an answer change at {status.applied_version}"
    else:
        what = f"an edit of {ANSWERS_FILE}"
    status.message = (
        f"{what} is in the working tree but not committed (the last commit records "
        f"{status.recorded_version or status.recorded_commit})"
    )
    where = quoted(project)
    status.fix = (
        f"review it (git -C {where} status), then commit it "
        f"(git -C {where} add -A && git -C {where} commit), "
        f"or undo it: flask-template rollback {where}"
    )
    return status


def dirty_fix(project: Path) -> str:
    where = quoted(project)
    return f"commit them, or set them aside: git -C {where} stash push --include-untracked"


def judge(status: Status, project: Path, tree: WorkingTree, answers_committed: bool) -> Status:
    """The state, from the versions and the working tree."""
    recorded = Version(str(status.recorded_version))
    try:
        newest = Version(str(status.newest_version))
    except InvalidVersion:
        newest = recorded
    where = quoted(project)
    own_repository = (
        f'cd {where} && git init && git add -A && git commit -m "Track the generated project"'
    )
    if not tree.repository:
        status.state, status.update_due = NOT_GIT, False
        status.message = "not a git repository: copier update runs only in one"
        status.fix = own_repository
    elif not answers_committed and git(project, "check-ignore", "-q", ANSWERS_FILE).returncode == 0:
        # `git add -A` would add nothing: the project needs a repository of its own.
        status.state, status.update_due = NOT_COMMITTED, False
        status.message = (
            "the git repository around this folder ignores it, so git tracks none of its "
            "files: copier update would delete them"
        )
        status.fix = own_repository
    elif not answers_committed:
        status.state, status.update_due = NOT_COMMITTED, False
        status.message = (
            f"{ANSWERS_FILE} is not in any commit: copier update merges from the last commit"
        )
        status.fix = f'cd {where} && git add -A && git commit -m "Track the generated project"'
    elif recorded > newest:
        status.state, status.update_due = AHEAD, False
        status.message = (
            f"generated from {status.recorded_commit}, a template commit after the newest "
            f"release {status.newest_version}: copier update refuses to go back to it, so "
            "the project cannot update until a newer release is tagged"
        )
        status.fix = (
            "wait for the next release, or take the template's newest commit now: "
            f"cd {where} && copier update --trust --defaults --vcs-ref=HEAD"
        )
    elif status.update_due and not tree.clean:
        status.state = DIRTY
        status.message = (
            f"{status.newest_version} is out, but copier update refuses to run with "
            f"{len(tree.changes)} uncommitted change(s)"
        )
        status.fix = dirty_fix(project)
    elif status.update_due:
        status.state = UPDATE_DUE
        status.message = f"copier update moves it to {status.newest_version}"
        status.fix = f"flask-template update {where}"
    else:
        status.state = CURRENT
    return status


def statuses(folders: Sequence[str], prereleases: bool = False) -> list[Status]:
    with ThreadPoolExecutor(max_workers=PARALLEL_CHECKS) as pool:
        return list(pool.map(lambda folder: project_status(folder, prereleases), folders))


STATE_WORDS = {
    ERROR: "cannot check",
    NOT_GIT: "not in git",
    NOT_COMMITTED: "not committed",
    UNCOMMITTED_UPDATE: "update not committed",
    AHEAD: "ahead of release",
    DIRTY: "blocked: uncommitted changes",
    UPDATE_DUE: "update due",
    CURRENT: "current",
}


def yes_no(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def working_tree_words(status: Status) -> str:
    if status.clean is None:
        return "?" if status.error else "not a git repository"
    if status.clean:
        return "clean"
    return f"{status.uncommitted_changes} uncommitted change(s)"


def report(found: Sequence[Status]) -> str:
    rows = [("project", "recorded", "newest", "update due", "working tree", "state")]
    for status in found:
        rows.append(
            (
                status.project,
                status.recorded_version or status.recorded_commit or "?",
                status.newest_version or "?",
                yes_no(status.update_due),
                working_tree_words(status),
                STATE_WORDS[status.state],
            )
        )
    lines = [table(rows)]
    for status in found:
        if status.state == UPDATE_DUE:
            continue
        if status.error or status.message:
            lines.append(f"{status.project}: {status.error or status.message}")
        if status.fix:
            lines.append(f"    fix: {status.fix}")
    due = " ".join(quoted(status.project) for status in found if status.state == UPDATE_DUE)
    if due:
        lines.append(f"next: flask-template preview {due}")
        lines.append(f"      flask-template update {due}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("projects", nargs="+", metavar="PROJECT", help="a generated project")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--prereleases", action="store_true", help="count pre-release tags as releases"
    )


def run(args: argparse.Namespace) -> int:
    found = statuses(args.projects, args.prereleases)
    if args.json:
        print(json.dumps([asdict(status) for status in found], indent=2))
    else:
        print(report(found))
    return 1 if any(status.error for status in found) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flask-template-status", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
