"""Plumbing shared by the template's tests: template snapshots, renders, installs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PARTS = ("copier.yml", "template", "hooks")
UV = shutil.which("uv") or "uv"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Template Tests",
            "-c",
            "user.email=tests@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def snapshot_template(destination: Path, edit: Callable[[Path], None] | None = None) -> Path:
    """Commit the working tree's template into a fresh git repository.

    Tests render from the snapshot, so they see uncommitted changes yet stay
    independent of this repository's state; ``edit`` may alter the snapshot
    first (to plant a failing test, say).
    """
    destination.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, destination / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / part)
    if edit is not None:
        edit(destination)
    git(destination, "init", "--quiet")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "Template snapshot")
    return destination


def render(
    template: Path,
    destination: Path,
    answers: Mapping[str, object] | None = None,
    *,
    skip_tasks: bool = True,
) -> Path:
    copier.run_copy(
        str(template),
        destination,
        data=dict(answers or {}),
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",
        skip_tasks=skip_tasks,
    )
    return destination


def clean_environment(**overrides: str) -> dict[str, str]:
    """The environment for a generated project's commands, without our venv."""
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV",)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    env.update(overrides)
    return env


@dataclass
class Project:
    """A rendered project, with helpers to install it and run its tools."""

    path: Path

    @property
    def package(self) -> str:
        return next(child.name for child in (self.path / "src").iterdir() if child.is_dir())

    def bin(self, tool: str) -> str:
        return str(self.path / ".venv" / "bin" / tool)

    def install(self, *extra: str) -> Project:
        if not (self.path / ".venv").exists():
            subprocess.run([UV, "venv", "--quiet", ".venv"], cwd=self.path, check=True)
        subprocess.run(
            [
                UV,
                "pip",
                "install",
                "--quiet",
                "--python",
                self.bin("python"),
                *extra,
                "-e",
                ".[dev]",
            ],
            cwd=self.path,
            check=True,
            env=clean_environment(),
        )
        return self

    def run(
        self, *command: str, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a tool of the project's venv (``command[0]``) in the project."""
        result = subprocess.run(
            [self.bin(command[0]), *command[1:]],
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=600,
            env=clean_environment(**(env or {})),
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode} in {self.path}\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def text_files(self) -> dict[Path, str]:
        files = {}
        for path in sorted(self.path.rglob("*")):
            parts = path.relative_to(self.path).parts
            if path.is_file() and not {".venv", ".git", "__pycache__"} & set(parts):
                files[path.relative_to(self.path)] = path.read_text(encoding="utf-8")
        return files
