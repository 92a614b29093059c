"""Post-generation hook: turn a freshly copied project into a green git repository.

Copier runs this once after `copier copy`, inside the new project, with Copier's
own Python (which has neither Flask nor pytest). It commits the generated files,
pins every dependency in `uv.lock` (committed with the rest), builds `.venv`
(with uv when available, else venv + pip), installs the project with its dev
dependencies, then runs ruff and the test suite.

It never makes the copy fail: Copier deletes a freshly generated project when a
task fails, so each failure is reported with the command that retries it and the
exit status stays 0. Skip the whole hook with `copier copy --skip-tasks`.

With `--update` it checks a project after `copier update` instead (a `_migrations`
entry runs it in the real project once Copier has merged the new release): it
lists the files left with conflict markers or `.rej` files and stops there, or
else brings `uv.lock` in step with `pyproject.toml` (saying when that changed
it), re-installs `.venv` and runs ruff and the tests. It never commits, and
changes no project file but `uv.lock`.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ANSWERS_FILE = ".copier-answers.yml"
VENV = ".venv"
BIN = "Scripts" if os.name == "nt" else "bin"
VENV_PYTHON = f"{VENV}/{BIN}/python"
LOCK = "uv.lock"
STEP_TIMEOUT = 900  # seconds; a cold install over a slow network can take minutes
# A test-suite summary such as "48 passed, 1 skipped in 1.52s".
PYTEST_SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed|error).*) in [\d.]+s")


@dataclass
class Step:
    name: str
    command: list[str]
    ok: bool = False
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    project: Path
    steps: list[Step] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    label: str = "post-generate"

    def run(self, name: str, command: list[str]) -> Step:
        step = Step(name, command)
        self.steps.append(step)
        print(f"{self.label}: {name} ...", end=" ", flush=True)
        begun = time.perf_counter()
        try:
            result = subprocess.run(
                command,
                cwd=self.project,
                env=child_environment(),
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            step.detail = f"{command[0]} is not installed or not on PATH"
        except subprocess.TimeoutExpired:
            step.detail = f"gave no result within {STEP_TIMEOUT} s"
        else:
            step.ok = result.returncode == 0
            step.detail = (result.stdout + result.stderr).strip()
        step.seconds = time.perf_counter() - begun
        print(f"{'ok' if step.ok else 'FAILED'} ({step.seconds:.1f} s)", flush=True)
        if not step.ok:
            print(indent(tail(step.detail)), flush=True)
        return step

    def run_in_order(self, steps: list[tuple[str, list[str]]]) -> bool:
        """Run steps until one fails; the rest are skipped, so a retry includes them."""
        for position, (name, command) in enumerate(steps):
            if not self.run(name, command).ok:
                for later_name, later_command in steps[position + 1 :]:
                    self.skip(later_name, later_command, f"{name} failed")
                return False
        return True

    def skip(self, name: str, command: list[str], reason: str) -> None:
        self.steps.append(Step(name, command, detail=reason))
        print(f"{self.label}: {name} skipped: {reason}", flush=True)

    def failed(self) -> list[Step]:
        return [step for step in self.steps if not step.ok]


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Copier may run inside another virtual environment; the project's own
    # tools must not pick it up.
    env.pop("VIRTUAL_ENV", None)
    # Let the first test run write bytecode, so later runs import fast even
    # where PYTHONDONTWRITEBYTECODE is set globally.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def tail(text: str, lines: int = 30) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output)"


def indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def find_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    try:  # `pip install uv` puts the binary beside a module that can find it
        import uv  # type: ignore[import-not-found]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def find_python(minimum: tuple[int, int]) -> str | None:
    """An interpreter at least as new as the project's minimum Python."""
    if sys.version_info[:2] >= minimum:
        return sys.executable
    for minor in range(minimum[1], minimum[1] + 10):
        found = shutil.which(f"python{minimum[0]}.{minor}")
        if found:
            return found
    return None


def inside_git_work_tree(project: Path) -> bool:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return False
    return result.stdout.strip() == "true"


def git_identity(project: Path, args: argparse.Namespace) -> list[str]:
    """`-c` options supplying the answers' author where git has no identity."""
    options = []
    for key, fallback in (("user.name", args.author_name), ("user.email", args.author_email)):
        result = subprocess.run(
            ["git", "config", key], cwd=project, capture_output=True, check=False
        )
        if result.returncode != 0:
            options += ["-c", f"{key}={fallback}"]
    return options


def commit_generated_files(report: Report, args: argparse.Namespace) -> None:
    if inside_git_work_tree(report.project):
        # A project generated inside an existing repository (a monorepo, or a
        # recopy) belongs to that repository: never nest a new one in it.
        print("post-generate: already inside a git repository: not committing", flush=True)
        return
    identity = git_identity(report.project, args) if shutil.which("git") else []
    report.run_in_order(
        [
            ("git init", ["git", "init", "--quiet"]),
            ("git add", ["git", "add", "--all"]),
            (
                "first commit",
                [
                    "git",
                    *identity,
                    "-c",
                    "commit.gpgsign=false",
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "--message",
                    "Generate project from the Flask service template",
                ],
            ),
        ]
    )


def lock(report: Report) -> None:
    """Pin every dependency in uv.lock before the first commit, so the commit
    records exactly what the tests ran on and what the image and CI install."""
    uv = find_uv()
    if uv is None:
        return  # `explain_missing_lock` says what that means and how to make one
    command = [uv, "lock", "--quiet"]
    if report.run(f"lock dependencies ({LOCK})", command).ok:
        return
    # Offline, every package may be in uv's cache already.
    online = report.steps.pop()
    offline = report.run(f"lock from uv's cache ({LOCK}, offline)", [*command, "--offline"])
    offline.command = online.command


def explain_missing_lock(report: Report) -> None:
    if (report.project / LOCK).exists():
        return
    cause = "uv was not found, so " if find_uv() is None else ""
    where = shlex.quote(str(report.project))
    print(
        f"{report.label}: no {LOCK} was made: {cause}dependencies are not pinned, installs"
        " are not reproducible,\n"
        f"{report.label}: and the Dockerfile and CI, which install from {LOCK}, will fail."
        " Make it, then commit it:\n"
        f"    cd {where} && python3 -m pip install uv && python3 -m uv lock && git add {LOCK}"
    )


def refresh_lock(report: Report, uv: str) -> None:
    """After an update: bring uv.lock in step with pyproject.toml, and say so when
    that changed it. Pins that pyproject.toml still allows stay as they were."""
    path = report.project / LOCK
    before = path.read_bytes() if path.exists() else None
    if not report.run(f"refresh {LOCK}", [uv, "lock", "--quiet"]).ok:
        return
    if before is None:
        print(
            f"{report.label}: created {LOCK}, which the Dockerfile and CI install from:"
            " commit it with the update."
        )
    elif path.read_bytes() != before:
        print(
            f"{report.label}: pyproject.toml changed, so {LOCK} was refreshed:"
            f" review `git diff {LOCK}` and commit it with the update."
        )


def uv_install_command(uv: str, project: Path) -> list[str]:
    """Install exactly what uv.lock pins, or resolve afresh where there is no lock."""
    if (project / LOCK).exists():
        return [uv, "sync", "--quiet", "--frozen", "--extra", "dev"]
    return [uv, "pip", "install", "--quiet", "--python", VENV_PYTHON, "-e", ".[dev]"]


def install(report: Report, args: argparse.Namespace) -> bool:
    """Build .venv and install the project with its dev dependencies."""
    major, minor = args.python_version.split(".")
    minimum = (int(major), int(minor))
    uv = find_uv()
    venv_exists = (report.project / VENV_PYTHON).exists()
    if uv:
        python = find_python(minimum) or args.python_version  # uv may fetch it
        if (
            not venv_exists
            and not report.run(
                "create .venv (uv)", [uv, "venv", "--quiet", "--seed", "--python", python, VENV]
            ).ok
        ):
            return False
        if args.update:
            refresh_lock(report, uv)
        command = uv_install_command(uv, report.project)
        if report.run("install with dev dependencies (uv)", command).ok:
            return True
        # Offline, the packages may all be in uv's cache already.
        online = report.steps.pop()
        offline = report.run("install from uv's cache (offline)", [*command, "--offline"])
        offline.command = online.command
        return offline.ok
    python = find_python(minimum)
    if python is None:
        report.skip(
            "create .venv",
            [f"python{args.python_version}", "-m", "venv", VENV],
            f"no Python {args.python_version} or newer found; install it, or install uv",
        )
        return False
    if not venv_exists and not report.run("create .venv (venv)", [python, "-m", "venv", VENV]).ok:
        return False
    return report.run(
        "install with dev dependencies (pip)",
        [
            VENV_PYTHON,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            ".[dev]",
        ],
    ).ok


CHECKS = {
    "ruff check": [VENV_PYTHON, "-m", "ruff", "check", "--quiet", "."],
    "ruff format --check": [VENV_PYTHON, "-m", "ruff", "format", "--check", "--quiet", "."],
    "tests": [VENV_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
}


def check(report: Report) -> str:
    """Run ruff and the tests; return the tests' summary line."""
    for name, command in CHECKS.items():
        step = report.run(name, command)
    lines = step.detail.splitlines()
    summaries = [match.group(1) for match in map(PYTEST_SUMMARY.match, lines) if match]
    summary = summaries[-1] if summaries else "no test summary"
    # The generated conftest.py names the database the tests ran on.
    databases = [line for line in lines if line.startswith("database: ")]
    return f"{summary} ({databases[-1]})" if databases else summary


def summarize(report: Report, tests: str) -> None:
    seconds = time.perf_counter() - report.started
    where = shlex.quote(str(report.project))
    failed = report.failed()
    if not failed:
        print(f"post-generate: ready in {seconds:.1f} s: {tests}, ruff clean.")
        start = f". {VENV}/{BIN}/activate && flask db upgrade && flask run --debug"
        print(f"post-generate: next: cd {where} && {start}")
        return
    print(f"post-generate: NOT GREEN after {seconds:.1f} s; your files are all in {where}.")
    for step in failed:
        print(f"post-generate:   failed: {step.name}")
    retry = " && ".join(shlex.join(step.command) for step in failed if step.command)
    print(f"post-generate: fix the cause above, then retry with:\n    cd {where} && {retry}")


# After `copier update`: the same install and checks, never a commit.

# A line opening or closing a conflict, as git and Copier write them
# ("<<<<<<< before updating" ... ">>>>>>> after updating").
CONFLICT_MARKER = re.compile(rb"^(<{7}|>{7})( |\r?$)", re.MULTILINE)


def git_paths(project: Path, *options: str) -> list[str] | None:
    """What `git ls-files` lists under the project, or None without a usable git."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z", *options], cwd=project, capture_output=True, check=False
        )
    except FileNotFoundError:
        return None
    if result.returncode != 0:
        return None
    # A conflicted file is listed once per merge stage.
    return sorted({path for path in os.fsdecode(result.stdout).split("\0") if path})


def walked_paths(project: Path) -> list[str]:
    found = []
    for folder, subfolders, files in os.walk(project):
        subfolders[:] = [name for name in subfolders if name not in {".git", VENV}]
        found += [Path(folder, name).relative_to(project).as_posix() for name in files]
    return sorted(found)


def find_conflicts(project: Path) -> list[str]:
    """Files the update left with conflict markers, and its `.rej` files."""
    listed = git_paths(project, "--cached", "--others", "--exclude-standard")
    # `.rej` files count even where the project's .gitignore hides them.
    rejects = git_paths(project, "--others", "--", "*.rej")
    if listed is None or rejects is None:
        listed, rejects = walked_paths(project), []
    conflicts = set(rejects) | {path for path in listed if path.endswith(".rej")}
    for relative in listed:
        path = project / relative
        if relative in conflicts or not path.is_file():
            continue
        try:
            content = path.read_bytes()
        except OSError:
            continue
        if b"\0" not in content[:8192] and CONFLICT_MARKER.search(content):
            conflicts.add(relative)
    return sorted(conflicts)


def planned_install(project: Path, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The steps `install` would run here, to name in a command for later."""
    uv = find_uv()
    steps = []
    if not (project / VENV_PYTHON).exists():
        if uv:
            create = [uv, "venv", "--quiet", "--seed", "--python", args.python_version, VENV]
            steps.append(("create .venv (uv)", create))
        else:
            create = [f"python{args.python_version}", "-m", "venv", VENV]
            steps.append(("create .venv (venv)", create))
    if uv:
        steps.append(("refresh uv.lock", [uv, "lock", "--quiet"]))
        steps.append(("install with dev dependencies (uv)", uv_install_command(uv, project)))
    else:
        install_command = [VENV_PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]"]
        steps.append(("install with dev dependencies (pip)", install_command))
    return steps


def summarize_update(report: Report, tests: str, conflicts: list[str]) -> None:
    seconds = time.perf_counter() - report.started
    where = shlex.quote(str(report.project))
    failed = report.failed()
    retry = " && ".join(shlex.join(step.command) for step in failed if step.command)
    if conflicts:
        print(
            f"post-update: CONFLICTS in {len(conflicts)} file(s); nothing was installed or tested:"
        )
        for path in conflicts:
            print(f"    {path}")
        print(
            "post-update: in each file keep what you need and remove the markers"
            " (<<<<<<< before updating, =======, >>>>>>> after updating);\n"
            "post-update: apply each .rej file by hand, then delete it. Then check with:\n"
            f"    cd {where} && {retry}"
        )
        return
    if not failed:
        print(f"post-update: GREEN in {seconds:.1f} s: {tests}, ruff clean.")
        print("post-update: review the update with `git status` and `git diff`, then commit it.")
        return
    print(f"post-update: NOT GREEN after {seconds:.1f} s; the update is in {where}, uncommitted.")
    for step in failed:
        print(f"post-update:   failed: {step.name}")
    print(f"post-update: fix the cause above, then retry with:\n    cd {where} && {retry}")


def check_after_update(project: Path, args: argparse.Namespace) -> None:
    if not (project / ANSWERS_FILE).is_file():
        print(f"post-update: no {ANSWERS_FILE} in {project}: nothing to check")
        return
    print(f"post-update: checking {project}", flush=True)
    report = Report(project, label="post-update")
    conflicts = find_conflicts(project)
    if conflicts:
        # Installing or testing half-merged files proves nothing and may fail
        # confusingly: list the conflicts and how to check once they are resolved.
        for name, command in [*planned_install(project, args), *CHECKS.items()]:
            report.steps.append(Step(name, command, detail="unresolved conflicts"))
        summarize_update(report, "", conflicts)
        return
    summarize_update(report, install_and_check(report, args), [])
    explain_missing_lock(report)


def install_and_check(report: Report, args: argparse.Namespace) -> str:
    """Install, then run ruff and the tests; return the tests' summary line."""
    if install(report, args):
        return check(report)
    for name, command in CHECKS.items():
        report.skip(name, command, "the install failed")
    return ""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--author-name", default="Flask Service Template")
    parser.add_argument("--author-email", default="template@example.invalid")
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument(
        "--update", action="store_true", help="check the project after `copier update`"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    project = Path.cwd()
    if args.update:
        check_after_update(project, args)
        return 0
    operation = os.environ.get("COPIER_OPERATION", "copy")
    if operation != "copy" or not (project / ANSWERS_FILE).is_file():
        # During `copier update` Copier also runs tasks in throwaway copies;
        # only a fresh copy of a generated project is this hook's business.
        print(f"post-generate: nothing to do for {operation} in {project}")
        return 0
    report = Report(project)
    lock(report)
    commit_generated_files(report, args)
    summarize(report, install_and_check(report, args))
    explain_missing_lock(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
