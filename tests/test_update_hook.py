"""The hook after `copier update`: it checks the real project once, after the merge,
reports green or not green (or the conflicts, without testing), and never commits."""

import re
import subprocess
import sys
from pathlib import Path

from helpers import (
    ROOT,
    SMALLEST,
    Project,
    TemplateRepo,
    clean_environment,
    conflicts,
    copier_cli,
    development_version,
    generate,
    git,
    next_version,
)

HOOK = ROOT / "hooks" / "post_generate.py"
CONFIG_TEMPLATE = "template/src/{{package_name}}/config.py.jinja"


def copier_update(project: Project, *options: str) -> str:
    """`copier update --trust --defaults` as a user runs it; its whole output."""
    # The check reports failures in its output; it never fails the update.
    result = copier_cli("update", "--trust", "--defaults", *options, cwd=project.path)
    return result.stdout + result.stderr


def release_raising_the_upload_limit(repo: TemplateRepo) -> str:
    repo.replace(
        CONFIG_TEMPLATE,
        "MAX_CONTENT_LENGTH = 1024 * 1024\n",
        "MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n",
    )
    return repo.release(next_version(development_version()))


def commits(project: Project) -> list[str]:
    return git(project.path, "log", "--format=%H").splitlines()


def test_update_checks_the_real_project_once_and_commits_nothing(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    before = commits(project)
    release_raising_the_upload_limit(repo)

    output = copier_update(project)

    # Not in Copier's throwaway copies of the old and new release: only here.
    assert re.findall(r"post-update: checking (.+)", output) == [str(project.path)]
    assert "post-generate" not in output
    assert "post-update: create .venv (uv) ... ok" in output
    assert re.search(
        r"post-update: GREEN in [\d.]+ s: \d+ passed \(database: .+\), "
        r"ruff, mypy and flask db check clean\.",
        output,
    )
    for step in ("ruff check", "ruff format --check", "mypy", "tests", "flask db check"):
        assert f"post-update: {step} ... ok" in output
    assert (project.path / ".venv" / "bin" / "python").exists()
    assert commits(project) == before
    changed = {line[3:] for line in git(project.path, "status", "--porcelain").splitlines()}
    assert changed == {".copier-answers.yml", "src/flask_service/config.py"}


def test_a_changed_pyproject_refreshes_the_lock_and_says_so(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    locked = (project.path / "uv.lock").read_text()
    repo.replace(
        "template/pyproject.toml.jinja",
        '    "flask>=3.1,<3.2",\n',
        '    "flask>=3.1,<3.2",\n    "markupsafe>=2.1",\n',
    )
    repo.release(next_version(development_version()))

    output = copier_update(project)

    assert "post-update: refresh uv.lock ... ok" in output
    assert "pyproject.toml changed, so uv.lock was refreshed" in output
    assert "post-update: GREEN" in output
    refreshed = (project.path / "uv.lock").read_text()
    assert refreshed != locked
    assert '{ name = "markupsafe", specifier = ">=2.1" }' in refreshed
    # Pins pyproject.toml still allows were kept, not upgraded.
    pins = re.compile(r'^name = "(.+)"\nversion = "(.+)"', re.MULTILINE)
    assert dict(pins.findall(refreshed)) == dict(pins.findall(locked))
    changed = {line[3:] for line in git(project.path, "status", "--porcelain").splitlines()}
    assert changed == {".copier-answers.yml", "pyproject.toml", "uv.lock"}


def test_a_project_made_before_the_lock_gets_one_and_is_told_to_commit_it(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    git(project.path, "rm", "--quiet", "uv.lock")
    git(project.path, "commit", "--quiet", "--message", "As projects made before the lock were")
    release_raising_the_upload_limit(repo)

    output = copier_update(project)

    assert "created uv.lock, which the Dockerfile and CI install from: commit it" in output
    assert "post-update: GREEN" in output
    assert "no uv.lock was made" not in output
    status = git(project.path, "status", "--porcelain").splitlines()
    assert "?? uv.lock" in status


def plant_failing_test(repo: TemplateRepo) -> str:
    (repo.path / "template" / "tests" / "test_planted.py").write_text(
        "def test_planted_failure() -> None:\n    assert 1 + 1 == 3\n"
    )
    return repo.release(next_version(development_version()))


def test_a_failing_suite_after_an_update_is_reported_with_a_retry(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current).install()
    plant_failing_test(repo)

    output = copier_update(project)

    assert "create .venv" not in output, "the project's own .venv is reused"
    assert "post-update: install with dev dependencies (uv) ... ok" in output
    assert "post-update: tests ... FAILED" in output
    assert "test_planted_failure" in output
    assert "post-update: NOT GREEN" in output
    assert "post-update:   failed: tests" in output
    assert (project.path / "tests" / "test_planted.py").is_file()
    retry = re.search(r"retry with:\n\s+(.+)", output)
    assert retry, output
    result = subprocess.run(
        retry.group(1), shell=True, capture_output=True, text=True, env=clean_environment()
    )
    assert result.returncode == 1
    assert "1 failed" in result.stdout


def test_skip_tasks_skips_the_check(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    release_raising_the_upload_limit(repo)

    output = copier_update(project, "--skip-tasks")

    assert "post-update" not in output
    assert not (project.path / ".venv").exists()
    assert "2 * 1024 * 1024" in (project.path / "src/flask_service/config.py").read_text()


def test_conflicts_are_found_wherever_the_project_keeps_files(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    markers = "<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n"
    planted = {
        # Reported: a tracked file, an untracked one, a .rej file even when ignored.
        "src/flask_service/config.py": markers,
        "notes/merge.md": markers,
        "docs/old.py.rej": "@@ -1 +1 @@\n-old\n+new\n",
        # Not reported: markers that do not open a line, binary and ignored
        # files, and the virtual environment.
        "README.md": "Git writes <<<<<<< and >>>>>>> at the start of a line.\n",
        "instance/upload.bin": "\0" + markers,
        ".venv/lib/vendored.py": markers,
    }
    for relative, text in planted.items():
        (project.path / relative).parent.mkdir(parents=True, exist_ok=True)
        (project.path / relative).write_text(text)
    with (project.path / ".gitignore").open("a") as gitignore:
        gitignore.write("*.rej\n")

    result = subprocess.run(
        [sys.executable, str(HOOK), "--update"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env=clean_environment(COPIER_OPERATION="update"),
        check=True,
    )

    listed = re.search(r"CONFLICTS in 3 file\(s\).*:\n((?:    .+\n)+)", result.stdout)
    assert listed, result.stdout
    assert listed.group(1).split() == [
        "docs/old.py.rej",
        "notes/merge.md",
        "src/flask_service/config.py",
    ]
    assert "post-update: tests" not in result.stdout
    assert not (project.path / ".venv" / "bin").exists()
    assert (project.path / "notes/merge.md").read_text() == markers
    # The test helper agrees, bar the ignored and virtual-environment files it skips too.
    assert "src/flask_service/config.py" in conflicts(project)
