"""Post-generation hook: turn a freshly copied project into a green git repository.

Copier runs this once after `copier copy`, inside the new project, with Copier's
own Python (which has neither Flask nor pytest). It commits the generated files,
pins every dependency in `uv.lock` (committed with the rest), builds `.venv`
(with uv when available, else venv + pip), installs the project with its dev
dependencies, then runs ruff and the test suite.

It never makes the copy fail: Copier deletes a freshly generated project when a
task fails, so each failure is reported with the command that retries it and the
exit status stays 0. Interrupted (Ctrl-C), it says what is left of its work.
Skip the whole hook with `copier copy --skip-tasks`.

With `--update` it checks a project after `copier update` instead (a `_migrations`
entry runs it in the real project after the update guard): it lists the files
left to resolve and stops there, or else brings `uv.lock` in step with
`pyproject.toml` (saying when that changed it), re-installs `.venv` and runs what
the project's CI runs (ruff, mypy, the tests, `flask db upgrade` and `flask db
check` on a scratch database), says which failed, and adds the outcome to the
update report. It never commits, and changes no project file but `uv.lock`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from update_guard import (
    IGNORED_DATA,
    REPORT_FILE,
    find_conflicts,
    ignored_data_keys,
    questions,
    read_answers,
)

ANSWERS_FILE = ".copier-answers.yml"
VENV = ".venv"
BIN = "Scripts" if os.name == "nt" else "bin"
VENV_PYTHON = f"{VENV}/{BIN}/python"
LOCK = "uv.lock"
WORKFLOW = ".github/workflows/ci.yml"
WORKFLOW_BRANCH = "main"  # the branch whose pushes WORKFLOW runs on
FIRST_COMMIT_MESSAGE = "Generate project from the Flask service template"
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
    env: dict[str, str] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class Report:
    project: Path
    steps: list[Step] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    label: str = "post-generate"
    add: list[str] | None = None  # the first commit's `git add` (add_command)

    def run(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Step:
        step = Step(name, command, env=env or {})
        self.steps.append(step)
        print(f"{self.label}: {name} ...", end=" ", flush=True)
        begun = time.perf_counter()
        try:
            result = subprocess.run(
                command,
                cwd=self.project,
                env={**child_environment(), **step.env},
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
        self.steps.append(Step(name, command, detail=reason, skipped=True))
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
    return git_output(project, "rev-parse", "--is-inside-work-tree") == "true"


def ignored_by_enclosing_repository(project: Path) -> bool:
    """Whether the repository around the project ignores it (a dotfiles repository
    in the home folder, say): Copier can update a project only where git tracks it."""
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", ANSWERS_FILE],
        cwd=project,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


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
    project = report.project
    if inside_git_work_tree(project):
        if new_repository_here(project):
            # `uv init` and `git init` leave such a repository: the project is its
            # first commit, as in a folder without one.
            print(
                "post-generate: this folder is a new git repository without commits"
                " (`git init` or `uv init` made it): committing the generated files to it",
                flush=True,
            )
            first_commit(report, args, init=False)
            return
        if not ignored_by_enclosing_repository(project):
            # A project generated inside an existing repository (a monorepo, or a
            # recopy) belongs to that repository: never nest a new one in it.
            add = shlex.join(add_command(report, args)[1:])
            print(
                "post-generate: already inside a git repository: not committing; commit it"
                " there before `copier update`, which needs it committed:\n"
                f"    cd {shlex.quote(str(project))} && git {add} && git commit"
                f' -m "{FIRST_COMMIT_MESSAGE}"',
                flush=True,
            )
            explain_ci_in_a_subfolder(project)
            return
        print(
            "post-generate: the git repository around this folder ignores it:"
            " giving the project a repository of its own",
            flush=True,
        )
    first_commit(report, args, init=True)


def first_commit(report: Report, args: argparse.Namespace, *, init: bool) -> None:
    """Commit what the template generated (and uv.lock), nothing that was in the
    folder before the copy: those files are named, and left untracked."""
    identity = git_identity(report.project, args) if shutil.which("git") else []
    branch = initial_branch(report.project) if shutil.which("git") else []
    commit = [
        "git",
        *identity,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--quiet",
        "--no-verify",
        "--message",
        FIRST_COMMIT_MESSAGE,
    ]
    if init and not report.run("git init", ["git", *branch, "init", "--quiet"]).ok:
        report.skip("git add", ["git", "add", "--all"], "git init failed")
        report.skip("first commit", commit, "git init failed")
        return
    committed = report.run_in_order(
        [("git add", add_command(report, args)), ("first commit", commit)]
    )
    if committed and (report.project / WORKFLOW).is_file():
        name = git_output(report.project, "branch", "--show-current")
        if name != WORKFLOW_BRANCH:
            print(
                f"post-generate: the branch is {name} (git's init.defaultBranch), but {WORKFLOW}"
                f" runs on pushes to {WORKFLOW_BRANCH}: rename the branch"
                f" (git branch -m {WORKFLOW_BRANCH}) or the workflow's."
            )


def new_repository_here(project: Path) -> bool:
    """A repository whose root is the project, with no commit and nothing staged."""
    top = git_output(project, "rev-parse", "--show-toplevel")
    return (
        bool(top)
        and Path(top).resolve() == project.resolve()
        and not git_output(project, "rev-parse", "--verify", "--quiet", "HEAD")
        and not git_output(project, "ls-files", "--cached")
    )


def add_command(report: Report, args: argparse.Namespace) -> list[str]:
    """`git add` of the project's folder, but for the files that were there before
    the copy (named once, here): computed once, after `git init`."""
    if report.add is None:
        others = files_found_here(report.project, args)
        report.add = ["git", "add", "--all", "."]
        report.add += [f":(exclude,literal){path.rstrip('/')}" for path in others]
    return report.add


def files_found_here(project: Path, args: argparse.Namespace) -> list[str]:
    """What git would add that the template did not generate: the folder's own
    files, from before the copy (a file Copier did not overwrite counts too).
    Folders holding nothing generated are named as folders ("notes/")."""
    try:
        generated = template_files(project, args)
    except Exception as error:  # any failure: fall back to committing all
        print(
            f"post-generate: could not render the template again to tell its files from"
            f" others ({type(error).__name__}: {error}); adding every file in the folder",
            flush=True,
        )
        return []
    listed = git_output(project, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    others = [path for path in listed.split("\0") if path and path not in generated]
    folders = {str(parent) for path in generated for parent in PurePosixPath(path).parents}
    found = set()
    for path in others:
        parents = list(PurePosixPath(path).parents)[:-1]  # without "."
        outside = [str(parent) for parent in reversed(parents) if str(parent) not in folders]
        found.add(f"{outside[0]}/" if outside else path)
    if found:
        print(
            f"post-generate: {len(found)} path(s) here are not what the template generated"
            " (they were here before the copy): left out of the first commit, untracked:",
            flush=True,
        )
        for path in sorted(found):
            print(f"    {path}", flush=True)
    return sorted(found)


def template_files(project: Path, args: argparse.Namespace) -> set[str]:
    """The files this copy generated, as paths relative to the project: the
    template rendered again, with the project's answers, into a scratch folder.
    A file whose content differs there is the user's (Copier did not overwrite
    it, or it was excluded from the copy), so it is left out; the answers file
    (which records where the template came from) and the lock the hook made are
    always in."""
    import copier  # Copier's own Python runs the hook

    answers = read_answers((project / ANSWERS_FILE).read_bytes())
    # Copier runs this hook from the template at the very version it copied (its
    # own clone of a git template): HEAD there is that version.
    template = args.template or str(Path(__file__).resolve().parent.parent)
    data = {key: value for key, value in answers.items() if not key.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="post-generate-") as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(
            template,
            scratch,
            data=data,
            vcs_ref="HEAD",
            defaults=True,
            unsafe=True,
            quiet=True,
            skip_tasks=True,
        )
        rendered = Path(scratch)
        files = {
            path.relative_to(rendered).as_posix()
            for path in rendered.rglob("*")
            if path.is_file() or path.is_symlink()
        }
        kept = {
            name
            for name in files - {ANSWERS_FILE}
            if (project / name).is_file()
            and (project / name).read_bytes() != (rendered / name).read_bytes()
        }
    return (files - kept) | {LOCK, ANSWERS_FILE}


def git_output(project: Path, *args: str) -> str:
    """What a git command prints, or "" when it fails or git is not installed."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=project, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def initial_branch(project: Path) -> list[str]:
    """`main`, which the GitHub workflow's pushes name, unless git is configured
    otherwise: git's own default is still master."""
    if git_output(project, "config", "init.defaultBranch"):
        return []
    return ["-c", f"init.defaultBranch={WORKFLOW_BRANCH}"]


def explain_ci_in_a_subfolder(project: Path) -> None:
    """GitHub and GitLab read their CI files at the repository's root only: in a
    monorepo's folder the generated ones would never run."""
    folder = git_output(project, "rev-parse", "--show-prefix").rstrip("/")
    if not folder:
        return
    if (project / WORKFLOW).is_file():
        print(
            f"post-generate: GitHub reads .github/ only at the repository's root, so {WORKFLOW}"
            f" and .github/dependabot.yml never run from {folder}/: move the workflow to the"
            f" root's .github/workflows/ with `defaults: {{run: {{working-directory: {folder}}}}}`"
            f" and the Dependabot entries into the root's file with `directory: /{folder}`.",
            flush=True,
        )
    if (project / ".gitlab-ci.yml").is_file():
        print(
            "post-generate: GitLab runs only the root's .gitlab-ci.yml, so this one never runs"
            f" from {folder}/: run its jobs from the root's, as a child pipeline"
            f" (`trigger: {{include: {folder}/.gitlab-ci.yml}}`) whose jobs `cd {folder}` first.",
            flush=True,
        )


def lock(report: Report, args: argparse.Namespace) -> None:
    """Pin every dependency in uv.lock before the first commit, so the commit
    records exactly what the tests ran on and what the image and CI install."""
    uv = find_uv()
    if uv is None:
        return  # `explain_missing_lock` says what that means and how to make one
    command = [uv, "lock", "--quiet"]
    # An interpreter uv can see, so it never downloads one (when PATH has none).
    python = find_python(minimum_python(args))
    if python:
        command += ["--python", python]
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
        # pip's --target works on a system Python that refuses installs (PEP 668) too.
        f"    cd {where} && python3 -m pip install --target ~/.local/uv uv"
        f" && ~/.local/uv/bin/uv lock && git add {LOCK}"
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


def minimum_python(args: argparse.Namespace) -> tuple[int, int]:
    major, minor = args.python_version.split(".")
    return int(major), int(minor)


def install(report: Report, args: argparse.Namespace) -> bool:
    """Build .venv and install the project with its dev dependencies."""
    minimum = minimum_python(args)
    uv = find_uv()
    venv_exists = (report.project / VENV_PYTHON).exists()
    if uv:
        python = find_python(minimum) or args.python_version  # uv may fetch it
        create = [uv, "venv", "--quiet", "--seed", "--python", python, VENV]
        if not venv_exists and not report.run("create .venv (uv)", create).ok:
            # Named, so that the retry command installs into the .venv it creates.
            command = uv_install_command(uv, report.project)
            report.skip("install with dev dependencies (uv)", command, "no .venv")
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
    pip = [VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip_install = ("install with dev dependencies (pip)", [*pip, "-e", ".[dev]"])
    if python is None:
        report.skip(
            "create .venv",
            [f"python{args.python_version}", "-m", "venv", VENV],
            f"no Python {args.python_version} or newer found; install it, or install uv",
        )
        report.skip(*pip_install, "no .venv")
        return False
    if not venv_exists and not report.run("create .venv (venv)", [python, "-m", "venv", VENV]).ok:
        report.skip(*pip_install, "no .venv")
        return False
    return report.run(*pip_install).ok


CHECKS = {
    "ruff check": [VENV_PYTHON, "-m", "ruff", "check", "--quiet", "."],
    "ruff format --check": [VENV_PYTHON, "-m", "ruff", "format", "--check", "--quiet", "."],
    "tests": [VENV_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
}


def check(report: Report, checks: dict[str, list[str]] = CHECKS) -> str:
    """Run the checks; return the tests' summary line."""
    summary = "no test summary"
    for name, command in checks.items():
        step = report.run(name, command)
        if name == "tests":
            summary = test_summary(step.detail)
    return summary


def test_summary(output: str) -> str:
    lines = output.splitlines()
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
        print(next_steps(report.project))
        return
    print(f"post-generate: NOT GREEN after {seconds:.1f} s; your files are all in {where}.")
    for step in failed:
        print(f"post-generate:   failed: {step.name}")
    print("post-generate: fix the cause above, then retry with:")
    print(f"    cd {where} && {retry(failed)}")


def next_steps(project: Path) -> str:
    """How to run the new service, as its README's "Run it locally" says: with
    PostgreSQL, `flask db upgrade` needs the server running first."""
    where = shlex.quote(str(project))
    activate = f"cd {where} && . {VENV}/{BIN}/activate"
    run = "flask db upgrade && flask run --debug"
    try:
        answers = read_answers((project / ANSWERS_FILE).read_bytes())
    except OSError:
        answers = {}
    if answers.get("database") != "postgresql":
        return f"post-generate: next: {activate} && {run}"
    if not (project / "compose.yaml").is_file():
        return (
            "post-generate: next: with PostgreSQL running at DevelopmentConfig's URL or at"
            f' DATABASE_URL (README.md, "Run it locally"):\n    {activate} && {run}'
        )
    secret = "python -c 'import secrets; print(\"SECRET_KEY=\" + secrets.token_hex())'"
    return (
        'post-generate: next, as README.md\'s "Run it locally" says (PostgreSQL first):\n'
        f"    {activate}\n"
        f"    test -f .env || {secret} > .env\n"
        "    docker compose up --detach db\n"
        f"    {run}"
    )


def retry(failed: list[Step]) -> str:
    """One shell command that runs the failed and skipped steps again."""
    parts = []
    for step in failed:
        if not step.command:
            continue
        env = " ".join(f"{name}={shlex.quote(value)}" for name, value in step.env.items())
        parts.append(f"{env} {shlex.join(step.command)}" if env else shlex.join(step.command))
    return " && ".join(parts)


# After `copier update`: what the project's CI runs, never a commit.

# The migrations must build the schema the models describe: upgrade a scratch
# database, then compare (CI does the same on its own database).
SCRATCH_DATABASE = "flask-template-check.sqlite"
UPDATE_CHECKS = {
    "ruff check": CHECKS["ruff check"],
    "ruff format --check": CHECKS["ruff format --check"],
    "mypy": [VENV_PYTHON, "-m", "mypy"],
    "tests": CHECKS["tests"],
}
MIGRATION_CHECKS = {
    "flask db upgrade": [VENV_PYTHON, "-m", "flask", "db", "upgrade"],
    "flask db check": [VENV_PYTHON, "-m", "flask", "db", "check"],
}


def update_checks(report: Report, scratch: Path) -> str:
    """ruff, mypy, the tests and the migrations check, as the generated CI runs them."""
    summary = check(report, UPDATE_CHECKS)
    # The testing config reads only TEST_DATABASE_URL: no real database is touched.
    env = {"APP_ENV": "testing", "TEST_DATABASE_URL": f"sqlite:///{scratch / SCRATCH_DATABASE}"}
    for name, command in MIGRATION_CHECKS.items():
        if not report.run(name, command, env).ok:
            break
    return summary


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


def summarize_update(report: Report, tests: str, conflicts: list[str]) -> dict[str, object]:
    """Print the outcome; return it for the update report."""
    seconds = time.perf_counter() - report.started
    where = shlex.quote(str(report.project))
    failed = report.failed()
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
            f"    cd {where} && {retry(failed)}"
        )
        return {"ran": False, "reason": "conflicts to resolve first"}
    outcome: dict[str, object] = {
        "ran": True,
        "green": not failed,
        "failed": [step.name for step in failed if not step.skipped],
        "skipped": [step.name for step in failed if step.skipped],
        "summary": tests,
    }
    if not failed:
        clean = "ruff, mypy and flask db check clean"
        print(f"post-update: GREEN in {seconds:.1f} s: {tests}, {clean}.")
        print("post-update: review the update with `git status` and `git diff`, then commit it.")
        return outcome
    print(f"post-update: NOT GREEN after {seconds:.1f} s; the update is in {where}, uncommitted.")
    for step in failed:
        if step.skipped:
            print(f"post-update:   skipped: {step.name} ({step.detail})")
        else:
            print(f"post-update:   failed: {step.name}")
    print("post-update: fix the cause above, then retry with:")
    print(f"    cd {where} && {retry(failed)}")
    return outcome


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
        record_check(project, summarize_update(report, "", conflicts))
        return
    with tempfile.TemporaryDirectory(prefix="post-update-") as scratch:
        if install(report, args):
            tests = update_checks(report, Path(scratch))
        else:
            tests = ""
            for name, command in {**UPDATE_CHECKS, **MIGRATION_CHECKS}.items():
                report.skip(name, command, "the install failed")
        record_check(project, summarize_update(report, tests, []))
    explain_missing_lock(report)


def record_check(project: Path, outcome: dict[str, object]) -> None:
    """Add the check's outcome to the update guard's report, if there is one."""
    try:
        path = git_path(project, REPORT_FILE)
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, subprocess.SubprocessError):
        return
    report["check"] = outcome
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")


def git_path(project: Path, name: str) -> Path:
    result = subprocess.run(
        ["git", "rev-parse", "--git-path", name],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return project / result.stdout.strip()


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
    parser.add_argument("--data", default="{}", help="Copier's --data, as JSON")
    parser.add_argument("--template", default="", help="the template Copier copied from")
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
    signal.signal(signal.SIGINT, lambda *_: interrupted(report))
    try:
        copy_steps(report, args)
    except KeyboardInterrupt:
        return 130
    return 0


def copy_steps(report: Report, args: argparse.Namespace) -> None:
    lock(report, args)
    commit_generated_files(report, args)
    summarize(report, install_and_check(report, args))
    explain_missing_lock(report)
    warn_about_data(args)


def interrupted(report: Report) -> None:
    """Ctrl-C: say at once (Copier stops this hook a quarter of a second later)
    that the files are all there, and what is left of the hook's work."""
    where = shlex.quote(str(report.project))
    step = report.steps[-1].name if report.steps else "its start"
    uv = find_uv()
    left = [] if uv is None or (report.project / LOCK).exists() else [f"{shlex.quote(uv)} lock"]
    if not inside_git_work_tree(report.project):
        add = shlex.join(report.add[1:]) if report.add else "add --all"
        left.append(f'git init && git {add} && git commit -m "{FIRST_COMMIT_MESSAGE}"')
    if uv is None:
        left.append(f"python3 -m venv {VENV} && {VENV_PYTHON} -m pip install -e '.[dev]'")
    else:
        left.append(f"{shlex.quote(uv)} sync --extra dev")
    left.append(f"{VENV_PYTHON} -m pytest -q")
    print(
        f"\npost-generate: INTERRUPTED during {step}; your files are all in {where}."
        f" Finish what the hook does with:\n    cd {where} && {' && '.join(left)}",
        flush=True,
    )
    raise KeyboardInterrupt


def warn_about_data(args: argparse.Namespace) -> None:
    """Copier ignores --data and --data-file keys that are no question: name them,
    last, where they are seen."""
    copier_yml = Path(__file__).resolve().parent.parent / "copier.yml"
    known = questions(copier_yml.read_text(encoding="utf-8"))
    unknown = ignored_data_keys(json.loads(args.data or "{}"), known)
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        guess = f" (did you mean {close[0]}?)" if close else ""
        print(f"post-generate: WARNING: {IGNORED_DATA.format(key=key)}{guess}")
    if unknown:
        print(
            "post-generate: the project has those questions' defaults; change an answer with:\n"
            "    copier update --trust --defaults --vcs-ref=:current: --data NAME=VALUE"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
