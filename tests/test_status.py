"""`flask-template-status`, the command installed with the template's tooling, on
real generated projects."""

import json
import subprocess
import sys
from pathlib import Path

from helpers import (
    TemplateRepo,
    clean_environment,
    commit_all,
    development_version,
    generate,
    next_version,
    update,
)

# Installed by `uv sync` / `uv run` as the project's console script.
STATUS = Path(sys.executable).with_name("flask-template-status")


def status(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STATUS), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_environment(),
    )


def test_a_fleet_behind_and_current_clean_and_dirty(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    behind = generate(repo.path, tmp_path / "behind", vcs_ref=current)
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.tox/\n")
    newer = repo.release(next_version(development_version()))
    edited = generate(repo.path, tmp_path / "edited", vcs_ref=newer)
    with (edited.path / "README.md").open("a") as readme:
        readme.write("\nOn call: #billing.\n")
    (edited.path / "NOTES.md").write_text("Untracked notes.\n")

    result = status("--json", behind.path, edited.path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "project": str(behind.path),
            "template": str(repo.path),
            "recorded_commit": current,
            "recorded_version": current[1:],
            "newest_version": newer[1:],
            "update_due": True,
            "clean": True,
            "uncommitted_changes": 0,
            "error": None,
        },
        {
            "project": str(edited.path),
            "template": str(repo.path),
            "recorded_commit": newer,
            "recorded_version": newer[1:],
            "newest_version": newer[1:],
            "update_due": False,
            "clean": False,
            "uncommitted_changes": 2,
            "error": None,
        },
    ]
    table = status(behind.path, edited.path).stdout.splitlines()
    assert [line.split() for line in table] == [
        ["project", "recorded", "newest", "update", "due", "working", "tree"],
        [str(behind.path), current[1:], newer[1:], "yes", "clean"],
        [str(edited.path), newer[1:], newer[1:], "no", "2", "uncommitted", "change(s)"],
    ]

    # The project that was due takes the update and is current again.
    update(behind)
    commit_all(behind.path, "Update from the template")
    (after,) = json.loads(status("--json", behind.path).stdout)
    assert (after["recorded_version"], after["update_due"], after["clean"]) == (
        newer[1:],
        False,
        True,
    )


def test_projects_it_cannot_check_are_named_and_fail_the_run(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    plain_folder = tmp_path / "not-generated"
    plain_folder.mkdir()
    relative = generate(repo.path, tmp_path / "relative", vcs_ref=current)
    answers = relative.path / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(str(repo.path), "../template-repo"))
    commit_all(relative.path, "Record the template as typed")
    current_project = generate(repo.path, tmp_path / "fine", vcs_ref=current)

    result = status(
        "--json", plain_folder, tmp_path / "missing", relative.path, current_project.path
    )

    assert result.returncode == 1
    by_project = {entry["project"]: entry for entry in json.loads(result.stdout)}
    assert by_project[str(plain_folder)]["error"].startswith("no .copier-answers.yml")
    assert by_project[str(tmp_path / "missing")]["error"] == "no such folder"
    assert "relative path '../template-repo'" in by_project[str(relative.path)]["error"]
    fine = by_project[str(current_project.path)]
    assert (fine["error"], fine["update_due"]) == (None, False)
    table = status(plain_folder, current_project.path).stdout
    assert f"{plain_folder}: no .copier-answers.yml" in table
