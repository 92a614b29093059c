"""`flask-template-status`, the command installed with the template's tooling, on
real generated projects."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import (
    TemplateRepo,
    clean_environment,
    commit_all,
    development_version,
    generate,
    git,
    next_version,
    render,
    update,
)

# Installed by `uv sync` / `uv run` as the project's console script.
STATUS = Path(sys.executable).with_name("flask-template-status")
# Who commits in the fixes the tests follow.
IDENTITY = {
    "GIT_AUTHOR_NAME": "Platform Team",
    "GIT_AUTHOR_EMAIL": "platform@example.com",
    "GIT_COMMITTER_NAME": "Platform Team",
    "GIT_COMMITTER_EMAIL": "platform@example.com",
}
FIRST_FIELDS = (
    "project",
    "template",
    "recorded_commit",
    "recorded_version",
    "newest_version",
    "update_due",
    "clean",
    "uncommitted_changes",
    "error",
)


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
    found = json.loads(result.stdout)
    # The fields scripts have read since the first release, then the ones added since.
    assert [{key: entry[key] for key in FIRST_FIELDS} for entry in found] == [
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
    assert [entry["state"] for entry in found] == ["update-due", "current"]
    assert found[0]["message"] == f"copier update moves it to {newer[1:]}"
    table = status(behind.path, edited.path).stdout.splitlines()
    assert [line.split() for line in table[:3]] == [
        ["project", "recorded", "newest", "update", "due", "working", "tree", "state"],
        [str(behind.path), current[1:], newer[1:], "yes", "clean", "update", "due"],
        [str(edited.path), newer[1:], newer[1:], "no", "2", "uncommitted", "change(s)", "current"],
    ]
    assert f"next: flask-template preview {behind.path}" in table

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


def test_hand_edited_answers_and_lost_templates_get_the_problem_and_the_fix(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    original = generate(repo.path, tmp_path / "original", vcs_ref=current).path
    edits = {
        # folder: (old text, new text, committed?)
        "unparsable": ("_commit: ", "_commit: [", False),
        "no-commit": (f"_commit: {current}\n", "", True),
        "no-source": (f"_src_path: {repo.path}\n", "", True),
        "not-a-mapping": ("", "- just\n- a list\n", True),
        "lost-template": (str(repo.path), str(tmp_path / "moved-away"), True),
    }
    for name, (old, new, committed) in edits.items():
        shutil.copytree(original, tmp_path / name, symlinks=True)
        answers = tmp_path / name / ".copier-answers.yml"
        answers.write_text(answers.read_text().replace(old, new, 1) if old else new)
        if committed:
            commit_all(tmp_path / name, "Edit the answers by hand")

    result = status("--json", *(tmp_path / name for name in edits))

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    found = {Path(entry["project"]).name: entry for entry in json.loads(result.stdout)}
    assert {name: entry["state"] for name, entry in found.items()} == dict.fromkeys(edits, "error")
    assert found["unparsable"]["error"].startswith(".copier-answers.yml is not valid YAML")
    restore = f"git -C {tmp_path / 'unparsable'} checkout HEAD -- .copier-answers.yml"
    assert found["unparsable"]["fix"] == restore
    generated = git(original, "rev-parse", "HEAD")[:12]
    assert "records no template version (_commit)" in found["no-commit"]["error"]
    assert "records no template (_src_path)" in found["no-source"]["error"]
    assert "holds no `key: value` answers" in found["not-a-mapping"]["error"]
    for name in ("no-commit", "no-source", "not-a-mapping"):
        fix = f"git -C {tmp_path / name} checkout {generated} -- .copier-answers.yml"
        assert found[name]["fix"].startswith(fix), found[name]["fix"]
    assert found["lost-template"]["error"].startswith("copier check-update failed")
    assert f"git ls-remote {tmp_path / 'moved-away'}" in found["lost-template"]["fix"]

    # The fix it gives works.
    subprocess.run(restore, shell=True, check=True)
    (fixed,) = json.loads(status("--json", tmp_path / "unparsable").stdout)
    assert (fixed["state"], fixed["error"]) == ("current", None)


def test_status_says_why_copier_update_cannot_run_and_how_to_fix_it(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    not_git = generate(repo.path, tmp_path / "not-git", vcs_ref=current).path
    shutil.rmtree(not_git / ".git")
    never_committed = render(repo.path, tmp_path / "never-committed", vcs_ref=current)
    git(never_committed, "init", "--quiet")
    dirty = generate(repo.path, tmp_path / "dirty", vcs_ref=current).path
    (dirty / "NOTES.md").write_text("Work in progress.\n")
    uncommitted = generate(repo.path, tmp_path / "uncommitted", vcs_ref=current)
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.tox/\n")
    newer = repo.release(next_version(development_version()))
    update(uncommitted)
    # A commit after the newest release, and a project generated from it.
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.nox/\n")
    git(repo.path, "commit", "--quiet", "--all", "--message", "Unreleased")
    ahead = generate(repo.path, tmp_path / "ahead", vcs_ref="HEAD").path
    projects = (not_git, never_committed, dirty, uncommitted.path, ahead)

    result = status("--json", *projects)

    assert result.returncode == 0, result.stderr
    found = {Path(entry["project"]).name: entry for entry in json.loads(result.stdout)}
    assert {name: (entry["state"], entry["update_due"]) for name, entry in found.items()} == {
        "not-git": ("not-git", False),
        "never-committed": ("not-committed", False),
        "dirty": ("dirty", True),
        "uncommitted": ("uncommitted-update", False),
        "ahead": ("ahead", False),
    }
    assert found["not-git"]["newest_version"] == newer[1:]
    assert "git init && git add -A && git commit -m" in found["not-git"]["fix"]
    assert "git add -A && git commit" in found["never-committed"]["fix"]
    assert "stash push --include-untracked" in found["dirty"]["fix"]
    pending = found["uncommitted"]
    assert (pending["recorded_commit"], pending["recorded_version"]) == (current, current[1:])
    assert (pending["applied_commit"], pending["applied_version"]) == (newer, newer[1:])
    assert f"flask-template rollback {uncommitted.path}" in pending["fix"]
    assert found["ahead"]["recorded_version"].startswith(f"{newer[1:]}.post1")
    assert "cannot update until a newer release is tagged" in found["ahead"]["message"]
    # As it says: Copier refuses to update the project that is ahead.
    refused = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--skip-tasks"],
        cwd=ahead,
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    assert refused.returncode != 0
    assert "Downgrades are not supported" in refused.stderr

    # Each fix does what it says.
    subprocess.run(
        found["not-git"]["fix"], shell=True, check=True, env=clean_environment(**IDENTITY)
    )
    commit_all(uncommitted.path, "Update from the template")
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.pyre/\n")
    latest = repo.release(next_version(newer[1:]))
    after = {
        Path(entry["project"]).name: entry
        for entry in json.loads(status("--json", not_git, uncommitted.path, ahead).stdout)
    }
    assert {name: entry["state"] for name, entry in after.items()} == dict.fromkeys(
        ("not-git", "uncommitted", "ahead"), "update-due"
    )
    assert after["uncommitted"]["recorded_version"] == newer[1:]
    assert after["ahead"]["newest_version"] == latest[1:]


def test_a_project_its_enclosing_repository_ignores_gets_a_fix_that_works(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """In a folder a dotfiles repository ignores, `git add -A` adds nothing: the
    project needs a repository of its own."""
    repo, current = template_repo
    home = tmp_path / "home"
    home.mkdir()
    git(home, "init", "--quiet")
    (home / ".gitignore").write_text("*\n")
    project = render(repo.path, home / "src" / "svc", vcs_ref=current)

    [found] = json.loads(status("--json", project).stdout)

    assert found["state"] == "not-committed"
    assert "ignores it" in found["message"]
    subprocess.run(found["fix"], shell=True, check=True, env=clean_environment(**IDENTITY))
    [fixed] = json.loads(status("--json", project).stdout)
    assert fixed["state"] == "current", fixed
