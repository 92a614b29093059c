"""Undo an update: `flask-template rollback`.

    flask-template rollback [--json] PROJECT [PROJECT ...]

- An update in the working tree, not committed (the working tree's answers
  differ from the last commit's): git's index is reset and everything in the
  working tree that differs from the last commit, including the `.rej` files the
  update wrote (even where .gitignore hides them), goes into one stash named
  after the update. The project is back at its last commit; `git stash pop`
  brings the update back. .venv and other ignored files stay.
- A committed update that is the last commit: `git revert` adds a commit that
  undoes it. History is never rewritten.

Anything else is refused with the reason (no update to roll back; the update is
not the last commit, with the `git revert` command for it). It re-installs
nothing: where .venv exists it prints the command that re-syncs it. The exit
status is 1 when any project was refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from flask_service_template.project import (
    ANSWERS_FILE,
    answers_of,
    changed_answers,
    committed_answers_text,
    display_version,
    git,
    git_paths,
    quoted,
    working_answers_text,
    working_tree,
)
from flask_service_template.update_report import read_report

MIGRATIONS = "migrations/versions"


@dataclass
class Rollback:
    project: str
    done: bool = False
    message: str = ""  # what was done, or why not
    next_steps: list[str] = field(default_factory=list)


def describe(before: dict[str, object], after: dict[str, object]) -> str:
    """ "the update 0.2.0 -> 0.3.0", or the answers an answer change changed."""
    old, new = display_version(before.get("_commit")), display_version(after.get("_commit"))
    answers = ", ".join(
        f"{question}: {was!r} -> {now!r}"
        for question, (was, now) in changed_answers(before, after).items()
    )
    if old != new:
        return f"the update {old} -> {new}" + (f" (answers {answers})" if answers else "")
    return f"the answer change at {new} ({answers or 'no answer changed'})"


def resync_venv(project: Path) -> list[str]:
    if not (project / ".venv").is_dir():
        return []
    where = quoted(project)
    install = (
        'uv pip install --python .venv/bin/python -e ".[dev]"'
        if shutil.which("uv")
        else '.venv/bin/python -m pip install -e ".[dev]"'
    )
    return [f"if the update's check re-installed .venv, re-sync it: cd {where} && {install}"]


def migrations_warning(project: Path, added: list[str]) -> list[str]:
    if not added:
        return []
    return [
        f"the update added {', '.join(added)}: if a database ran them (flask db upgrade), it "
        "is now ahead of the code; bring the update back, run `flask db downgrade <the "
        f"revision before them>` in {quoted(project)}, then roll back again"
    ]


def hidden_update_files(project: Path) -> list[str]:
    """Files the update wrote that .gitignore hides from `git stash`: its .rej files,
    and any other file the update report names."""
    conflicts = (read_report(project) or {}).get("conflicts")
    named = [str(path) for path in conflicts] if isinstance(conflicts, list) else []
    return git_paths(
        project,
        "ls-files",
        "--others",
        "--ignored",
        "--exclude-standard",
        "--",
        "*.rej",
        *named,
        ":(exclude).venv",
    )


def stash_update(project: Path, committed: str, applied: str) -> Rollback:
    rollback = Rollback(project=str(project))
    what = describe(answers_of(committed), answers_of(applied))
    name = f"flask-template rollback: {what} of {project.name}"
    git(project, "reset", "--quiet", "--", ".")  # unmerged entries become plain changes
    added_migrations = git_paths(
        project, "ls-files", "--others", "--exclude-standard", "--", MIGRATIONS
    )
    hidden = hidden_update_files(project)
    steps = [["add", "--force", "--", *hidden]] if hidden else []
    steps.append(["stash", "push", "--quiet", "--include-untracked", "--message", name, "--", "."])
    for step in steps:
        done = git(project, *step)
        if done.returncode != 0:
            rollback.message = f"git {step[0]} failed: {done.stderr.strip()}"
            return rollback
    left = working_tree(project).changes
    if left:
        rollback.message = f"the stash left {len(left)} change(s): {'; '.join(left)}"
        return rollback
    rollback.done = True
    head = git(project, "rev-parse", "--short", "HEAD").stdout.strip()
    rollback.message = (
        f"rolled back {what} (not committed): the working tree is back at the last "
        f'commit {head}; the update is in stash@{{0}}, "{name}"'
    )
    rollback.next_steps = [
        f"bring the update back with: git -C {quoted(project)} stash pop",
        *migrations_warning(project, added_migrations),
        *resync_venv(project),
    ]
    return rollback


def is_downgrade(before: dict[str, object], after: dict[str, object]) -> bool:
    try:
        return Version(str(after.get("_commit"))) < Version(str(before.get("_commit")))
    except InvalidVersion:
        return False


def revert_update(project: Path) -> Rollback:
    rollback = Rollback(project=str(project))
    where = quoted(project)
    head = git(project, "rev-parse", "HEAD").stdout.strip()
    last = git(project, "log", "-1", "--first-parent", "--format=%H", "--", ANSWERS_FILE)
    update = last.stdout.strip()
    subject = git(project, "log", "-1", "--format=%h %s", update).stdout.strip()
    if update != head:
        rollback.message = (
            f"the last update is commit {subject!r}, and commits came after it: reverting it "
            "may conflict with them, so it is left to you"
        )
        rollback.next_steps = [f"git -C {where} revert {update[:12]}"]
        return rollback
    before = answers_of(committed_answers_text(project, "HEAD^1"))
    after = answers_of(committed_answers_text(project))
    if not before:
        rollback.message = (
            f"no update to roll back: {ANSWERS_FILE} last changed when the project was generated"
        )
        return rollback
    message = git(project, "log", "-1", "--format=%B", "HEAD").stdout
    if is_downgrade(before, after) or "This reverts commit" in message:
        rollback.message = (
            f"no update to roll back: the last commit ({subject!r}) is itself a rollback"
        )
        rollback.next_steps = [f"to apply the update again: git -C {where} revert HEAD"]
        return rollback
    added_migrations = git_paths(
        project,
        "diff",
        "--name-only",
        "--diff-filter=A",
        "--relative",
        "HEAD^1",
        "HEAD",
        "--",
        MIGRATIONS,
    )
    parents = git(project, "rev-list", "--parents", "-n", "1", "HEAD").stdout.split()
    mainline = ["-m", "1"] if len(parents) > 2 else []  # a merged pull request
    done = git(project, "revert", "--no-edit", *mainline, "HEAD")
    if done.returncode != 0:
        git(project, "revert", "--abort")
        rollback.message = f"git revert failed: {(done.stderr + done.stdout).strip()}"
        return rollback
    rollback.done = True
    revert = git(project, "rev-parse", "--short", "HEAD").stdout.strip()
    rollback.message = (
        f"rolled back {describe(before, after)}, committed as {subject!r}: commit {revert} "
        "reverts it (history kept)"
    )
    rollback.next_steps = [
        f"to apply the update again: git -C {where} revert {revert}",
        *migrations_warning(project, added_migrations),
        *resync_venv(project),
    ]
    return rollback


def rollback_project(folder: str) -> Rollback:
    project = Path(folder).resolve()
    refused = Rollback(project=str(project))
    tree = working_tree(project) if project.is_dir() else None
    if tree is None or not tree.repository or not tree.committed:
        refused.message = "no update to roll back: " + (
            "no such folder"
            if tree is None
            else "not a git repository"
            if not tree.repository
            else "no commits yet"
        )
        return refused
    committed = committed_answers_text(project)
    applied = working_answers_text(project)
    if committed is None:
        refused.message = f"no update to roll back: {ANSWERS_FILE} is in no commit"
        return refused
    if applied is None:
        refused.message = f"{ANSWERS_FILE} is deleted in the working tree: that is no update"
        restore = f"git -C {quoted(project)} checkout HEAD -- {ANSWERS_FILE}"
        refused.next_steps = [f"restore it: {restore}"]
        return refused
    if answers_of(applied) != answers_of(committed):
        return stash_update(project, committed, applied)
    if tree.changes:
        refused.message = (
            f"{len(tree.changes)} uncommitted change(s), but {ANSWERS_FILE} is as committed, "
            "so they are no update: commit them or set them aside first"
        )
        refused.next_steps = [f"git -C {quoted(project)} stash push --include-untracked"]
        return refused
    return revert_update(project)


def report(rollbacks: list[Rollback]) -> str:
    lines = []
    for rollback in rollbacks:
        lines.append(f"{rollback.project}: {rollback.message}")
        lines += [f"    {step}" for step in rollback.next_steps]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("projects", nargs="+", metavar="PROJECT", help="a generated project")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(args: argparse.Namespace) -> int:
    rollbacks = [rollback_project(folder) for folder in dict.fromkeys(args.projects)]
    if args.json:
        print(json.dumps([asdict(rollback) for rollback in rollbacks], indent=2))
    else:
        print(report(rollbacks))
    return 0 if all(rollback.done for rollback in rollbacks) else 1
