"""The post-generation hook: a green, committed project on success, and on any
failure the generated files kept, the failure named and a retry command given."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from importlib.metadata import metadata
from pathlib import Path

import copier
import pytest
from helpers import (
    ROOT,
    SMALLEST,
    UV,
    PostgresServer,
    Project,
    clean_environment,
    copier_venv,
    copy_command,
    git,
    render,
    run_checked,
    snapshot_template,
)

HOOK = ROOT / "hooks" / "post_generate.py"
FIRST_COMMIT_MESSAGE = "Generate project from the Flask service template"


def copier_copy(
    template: Path,
    destination: Path,
    *,
    python: str = sys.executable,
    answers: Mapping[str, object] | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`copier copy` from the command line, as a user runs it, hook included."""
    data = [f"--data={name}={value}" for name, value in (answers or {}).items()]
    return run_checked(copy_command(template, destination, *data, python=python), **env)


def isolated_git(tmp_path: Path, config: str = "") -> dict[str, str]:
    """Environment variables giving git only this global config."""
    global_config = tmp_path / "gitconfig"
    global_config.write_text(config)
    return {"GIT_CONFIG_GLOBAL": str(global_config), "GIT_CONFIG_NOSYSTEM": "1"}


def retry_command(output: str) -> str:
    match = re.search(r"retry with:\n\s+(.+)", output)
    assert match, output
    return match.group(1)


def test_copy_ends_green_and_committed(template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "svc"
    result = copier_copy(template, destination, **isolated_git(tmp_path))
    assert re.search(
        r"post-generate: ready in [\d.]+ s: \d+ passed \(database: in-memory SQLite",
        result.stdout,
    )
    assert (destination / ".venv" / "bin" / "python").exists()
    assert git(destination, "log", "--format=%an <%ae>|%s").splitlines() == [
        "Your Name <you@example.com>|Generate project from the Flask service template"
    ]
    assert git(destination, "status", "--porcelain") == ""
    tracked = git(destination, "ls-files").splitlines()
    assert ".copier-answers.yml" in tracked
    assert not [path for path in tracked if path.startswith(".venv/")]
    # The lock is in the first commit, and .venv holds exactly what it pins.
    assert "post-generate: lock dependencies (uv.lock) ... ok" in result.stdout
    assert "uv.lock" in tracked
    locked = tomllib.loads((destination / "uv.lock").read_text())["package"]
    pins = {package["name"]: package["version"] for package in locked if "version" in package}
    installed = subprocess.run(
        [str(destination / ".venv/bin/python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    versions = {item["name"].lower(): item["version"] for item in json.loads(installed.stdout)}
    for name in ("flask", "sqlalchemy", "gunicorn", "pytest"):
        assert versions[name] == pins[name], name
    assert "no uv.lock was made" not in result.stdout


def test_existing_git_identity_is_used(template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "svc"
    config = "[user]\n\tname = Real Person\n\temail = real@example.org\n"
    copier_copy(template, destination, answers=SMALLEST, **isolated_git(tmp_path, config))
    assert git(destination, "log", "--format=%an <%ae>") == "Real Person <real@example.org>\n"


def plant_failing_test(template: Path) -> None:
    (template / "template" / "tests" / "test_planted.py").write_text(
        "def test_planted_failure() -> None:\n    assert 1 + 1 == 3\n"
    )


def test_failing_test_keeps_the_project_and_says_how_to_retry(tmp_path: Path) -> None:
    template = snapshot_template(tmp_path / "template", edit=plant_failing_test)
    destination = tmp_path / "svc"
    result = copier_copy(template, destination, answers=SMALLEST)
    output = result.stdout
    assert "post-generate: tests ... FAILED" in output
    assert "test_planted_failure" in output
    assert "NOT GREEN" in output
    assert "failed: tests" in output
    # Copier deletes a new project when a task fails; the hook must not let it.
    assert (destination / "tests" / "test_planted.py").is_file()
    assert (destination / "src" / "flask_service" / "__init__.py").is_file()
    assert git(destination, "status", "--porcelain") == ""
    retry = subprocess.run(
        retry_command(output),
        shell=True,
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    assert retry.returncode == 1
    assert "1 failed" in retry.stdout


def require_missing_package(template: Path) -> None:
    pyproject = template / "template" / "pyproject.toml.jinja"
    text = pyproject.read_text().replace(
        "dependencies = [\n", 'dependencies = [\n    "no-such-package-flask-template-test>=1",\n'
    )
    pyproject.write_text(text)


def test_failed_install_keeps_the_project_and_says_how_to_retry(tmp_path: Path) -> None:
    template = snapshot_template(tmp_path / "template", edit=require_missing_package)
    destination = tmp_path / "svc"
    output = copier_copy(template, destination).stdout
    assert "install from uv's cache (offline) ... FAILED" in output
    assert "no-such-package-flask-template-test" in output
    assert "ruff and tests" not in output
    assert "tests skipped: the install failed" in output
    assert (destination / "pyproject.toml").is_file()
    retry = retry_command(output)
    assert "pip install" in retry
    assert retry.endswith("-m pytest -q -p no:cacheprovider")


def test_a_failed_venv_leaves_the_install_in_the_retry_command(
    copy: Callable[..., Project], tmp_path: Path
) -> None:
    """Offline with an empty uv cache, `uv venv --seed` fails; the retry command
    the hook printed then created .venv and ran ruff from it, installing nothing
    (`No module named ruff`)."""
    project = copy(**SMALLEST)
    output = subprocess.run(
        [sys.executable, str(HOOK)],
        cwd=project.path,
        capture_output=True,
        text=True,
        env=clean_environment(UV_OFFLINE="1", UV_CACHE_DIR=str(tmp_path / "empty-cache")),
        check=True,
    ).stdout
    assert "create .venv (uv) ... FAILED" in output
    assert "install with dev dependencies (uv) skipped: no .venv" in output
    steps = retry_command(output).split(" && ")
    [create] = [index for index, step in enumerate(steps) if " venv --quiet --seed " in step]
    [install] = [index for index, step in enumerate(steps) if " -e '.[dev]'" in step]
    [ruff] = [index for index, step in enumerate(steps) if " -m ruff check " in step]
    assert create < install < ruff


def test_an_interrupted_copy_says_what_is_left_to_do(
    copy: Callable[..., Project], tmp_path: Path
) -> None:
    """Ctrl-C during the hook (its tests take the longest) ended the copy with
    Copier's "Execution stopped by user" alone: nothing said that the files were
    all there, nor what of the hook's work was left undone."""
    project = copy(**SMALLEST)
    hook = subprocess.Popen(
        [sys.executable, str(HOOK)],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environment(),
        start_new_session=True,  # its own process group, as a terminal's
    )
    assert hook.stdout is not None
    output = ""
    while "ruff format --check ... ok" not in output:
        line = hook.stdout.readline()
        assert line, output
        output += line
    time.sleep(1)  # the tests are running
    os.killpg(hook.pid, signal.SIGINT)
    output += hook.stdout.read()

    assert hook.wait(timeout=60) == 130
    where = project.path
    assert (
        f"post-generate: INTERRUPTED during tests; your files are all in {where}. Finish what "
        f"the hook does with:\n    cd {where} && "
    ) in output
    left = output.rsplit(f"cd {where} && ", 1)[1]
    assert " sync --extra dev && .venv/bin/python -m pytest -q" in left
    assert "git init" not in left
    assert " lock" not in left
    assert "Traceback" not in output


def test_without_uv_falls_back_to_venv_and_pip(template: Path, tmp_path: Path) -> None:
    python = copier_venv(tmp_path / "copier-venv", copier.__version__)
    system_path = "/usr/bin:/bin"
    assert shutil.which("uv", path=system_path) is None
    assert shutil.which("git", path=system_path) is not None
    destination = tmp_path / "svc"
    result = copier_copy(template, destination, python=python, answers=SMALLEST, PATH=system_path)
    assert "create .venv (venv) ... ok" in result.stdout
    assert "install with dev dependencies (pip) ... ok" in result.stdout
    assert re.search(r"ready in [\d.]+ s: \d+ passed", result.stdout)
    # Green, but it says plainly that nothing is pinned, and how to pin it.
    assert not (destination / "uv.lock").exists()
    assert (
        "post-generate: no uv.lock was made: uv was not found, so dependencies are not pinned"
        in result.stdout
    )
    make_lock = re.search(r"    cd (.+) && (python3 -m pip install .+)", result.stdout)
    assert make_lock, result.stdout
    assert make_lock.group(1) == str(destination)
    # The command it gives works, with this machine's own Python: it pins the project.
    run_checked(
        ["bash", "-c", make_lock.group(2).replace("~/.local/uv", str(tmp_path / "uv-target"))],
        cwd=destination,
        PATH=system_path,
    )
    assert "[[package]]" in (destination / "uv.lock").read_text()


def test_project_inside_an_existing_repository_is_not_nested(
    template: Path, tmp_path: Path
) -> None:
    monorepo = tmp_path / "monorepo"
    monorepo.mkdir()
    git(monorepo, "init", "--quiet")
    destination = monorepo / "services" / "svc"
    result = copier_copy(template, destination, answers=SMALLEST)
    assert "already inside a git repository: not committing" in result.stdout
    assert not (destination / ".git").exists()
    assert re.search(r"ready in [\d.]+ s: \d+ passed", result.stdout)


def hook_without_install(
    project: Project, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """The hook with git only on PATH, uv offline and a Python that does not
    exist: lock and install stop at once, for tests of what comes before."""
    only_git = tmp_path / "only-git"
    only_git.mkdir(exist_ok=True)
    # With what `git submodule` needs, which Copier runs as the hook renders the
    # template again.
    for tool in ("git", "sed", "basename", "uname"):
        if not (only_git / tool).exists():
            (only_git / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    return subprocess.run(
        [sys.executable, str(HOOK), "--python-version=3.99"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env=clean_environment(
            PATH=str(only_git), UV_OFFLINE="1", UV_PYTHON_DOWNLOADS="never", **env
        ),
        check=True,
    )


def test_the_first_commit_is_on_the_branch_the_github_workflow_runs_on(
    copy: Callable[..., Project], tmp_path: Path
) -> None:
    """git's own default branch is still master, so the hook's repository had
    one, while the GitHub workflow runs on pushes to main: pushed as it was, no
    push ran CI. A branch name configured in git is kept, and the mismatch named."""
    fresh = copy("fresh", **SMALLEST)
    output = hook_without_install(fresh, tmp_path, **isolated_git(tmp_path)).stdout
    assert git(fresh.path, "branch", "--show-current").strip() == "main"
    assert "post-generate: the branch is" not in output

    configured = copy("configured", **SMALLEST)
    (tmp_path / "trunk").mkdir()
    trunk = isolated_git(tmp_path / "trunk", "[init]\n\tdefaultBranch = trunk\n")
    output = hook_without_install(configured, tmp_path, **trunk).stdout
    assert git(configured.path, "branch", "--show-current").strip() == "trunk"
    assert (
        "post-generate: the branch is trunk (git's init.defaultBranch), but "
        ".github/workflows/ci.yml runs on pushes to main: rename the branch (git branch -m main)"
    ) in output


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_next_steps_after_a_copy_run_as_the_readme_says(
    copy: Callable[..., Project], database: str
) -> None:
    """With PostgreSQL the hook's "next:" ran `flask db upgrade` before any server
    was started, which fails with "connection refused": it now gives the
    README's "Run it locally" commands, PostgreSQL first."""
    project = copy(database=database, **SMALLEST)
    summary = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(HOOK.parent)!r}); import post_generate as hook;"
            " from pathlib import Path; hook.summarize(hook.Report(Path.cwd()), '1 passed')",
        ],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    readme = (project.path / "README.md").read_text().split("## Run it locally", 1)[1]
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    commands = [line.split("  #", 1)[0].strip() for line in block[1:]]
    assert "flask db upgrade" in commands
    given = summary.split("next", 1)[1]
    assert [command for command in commands if command not in given] == []
    if database == "postgresql":
        assert given.index("docker compose up --detach db") < given.index("flask db upgrade")


def test_a_project_left_uncommitted_in_a_repository_is_told_to_commit_it(
    copy: Callable[..., Project], tmp_path: Path
) -> None:
    """Copied into a clone of a new, empty repository (or a monorepo), the project
    is left for its team to commit, which `copier update` needs; the hook said
    only "not committing", then "ready". (No Python 3.99 and uv offline: lock
    and install stop at once, as only the message matters here.)"""
    project = copy("clone/svc", **SMALLEST)
    git(tmp_path / "clone", "init", "--quiet")
    (project.path / "notes.txt").write_text("not the template's\n")
    result = hook_without_install(project, tmp_path)
    assert "already inside a git repository: not committing" in result.stdout
    # The command given leaves out what the template did not generate.
    assert (
        f"commit it there before `copier update`, which needs it committed:\n"
        f"    cd {project.path} && git add --all . ':(exclude,literal)notes.txt' && git commit"
    ) in result.stdout
    assert git(project.path, "status", "--porcelain", ".").count("??") == 1
    # GitHub reads no .github/ but the root's: the generated workflow never runs.
    assert (
        "post-generate: GitHub reads .github/ only at the repository's root, so "
        ".github/workflows/ci.yml and .github/dependabot.yml never run from svc/"
    ) in result.stdout
    assert "`defaults: {run: {working-directory: svc}}`" in result.stdout


def fill_a_folder(folder: Path) -> None:
    """What a folder may hold before a copy: notes, secrets (one ignored by the
    generated .gitignore), a README and a Dockerfile the template also writes."""
    (folder / "secrets").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "secrets" / "prod.key").write_text("hunter2\n")
    (folder / ".env").write_text("SECRET_KEY=mine\n")
    (folder / "README.md").write_text("my readme\n")
    (folder / "Dockerfile").write_text("FROM scratch\n")


def copy_over(template: Path, folder: Path) -> Project:
    """`copier copy --overwrite` into the folder, keeping its Dockerfile as a
    user who answers "no" to Copier's "Overwrite Dockerfile?" does."""
    copier.run_copy(
        str(template),
        folder,
        data=SMALLEST,
        defaults=True,
        overwrite=True,
        skip_if_exists=["Dockerfile"],
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",
        skip_tasks=True,
    )
    return Project(folder)


def test_the_first_commit_holds_only_what_the_template_generated(
    template: Path, tmp_path: Path
) -> None:
    """Copied into a folder that was not empty, the first commit took in all it
    held: notes, a secrets file, a Dockerfile the user kept. Now it holds what
    the template generated alone (README.md, which Copier overwrote, included);
    the rest stays untracked and is named. (Install fails at once: the commit is
    what this is about.)"""
    clean = render(template, tmp_path / "clean", SMALLEST)
    generated = {path.relative_to(clean).as_posix() for path in clean.rglob("*") if path.is_file()}
    folder = tmp_path / "svc"
    fill_a_folder(folder)
    project = copy_over(template, folder)
    assert (folder / "README.md").read_text() != "my readme\n"
    output = hook_without_install(project, tmp_path, **isolated_git(tmp_path)).stdout
    assert set(git(folder, "ls-files").splitlines()) == generated - {"Dockerfile"}
    assert git(folder, "status", "--porcelain", "--untracked-files=normal").splitlines() == [
        "?? Dockerfile",
        "?? notes.txt",
        "?? secrets/",
    ]
    assert (
        "post-generate: 3 path(s) here are not what the template generated (they were here"
        " before the copy): left out of the first commit, untracked:\n"
        "    Dockerfile\n    notes.txt\n    secrets/\n"
    ) in output
    assert (folder / "secrets" / "prod.key").read_text() == "hunter2\n"


def test_a_new_repository_in_the_folder_gets_the_first_commit(
    template: Path, tmp_path: Path
) -> None:
    """A folder `git init` (or `uv init`) had made a repository of, without a
    commit yet, got none: "already inside a git repository: not committing", and
    the hint's `git add --all .` took in every file the folder held before."""
    folder = tmp_path / "svc"
    fill_a_folder(folder)
    git(folder, "init", "--quiet")
    project = copy_over(template, folder)
    output = hook_without_install(project, tmp_path, **isolated_git(tmp_path)).stdout
    assert "not committing" not in output
    assert (
        "post-generate: this folder is a new git repository without commits (`git init` or"
        " `uv init` made it): committing the generated files to it"
    ) in output
    assert git(folder, "log", "--format=%s").strip() == FIRST_COMMIT_MESSAGE
    tracked = git(folder, "ls-files").splitlines()
    assert ".copier-answers.yml" in tracked
    assert not {"notes.txt", "Dockerfile", ".env", "secrets/prod.key"} & set(tracked)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_a_folder_uv_init_made_stops_the_copy_and_overwrite_finishes_it_as_the_readme_says(
    template: Path, tmp_path: Path
) -> None:
    """A folder `uv init` prepared stopped a copy without a terminal at Copier's
    "Interactive session required", which named neither the cause nor what
    `--overwrite` would replace. The README explains it; this holds it to what
    Copier and the hook print, and to the way on it gives losing nothing."""
    folder = tmp_path / "svc"
    folder.mkdir()
    run_checked([UV, "init", "--quiet", "--no-package", "--vcs", "git"], cwd=folder)
    theirs = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(folder).parts
    }
    assert sorted(theirs) == [
        ".gitignore",
        ".python-version",
        "README.md",
        "main.py",
        "pyproject.toml",
    ]
    data = [f"--data={name}={value}" for name, value in SMALLEST.items()]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Copying into a folder that already has files", 1)[1]
    section = section.split("\n## ", 1)[0]

    def unchanged(*replaced: str) -> bool:
        return all(
            (folder / name).read_bytes() == content
            for name, content in theirs.items()
            if name not in replaced
        )

    stopped = subprocess.run(
        copy_command(template, folder, *data),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    assert stopped.returncode == 1
    printed = ANSI.sub("", stopped.stderr).strip().splitlines()
    assert printed[-1] == "Interactive session required: Consider using `--overwrite`"
    conflict = next(line for line in reversed(printed) if line.strip().startswith("conflict"))
    # The first file of the folder's own that the template also writes.
    assert conflict.split()[1] in {".gitignore", "README.md", "pyproject.toml"}
    assert "  conflict  .gitignore\n" in section
    assert printed[-1] in section
    assert unchanged()

    pretend = run_checked(copy_command(template, folder, *data, "--pretend", "--overwrite"))
    overwrite = re.findall(r"^\s*overwrite\s+(\S+)$", ANSI.sub("", pretend.stderr), re.M)
    assert sorted(overwrite) == [".gitignore", "README.md", "pyproject.toml"]
    assert "(after `uv init`: `.gitignore`, `pyproject.toml`,\n  `README.md`)" in section
    assert "post-generate:" not in pretend.stdout
    assert unchanged()

    overwriting = copy_command(template, folder, *data, "--overwrite")
    result = run_checked(overwriting, **isolated_git(tmp_path))
    assert unchanged(*overwrite)
    said = re.search(r"(post-generate: \d+ path\(s\) here .+:\n(    .+\n)+)", result.stdout)
    assert said, result.stdout
    assert "\n".join(f"  {line}" for line in said.group(1).splitlines()) in section
    assert git(folder, "status", "--porcelain").splitlines() == ["?? .python-version", "?? main.py"]
    assert git(folder, "log", "--format=%s").strip() == FIRST_COMMIT_MESSAGE
    assert re.search(r"ready in [\d.]+ s: \d+ passed", result.stdout)


def test_project_in_a_folder_its_enclosing_repository_ignores_gets_its_own(
    tmp_path: Path,
) -> None:
    """A dotfiles repository in the home folder ignoring everything tracks none of
    the project: it needs a repository of its own for `copier update`. (The
    install fails at once here: the commit before it is what this is about.)"""
    template = snapshot_template(tmp_path / "template", edit=require_missing_package)
    home = tmp_path / "home"
    home.mkdir()
    git(home, "init", "--quiet")
    (home / ".gitignore").write_text("*\n")
    destination = home / "src" / "svc"
    result = copier_copy(template, destination, answers=SMALLEST, **isolated_git(tmp_path))
    assert "giving the project a repository of its own" in result.stdout
    assert git(destination, "rev-parse", "--show-toplevel").strip() == str(destination)
    assert git(destination, "status", "--porcelain") == ""
    assert ".copier-answers.yml" in git(destination, "ls-files").split()


def test_answers_for_no_question_are_named_after_a_copy(tmp_path: Path) -> None:
    """Copier ignores keys of --data and --data-file that are no question: a
    team file's `apii: false` gave every service the API without a word. (The
    install fails at once here: the warning is what this is about.)"""
    template = snapshot_template(tmp_path / "template", edit=require_missing_package)
    team = tmp_path / "team.yml"
    team.write_text("apii: false\nauthor_name: Platform Team\n")
    destination = tmp_path / "svc"
    output = run_checked(
        copy_command(template, destination, f"--data-file={team}", "--data=dockr=false"),
        UV_OFFLINE="1",
    ).stdout
    assert (
        "post-generate: WARNING: --data apii=... is not a question of this template and "
        "was ignored (did you mean api?)"
    ) in output
    assert "--data dockr=... is not a question of this template and was ignored" in output
    assert "copier update --trust --defaults --vcs-ref=:current: --data NAME=VALUE" in output
    assert "author_name=..." not in output
    assert (destination / "src/flask_service/api").is_dir()


def test_the_hooks_work_on_the_oldest_python_copier_runs_on(
    every_dependency_project: Project,
) -> None:
    """Copier runs the hooks with its own Python, which may be older than any the
    projects take (Ubuntu 22.04's 3.10, which uvx picks there): a name that Python
    lacks fails the copy's task, and Copier deletes the new project. mypy knows
    each version's standard library: nothing may fail there that passes on 3.11."""
    found = re.search(r">=\s*(3\.\d+)", metadata("copier")["Requires-Python"] or "")
    assert found, "Copier's Requires-Python"
    hooks = sorted(str(path) for path in (ROOT / "hooks").glob("*.py"))

    def errors(version: str) -> set[str]:
        mypy = every_dependency_project.bin("mypy")
        options = ["--ignore-missing-imports", "--no-error-summary"]
        result = subprocess.run(
            [mypy, "--python-version", version, *options, *hooks],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=clean_environment(),
        )
        return set(result.stdout.splitlines())

    assert errors(found.group(1)) - errors("3.11") == set()


def test_hook_does_nothing_outside_a_copy(tmp_path: Path) -> None:
    """Copier runs tasks in throwaway copies during updates: nothing may happen there."""
    (tmp_path / ".copier-answers.yml").write_text("_commit: abc\n")
    result = subprocess.run(
        [sys.executable, str(HOOK)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_environment(COPIER_OPERATION="update"),
        check=True,
    )
    assert "nothing to do for update" in result.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == [".copier-answers.yml"]


def test_missing_git_is_reported_and_the_rest_still_runs(
    copy: Callable[..., Project], tmp_path: Path
) -> None:
    project = copy(**SMALLEST)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, str(HOOK)],
        cwd=project.path,
        capture_output=True,
        text=True,
        env=clean_environment(PATH=str(empty)),
        check=True,
    )
    output = result.stdout
    assert "git init ... FAILED" in output
    assert "git is not installed or not on PATH" in output
    assert "first commit skipped: git init failed" in output
    assert "tests ... ok" in output
    assert "NOT GREEN" in output
    assert retry_command(output).startswith(f"cd {project.path} && git init --quiet && git add")
    assert not (project.path / ".git").exists()


def test_postgresql_variant_is_proven_on_the_server_test_database_url_names(
    template: Path, tmp_path: Path, postgres: PostgresServer
) -> None:
    # The smallest project: test_matrix.py runs every combination's suite on it.
    result = copier_copy(
        template,
        tmp_path / "svc",
        answers={"database": "postgresql", **SMALLEST},
        TEST_DATABASE_URL=postgres.create_database(),
    )
    assert re.search(
        r"ready in [\d.]+ s: \d+ passed \(database: postgresql\+psycopg://", result.stdout
    ), result.stdout
