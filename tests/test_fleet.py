"""`flask-template preview`, `update` and `rollback` over a fleet of real projects:
real template releases, real git repositories, real `copier update` runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.resources import files as package_files
from pathlib import Path

import pytest
from helpers import (
    ROOT,
    SMALLEST,
    Project,
    TemplateRepo,
    clean_environment,
    commit_all,
    development_version,
    generate,
    git,
    next_version,
    release_history,
    render,
    update,
)

from flask_service_template import preview
from flask_service_template.update_report import check_in_output

# One worker runs this module: its projects are built once and copied per test.
pytestmark = pytest.mark.xdist_group("fleet")

FLASK_TEMPLATE = Path(sys.executable).with_name("flask-template")
# Who the tool's own commits (update --commit, rollback's revert) are by.
IDENTITY = {
    "GIT_AUTHOR_NAME": "Platform Team",
    "GIT_AUTHOR_EMAIL": "platform@example.com",
    "GIT_COMMITTER_NAME": "Platform Team",
    "GIT_COMMITTER_EMAIL": "platform@example.com",
}
RELEASED_FILE = "CONTRIBUTING.md"  # the release adds it
DROPPED_FILE = ".dockerignore"  # the release deletes it


def flask_template(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLASK_TEMPLATE), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_environment(**IDENTITY),
    )


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    """The command's JSON output, by project folder name."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return {Path(entry["project"]).name: entry for entry in json.loads(result.stdout)}


def files(project: Path) -> dict[str, bytes]:
    """Every file of the project outside .git, ignored ones too, with its content."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def head(project: Path) -> str:
    return git(project, "rev-parse", "HEAD").strip()


def status_lines(project: Path) -> list[str]:
    return git(project, "status", "--porcelain").splitlines()


@dataclass
class Fleet:
    """A template with two releases and an unreleased commit after them, and
    pristine projects of the older release (the smallest: the fleet tool's
    workings do not depend on what a project holds); tests work on copies."""

    repo: TemplateRepo
    old: str
    new: str
    originals: Path

    def copy(self, name: str, target: Path) -> Path:
        shutil.copytree(self.originals / name, target, symlinks=True)
        return target


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    base = tmp_path_factory.mktemp("fleet")
    repo = TemplateRepo.create(base / "template-repo")
    old = repo.release(development_version())
    originals = base / "originals"
    generate(repo.path, originals / "plain", SMALLEST, vcs_ref=old)
    for name in ("edited", "failing"):
        shutil.copytree(originals / "plain", originals / name, symlinks=True)
    # The team's edits: one where the release edits too, and a dependency pin
    # the template's own dependencies cannot live with (a check that fails fast).
    gitignore = originals / "edited" / ".gitignore"
    gitignore.write_text(gitignore.read_text().replace("# Tools\n", "# Tools\n.nox/\n"))
    commit_all(originals / "edited", "Ignore nox")
    pyproject = originals / "failing" / "pyproject.toml"
    pinned = pyproject.read_text().replace(
        "dependencies = [\n", 'dependencies = [\n    "werkzeug<3",\n', 1
    )
    pyproject.write_text(pinned)
    commit_all(originals / "failing", "Pin werkzeug")
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.tox/\n")
    (repo.path / "template" / RELEASED_FILE).write_text("How to contribute.\n")
    (repo.path / "template" / "{% if docker %}.dockerignore{% endif %}").unlink()
    new = repo.release(next_version(development_version()))
    generate(repo.path, originals / "current", SMALLEST, vcs_ref=new)
    # An unreleased commit after the newest release, and a project generated from it.
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.hypothesis/\n")
    git(repo.path, "commit", "--quiet", "--all", "--message", "Unreleased")
    generate(repo.path, originals / "ahead", SMALLEST, vcs_ref="HEAD")
    return Fleet(repo, old, new, originals)


def test_preview_counts_changes_and_conflicts_and_touches_no_project(
    fleet: Fleet, tmp_path: Path
) -> None:
    plain, edited = (fleet.copy(name, tmp_path / name) for name in ("plain", "edited"))
    dirty = fleet.copy("plain", tmp_path / "dirty")
    (dirty / "NOTES.md").write_text("Untracked notes.\n")
    before = {
        project: (files(project), head(project), status_lines(project))
        for project in (plain, edited, dirty)
    }

    result = flask_template("preview", "--json", "--diff", "--jobs", "2", plain, edited, dirty)

    assert result.returncode == 0, result.stdout + result.stderr
    previews = as_json(result)
    old, new = fleet.old[1:], fleet.new[1:]
    assert {name: (p["version_from"], p["version_to"]) for name, p in previews.items()} == {
        "plain": (old, new),
        "edited": (old, new),
        "dirty": (old, new),
    }
    assert previews["plain"]["changed"] == [".copier-answers.yml", ".gitignore"]
    assert previews["plain"]["added"] == [RELEASED_FILE]
    assert previews["plain"]["deleted"] == [DROPPED_FILE]
    assert previews["plain"]["conflicts"] == []
    assert previews["edited"]["conflicts"] == [".gitignore"]
    assert previews["edited"]["changed"] == [".copier-answers.yml"]
    assert "uncommitted change(s) are left out" in str(previews["dirty"]["note"])
    assert previews["dirty"]["changed"] == previews["plain"]["changed"]

    assert "+.tox/" in str(previews["plain"]["diff"])
    assert "+How to contribute." in str(previews["plain"]["diff"])
    assert "<<<<<<< before updating" in str(previews["edited"]["diff"])
    # As people read it: the same previews as a table, then each project's files.
    shown = preview.summary([preview.Preview(**entry) for entry in json.loads(result.stdout)])
    lines = shown.splitlines()
    assert lines[0].split() == ["project", "from", "to", "changed", "added", "deleted", "conflicts"]
    assert lines[2].split() == [str(edited), old, new, "1", "1", "1", "1"]
    assert f"{edited}: {old} -> {new}: 1 changed, 1 added, 1 deleted, 1 in conflict" in shown
    assert "    C .gitignore" in shown
    assert f"    D {DROPPED_FILE}" in shown

    for project, (was, commit, changes) in before.items():
        assert files(project) == was, project
        assert (head(project), status_lines(project)) == (commit, changes)
        assert git(project, "stash", "list") == ""


def test_fleet_update_takes_only_projects_that_can_update_and_sums_up(
    fleet: Fleet, tmp_path: Path
) -> None:
    names = ("plain", "edited", "current", "ahead")
    plain, edited, current, ahead = (fleet.copy(name, tmp_path / name) for name in names)
    dirty = fleet.copy("plain", tmp_path / "dirty")
    (dirty / "NOTES.md").write_text("Untracked notes.\n")
    not_git = fleet.copy("plain", tmp_path / "not-git")
    shutil.rmtree(not_git / ".git")
    broken = fleet.copy("plain", tmp_path / "broken")
    answers = broken / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("_commit:", "_commit: [", 1))
    projects = (plain, edited, current, ahead, dirty, not_git, broken)
    commits = {project: head(project) for project in projects if project != not_git}
    dirty_files = files(dirty)

    result = flask_template("update", "--skip-check", "--json", *projects)

    assert result.returncode == 1, result.stdout + result.stderr
    by_folder = {Path(entry["project"]): entry for entry in json.loads(result.stdout)}
    outcomes = {project.name: by_folder[project]["outcome"] for project in projects}
    assert outcomes == {
        "plain": "unchecked",
        "edited": "conflicts",
        "current": "current",
        "ahead": "skipped",
        "dirty": "skipped",
        "not-git": "skipped",
        "broken": "skipped",
    }
    assert by_folder[plain]["version_to"] == fleet.new[1:]
    assert "not checked (--skip-check)" in by_folder[plain]["why"]
    assert by_folder[edited]["conflicts"] == [".gitignore"]
    assert "flask-template rollback" in by_folder[edited]["fix"]
    assert "newer release is tagged" in by_folder[ahead]["why"]
    assert "uncommitted change(s)" in by_folder[dirty]["why"]
    assert "stash push --include-untracked" in by_folder[dirty]["fix"]
    assert "not a git repository" in by_folder[not_git]["why"]
    assert "git init && git add -A && git commit" in by_folder[not_git]["fix"]
    assert "not valid YAML" in by_folder[broken]["why"]
    assert "checkout HEAD -- .copier-answers.yml" in by_folder[broken]["fix"]
    # Updated in the working tree, never committed; the skipped ones untouched.
    assert {project: head(project) for project in commits} == commits
    assert f"_commit: {fleet.new}" in (plain / ".copier-answers.yml").read_text()
    assert files(dirty) == dirty_files
    assert (not_git / DROPPED_FILE).exists()

    # The table, and the exit status when everything is where it should be.
    summary = flask_template("update", "--skip-check", current, not_git)
    lines = summary.stdout.splitlines()
    assert lines[0].split() == ["project", "from", "to", "outcome", "why"]
    assert lines[1].split()[:4] == [str(current), fleet.new[1:], "-", "current"]
    assert lines[2].split()[:4] == [str(not_git), fleet.old[1:], "-", "skipped"]
    assert "2 project(s): 1 skipped, 1 current" in summary.stdout
    assert f"{not_git}: next: cd {not_git} && git init" in summary.stdout
    assert summary.returncode == 1
    assert flask_template("update", "--skip-check", current).returncode == 0


def test_update_passes_the_release_and_answers_on(fleet: Fleet, tmp_path: Path) -> None:
    pinned, changed, rejected = (
        fleet.copy("plain", tmp_path / name) for name in ("pinned", "changed", "rejected")
    )

    at_old = flask_template("update", "--skip-check", f"--vcs-ref={fleet.old}", "--json", pinned)
    answer = "--data=description=Bills customers."
    moved = flask_template(
        "update", "--skip-check", f"--vcs-ref={fleet.new}", answer, "--json", changed
    )
    invalid = flask_template("update", "--skip-check", "--data=python_version=2.7", rejected)

    assert as_json(at_old)["pinned"]["outcome"] == "current"
    assert at_old.returncode == 0
    assert moved.returncode == 0, moved.stdout
    assert as_json(moved)["changed"]["outcome"] == "unchecked"
    recorded = (changed / ".copier-answers.yml").read_text()
    assert f"_commit: {fleet.new}" in recorded
    assert "description: Bills customers." in recorded
    assert invalid.returncode == 1
    assert "not green" in invalid.stdout
    assert "copier update failed" in invalid.stdout
    assert "python_version" in invalid.stdout
    assert status_lines(rejected) == []


def test_the_summary_names_what_the_update_guard_asks_the_team_to_read(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The guard's kept files, new migrations and warnings were printed by
    `copier update` only, whose output the tool keeps to itself: a fleet update
    (with --commit, too) said nothing of them."""
    project = fleet.copy("plain", tmp_path / "svc")

    result = flask_template(
        "update", "--skip-check", f"--vcs-ref={fleet.new}", "--data=dockr=false", project
    )

    assert result.returncode == 0, result.stdout
    assert (
        f"{project}: the update guard says:\n"
        "    warning: --data dockr=... is not a question of this template and was ignored\n"
    ) in result.stdout


def test_an_update_the_guard_refuses_is_shown_with_the_guard_s_reason_and_fix(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Both commands gave the last line of Copier's output as the reason, "Task
    [...update_guard.py...] returned non-zero exit status 1", and preview showed
    nothing else: not what the guard refused, nor its fix."""
    project = fleet.copy("plain", tmp_path / "renamed")
    rename = "--data=package_name=billing"

    previewed = flask_template("preview", f"--vcs-ref={fleet.new}", rename, project)
    updated = flask_template(
        "update", "--skip-check", f"--vcs-ref={fleet.new}", rename, "--json", project
    )

    assert "the update guard refused: --data package_name=billing renames the package" in (
        previewed.stdout
    )
    assert "git mv src/flask_service src/billing" in previewed.stdout
    assert "returned non-zero exit status" not in previewed.stdout
    outcome = as_json(updated)["renamed"]
    assert outcome["outcome"] == "not green"
    assert str(outcome["why"]).startswith("the update guard refused: --data package_name=billing")
    assert "git mv src/flask_service src/billing" in str(outcome["fix"])
    assert status_lines(project) == []


def test_update_with_the_check_commits_only_green_projects(fleet: Fleet, tmp_path: Path) -> None:
    good, failing = (
        fleet.copy("plain", tmp_path / "good"),
        fleet.copy("failing", tmp_path / "failing"),
    )
    failing_head = head(failing)

    result = flask_template("update", "--commit", "--json", good, failing)

    assert result.returncode == 1, result.stdout + result.stderr
    outcomes = as_json(result)
    assert outcomes["good"]["outcome"] == "green"
    assert outcomes["good"]["commit"] == git(good, "rev-parse", "--short", "HEAD").strip()
    assert status_lines(good) == []
    message = git(good, "log", "-1", "--format=%s")
    assert message.strip() == (
        f"Update the Flask service template from {fleet.old[1:]} to {fleet.new[1:]}"
    )
    # Where a release writes no report, the check's own lines say the same.
    assert check_in_output(outcomes["good"]["output"])["green"] is True
    assert (
        check_in_output(outcomes["failing"]["output"])["failed"]
        == (outcomes["failing"]["failed_checks"])
    )
    assert outcomes["failing"]["outcome"] == "not green"
    # The pin no release can live with stops the check at the lock's refresh.
    assert outcomes["failing"]["failed_checks"][0] == "refresh uv.lock"
    assert f"failed: {outcomes['failing']['failed_checks'][0]}" in outcomes["failing"]["why"]
    assert outcomes["failing"]["commit"] is None
    assert head(failing) == failing_head
    assert " M .copier-answers.yml" in status_lines(failing)

    refused = flask_template("update", "--commit", "--skip-check", good)
    assert refused.returncode == 2
    assert "drop --skip-check" in refused.stdout


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_rollback_of_an_uncommitted_update_is_lossless(
    fleet: Fleet, tmp_path: Path, conflict: str
) -> None:
    project = fleet.copy("edited", tmp_path / "edited")
    (project / ".venv").mkdir()
    (project / ".venv" / "installed.txt").write_text("stays\n")
    # .rej files hidden from git, as many teams' global excludes do.
    with (project / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("*.rej\n")
    before, commit = files(project), head(project)
    updated = flask_template("update", "--skip-check", f"--conflict={conflict}", project)
    assert "conflicts" in updated.stdout, updated.stdout
    after = files(project)
    if conflict == "rej":
        assert ".gitignore.rej" in after
        assert "?? .gitignore.rej" not in status_lines(project)

    result = flask_template("rollback", project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert files(project) == before
    assert head(project) == commit
    assert status_lines(project) == []
    stashes = git(project, "stash", "list").splitlines()
    assert len(stashes) == 1
    assert f"the update {fleet.old[1:]} -> {fleet.new[1:]}" in stashes[0]
    assert f"git -C {project} stash pop" in result.stdout
    assert "re-sync it" in result.stdout
    assert ".venv/bin/python" in result.stdout

    git(project, "stash", "pop")
    assert files(project) == after


def test_rollback_of_a_committed_update_reverts_it(fleet: Fleet, tmp_path: Path) -> None:
    project, later = (fleet.copy("plain", tmp_path / name) for name in ("project", "later"))
    before = files(project)
    for folder in (project, later):
        update(Project(folder))
        commit_all(folder, "Update from the template")
    update_commit = head(project)
    (later / "NOTES.md").write_text("A commit after the update.\n")
    commit_all(later, "Notes")

    result = flask_template("rollback", project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert files(project) == before
    assert git(project, "rev-parse", "HEAD~1").strip() == update_commit, "history is kept"
    assert "This reverts commit" in git(project, "log", "-1", "--format=%B")
    again = flask_template("rollback", project)
    assert again.returncode == 1
    assert "is itself a rollback" in again.stdout

    not_last = flask_template("rollback", later)
    assert not_last.returncode == 1
    later_update = git(later, "rev-parse", "HEAD~1").strip()
    assert f"git -C {later} revert {later_update[:12]}" in not_last.stdout
    assert git(later, "log", "-1", "--format=%s").strip() == "Notes"


def test_a_release_without_the_update_report_still_gets_its_conflicts_listed(
    tmp_path: Path,
) -> None:
    """Releases before 0.3.0 write no update report: conflicts then come from git."""
    repo, _, _ = release_history(tmp_path / "template-repo", ["0.1.0", "0.2.0"])
    project = generate(repo.path, tmp_path / "service", vcs_ref="v0.1.0").path
    readme = project / "README.md"
    intro = "A Flask service built on the application-factory pattern, generated from a\n"
    readme.write_text(readme.read_text().replace(intro, "The billing service, generated from a\n"))
    commit_all(project, "Say what the service is")

    result = flask_template("update", "--skip-check", "--vcs-ref=v0.2.0", "--json", project)

    (outcome,) = as_json(result).values()
    assert (outcome["outcome"], outcome["version_to"]) == ("conflicts", "0.2.0")
    assert outcome["conflicts"] == ["README.md"]
    assert not (project / ".git" / "flask-template-update.json").exists()


def test_rollback_refuses_what_is_no_update(fleet: Fleet, tmp_path: Path) -> None:
    fresh, dirty = (fleet.copy("plain", tmp_path / name) for name in ("fresh", "dirty"))
    (dirty / "NOTES.md").write_text("Work in progress.\n")
    dirty_files = files(dirty)

    result = flask_template("rollback", "--json", fresh, dirty, tmp_path / "missing")

    assert result.returncode == 1
    refused = {Path(entry["project"]): entry for entry in json.loads(result.stdout)}
    assert not any(entry["done"] for entry in refused.values())
    assert "last changed when the project was generated" in refused[fresh]["message"]
    assert "no update" in refused[dirty]["message"]
    assert "no such folder" in refused[tmp_path / "missing"]["message"]
    assert files(dirty) == dirty_files
    assert git(fresh, "log", "--format=%s").strip().splitlines() == [
        "Generate project from the Flask service template"
    ]


def test_services_of_one_repository_update_in_turn(fleet: Fleet, tmp_path: Path) -> None:
    monorepo = tmp_path / "services"
    monorepo.mkdir()
    git(monorepo, "init", "--quiet")
    for name in ("billing", "stock"):
        render(fleet.repo.path, monorepo / name, vcs_ref=fleet.old)
    commit_all(monorepo, "Two services")
    (monorepo / "PLAN.md").write_text("Staged, not the services' business.\n")
    git(monorepo, "add", "PLAN.md")

    result = flask_template(
        "update", "--skip-check", "--jobs", "2", "--json", monorepo / "billing", monorepo / "stock"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {entry["outcome"] for entry in as_json(result).values()} == {"unchecked"}
    rolled = flask_template("rollback", monorepo / "billing")

    assert rolled.returncode == 0, rolled.stdout
    changed = status_lines(monorepo)
    assert "A  PLAN.md" in changed
    assert " M stock/.copier-answers.yml" in changed
    assert not [line for line in changed if "billing/" in line]


def test_one_entry_point_and_the_status_script_agree(fleet: Fleet) -> None:
    project = fleet.originals / "plain"
    script = subprocess.run(
        [str(FLASK_TEMPLATE.with_name("flask-template-status")), str(project)],
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    command = flask_template("status", project)
    assert (command.returncode, command.stdout) == (script.returncode, script.stdout)
    assert f"next: flask-template preview {project}" in command.stdout
    usage = flask_template("--help").stdout
    for name in ("status", "preview", "update", "rollback"):
        assert f"    {name}" in usage


def test_the_renovate_example_is_valid_and_runs_copier_with_trust() -> None:
    config = ROOT / "examples" / "renovate.json"
    validated = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.renovate",
            str(config),
        ],
        capture_output=True,
        text=True,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    settings = json.loads(config.read_text())
    # Renovate passes --trust to Copier only with scripts allowed here (and
    # allowScripts in the self-hosted configuration): the template has tasks
    # and migrations.
    assert settings["ignoreScripts"] is False
    rules = [rule for rule in settings["packageRules"] if "copier" in rule["matchManagers"]]
    assert rules, "a rule for the copier manager"
    # The schema accepts unknown keys; a misspelt option would do nothing.
    schema = package_files("check_jsonschema.builtin_schemas.vendor").joinpath("renovate.json")
    options = json.loads(schema.read_text())["properties"]
    assert set(settings) - {"$schema"} <= set(options), set(settings) - set(options)
