"""A generated project as git and Copier see it: its answers file, as committed
and as in the working tree, and the state of its git working tree."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

ANSWERS_FILE = ".copier-answers.yml"


def git(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run git in the project folder; the caller reads its exit status."""
    return subprocess.run(
        ["git", *arguments], cwd=project, capture_output=True, text=True, check=False
    )


def git_paths(project: Path, *arguments: str) -> list[str]:
    """The paths a git listing command prints with ``-z`` (ls-files, diff --name-only)."""
    listed = git(project, *arguments[:1], "-z", *arguments[1:])
    return sorted({path for path in listed.stdout.split("\0") if path})


def quoted(project: Path | str) -> str:
    return shlex.quote(str(project))


@dataclass
class WorkingTree:
    repository: bool  # the folder is inside a git working tree
    committed: bool  # ... which has at least one commit
    changes: list[str]  # `git status --porcelain` lines for the folder

    @property
    def clean(self) -> bool:
        # The question Copier asks before it updates: anything to commit here?
        return self.repository and not self.changes


def working_tree(project: Path) -> WorkingTree:
    if git(project, "rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        return WorkingTree(repository=False, committed=False, changes=[])
    committed = git(project, "rev-parse", "--verify", "--quiet", "HEAD").returncode == 0
    status = git(project, "status", "--porcelain", "--", ".")
    return WorkingTree(repository=True, committed=committed, changes=status.stdout.splitlines())


def working_answers_text(project: Path) -> str | None:
    try:
        return (project / ANSWERS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def committed_answers_text(project: Path, revision: str = "HEAD") -> str | None:
    """The answers file as ``revision`` records it, or None where it has none."""
    shown = git(project, "show", f"{revision}:./{ANSWERS_FILE}")
    return shown.stdout if shown.returncode == 0 else None


class AnswersProblem(Exception):
    """The answers file cannot drive `copier update`; ``fix`` says what would."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def is_relative_local_path(source: str) -> bool:
    # URLs and Copier's shortcuts ("https://", "gh:", "git@host:") start with a
    # scheme-like prefix; absolute paths start at the root.
    return not (Path(source).is_absolute() or re.match(r"^[\w+.@-]+:", source))


def parse_answers(text: str, project: Path) -> dict[str, object]:
    """The answers of an answers file, or AnswersProblem naming what is wrong."""
    path = quoted(project / ANSWERS_FILE)
    try:
        answers = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise AnswersProblem(
            f"{ANSWERS_FILE} is not valid YAML{where}: {problem}",
            f"correct the YAML in {path} (Copier writes one `key: value` per line)",
        ) from None
    if not isinstance(answers, dict):
        raise AnswersProblem(
            f"{ANSWERS_FILE} holds no `key: value` answers",
            f"restore it from git history (git -C {quoted(project)} log -p -- {ANSWERS_FILE})",
        )
    source = answers.get("_src_path")
    if not source:
        raise AnswersProblem(
            f"{ANSWERS_FILE} records no template (_src_path), so copier update cannot "
            "tell which template to merge",
            f"add a line `_src_path: <the template's URL or absolute path>` to {path}",
        )
    if is_relative_local_path(str(source)):
        raise AnswersProblem(
            f"the template is recorded as the relative path {str(source)!r}, which "
            "copier cannot find from the project",
            f"set _src_path in {path} to the template's absolute path or URL",
        )
    if not answers.get("_commit"):
        raise AnswersProblem(
            f"{ANSWERS_FILE} records no template version (_commit), so copier update "
            "cannot tell what the project was generated from",
            f"add a line `_commit: v<the release it was generated from>` to {path}",
        )
    return answers


def answers_of(text: str | None) -> dict[str, object]:
    """Whatever answers a text holds, leniently: {} when it holds none."""
    try:
        answers = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return {}
    return answers if isinstance(answers, dict) else {}


def display_version(commit: object) -> str:
    """A release tag as its PEP 440 version ("v0.3.0" -> "0.3.0"); anything else as is."""
    try:
        return str(Version(str(commit)))
    except InvalidVersion:
        return str(commit)


def changed_answers(
    before: dict[str, object], after: dict[str, object]
) -> dict[str, tuple[object, object]]:
    """Questions whose recorded answer differs: question -> (before, after)."""
    questions = sorted(key for key in {*before, *after} if not key.startswith("_"))
    return {
        question: (before.get(question), after.get(question))
        for question in questions
        if before.get(question) != after.get(question)
    }
