"""The update guard (hooks/update_guard.py) on real updates, with and without the
post-update check: answers it refuses or completes, conflicts it lists and puts in
git's index in both of Copier's modes, the merges Copier's rej mode gets wrong,
migrations it joins, and the report it leaves for tools."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import (
    SMALLEST,
    Project,
    TemplateRepo,
    assert_green,
    clean_environment,
    commit_all,
    conflicts,
    development_version,
    generate,
    git,
    newest_revision,
    next_version,
    render,
)

README_TEMPLATE = "template/README.md.jinja"
CONFIG = "src/flask_service/config.py"
CONFIG_TEMPLATE = "template/src/{{package_name}}/config.py.jinja"


def copier_update(project: Project, *options: str, check: bool = True) -> str:
    """`copier update --trust --defaults` as a user types it; its whole output."""
    command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", *options]
    result = subprocess.run(
        command,
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=900,
        env=clean_environment(),
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def report(project: Project) -> dict:
    path = git(project.path, "rev-parse", "--git-path", "flask-template-update.json").strip()
    return json.loads((project.path / path).read_text())


def answers(project: Project) -> dict:
    return yaml.safe_load((project.path / ".copier-answers.yml").read_text())


def test_questions_a_release_added_keep_an_older_project_as_it_was(
    first_release_repo: tuple[TemplateRepo, str, str], tmp_path: Path
) -> None:
    repo, first, _ = first_release_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=first)

    output = copier_update(project, "--skip-tasks")

    assert 'new questions answered as the project was before them: docker=false, ci="none"' in (
        output
    )
    recorded = answers(project)
    assert (recorded["database"], recorded["docker"], recorded["ci"]) == ("sqlite", False, "none")
    for absent in ("Dockerfile", "compose.yaml", ".dockerignore", ".github"):
        assert not (project.path / absent).exists(), absent
    # A new project still gets them by default.
    assert yaml.safe_load((repo.path / "copier.yml").read_text())["docker"]["default"] is True


def test_skip_answered_cannot_give_old_projects_new_defaults_silently(
    first_release_repo: tuple[TemplateRepo, str, str], tmp_path: Path
) -> None:
    repo, first, _ = first_release_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=first)

    output = copier_update(project, "--skip-tasks", "--skip-answered", check=False)

    assert "NOT UPDATING: this release asks docker, ci, jobs, which the project predates" in output
    assert '--data docker=false --data ci="none" --data jobs="none"' in output
    assert git(project.path, "status", "--porcelain") == ""
    assert "Traceback" not in output


def test_a_hand_deleted_answer_stops_the_update_and_names_the_fix(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", {"api": False}, vcs_ref=current)
    answers_file = project.path / ".copier-answers.yml"
    answers_file.write_text(answers_file.read_text().replace("api: false\n", ""))
    commit_all(project.path, "Tidy the answers")
    repo.replace(
        CONFIG_TEMPLATE, "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 2**21\n"
    )
    newer = repo.release(next_version(development_version()))

    output = copier_update(project, "--skip-tasks", check=False)

    assert "NOT UPDATING: .copier-answers.yml has no answer for api" in output
    assert "git log -p .copier-answers.yml" in output
    assert "--data api=..." in output
    assert "Traceback" not in output
    assert git(project.path, "status", "--porcelain") == ""
    assert not (project.path / "src/flask_service/api").exists()

    # Given on the command line, the answer lets the update through, as it was.
    copier_update(project, "--skip-tasks", "--data=api=false")
    assert answers(project)["_commit"] == newer
    assert answers(project)["api"] is False
    assert not (project.path / "src/flask_service/api").exists()


def test_a_project_its_enclosing_repository_ignores_is_not_updated_and_keeps_its_files(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """Projects in a folder that a repository around it ignores (a dotfiles
    repository in the home folder) are tracked by no git: Copier would update one
    as if every file had been deleted, and delete them."""
    repo, current = template_repo
    home = tmp_path / "home"
    home.mkdir()
    git(home, "init", "--quiet")
    (home / ".gitignore").write_text("*\n")
    git(home, "add", "--force", ".gitignore")
    git(home, "commit", "--quiet", "--message", "Dotfiles")
    project = Project(render(repo.path, home / "src" / "svc", SMALLEST, vcs_ref=current))
    before = project.text_files()
    repo.replace(
        CONFIG_TEMPLATE, "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 2**21\n"
    )
    repo.release(next_version(development_version()))

    output = copier_update(project, "--skip-tasks", check=False)

    assert "NOT UPDATING: git does not track .copier-answers.yml here" in output
    assert 'git init && git add --all && git commit -m "Track the generated project"' in output
    assert "Traceback" not in output
    assert project.text_files() == before


def test_a_package_rename_stops_the_update_and_the_named_fix_keeps_the_team_s_code(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """Copier renders a new package_name as a new package: the team's code stayed
    in the old one, which the new factory no longer sets up, beside a fresh copy
    of every file the team owns; the post-update check failed on the old half."""
    repo, current = template_repo
    project = Project(render(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current))
    features = project.path / "src/flask_service/features.py"
    features.write_text(features.read_text() + "\nTEAM_FEATURE = 1\n")
    commit_all(project.path, "A feature of the team's")

    output = copier_update(
        project, "--skip-tasks", "--vcs-ref=:current:", "--data=package_name=billing", check=False
    )

    assert "NOT UPDATING: --data package_name=billing renames the package" in output
    assert "git mv src/flask_service src/billing" in output
    assert "git grep -nw flask_service" in output
    assert "Traceback" not in output
    assert git(project.path, "status", "--porcelain") == ""
    assert not (project.path / "src/billing").exists()

    # The rename as the message says, then the next release merges into it.
    git(project.path, "mv", "src/flask_service", "src/billing")
    for name in git(project.path, "grep", "-lw", "flask_service").split():
        path = project.path / name
        path.write_text(re.sub(r"\bflask_service\b", "billing", path.read_text()))
    commit_all(project.path, "Rename the package to billing")
    repo.replace(
        CONFIG_TEMPLATE, "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 2**21\n"
    )
    newer = repo.release(next_version(development_version()))

    output = copier_update(project, "--skip-tasks")

    assert "update-guard: no conflicts." in output
    assert answers(project)["_commit"] == newer
    assert answers(project)["package_name"] == "billing"
    assert "MAX_CONTENT_LENGTH = 2**21" in (project.path / "src/billing/config.py").read_text()
    assert "TEAM_FEATURE = 1" in (project.path / "src/billing/features.py").read_text()
    assert not (project.path / "src/flask_service").exists()


def test_a_new_project_slug_names_the_kubernetes_objects_left_running(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """Every Kubernetes object and the secret they read are named after the slug:
    applied after a slug change, the new Deployment's pods waited for a secret
    nobody made, and the old objects kept running and scaling, without a word."""
    repo, current = template_repo
    answers = {**SMALLEST, "database": "postgresql", "project_slug": "billing"}
    project = Project(render(repo.path, tmp_path / "svc", answers, vcs_ref=current))
    commit_all(project.path, "Generated")

    output = copier_update(
        project, "--skip-tasks", "--vcs-ref=:current:", "--data=project_slug=invoicing"
    )

    assert (
        "update-guard: WARNING: project_slug changed from billing to invoicing, and "
        "deploy/kubernetes names every object and the secret after it: create the secret "
        "invoicing as billing was"
    ) in output
    assert "poddisruptionbudget -l app.kubernetes.io/name=billing" in output
    assert "name: invoicing" in (project.path / "deploy/kubernetes/service.yaml").read_text()


def test_unknown_data_keys_are_named(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)

    output = copier_update(
        project, "--skip-tasks", "--vcs-ref=:current:", "--data=apii=false", "--data=api=true"
    )

    assert "update-guard: WARNING: --data apii=... is not a question of this template" in output
    assert report(project)["warnings"] == [
        "--data apii=... is not a question of this template and was ignored"
    ]


def release_changing_the_readme_near(repo: TemplateRepo) -> str:
    """A release that changes the README's `flask run` line."""
    repo.replace(
        README_TEMPLATE,
        "flask run --debug     # http://127.0.0.1:5000\n",
        "flask run --debug     # http://127.0.0.1:5000, reloads on changes\n",
    )
    return repo.release(next_version(development_version()))


@pytest.mark.parametrize("skip_tasks", [True, False], ids=["skip-tasks", "with-check"])
def test_rej_mode_merges_three_ways_what_a_patch_rejects(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path, skip_tasks: bool
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    readme = project.path / "README.md"
    # Two lines above the release's change: inside a patch's context, but a
    # three-way merge keeps both.
    mine = 'pip install -e ".[dev]"   # or: uv pip install -e ".[dev]"\n'
    readme.write_text(readme.read_text().replace('pip install -e ".[dev]"\n', mine))
    commit_all(project.path, "Say it once")
    release_changing_the_readme_near(repo)

    options = ["--skip-tasks"] if skip_tasks else []
    output = copier_update(project, "--conflict=rej", *options)

    text = readme.read_text()
    assert mine in text
    assert "# http://127.0.0.1:5000, reloads on changes\n" in text
    assert not list(project.path.rglob("*.rej")), output
    assert conflicts(project) == []
    assert "update-guard: no conflicts." in output
    assert git(project.path, "status", "--porcelain", "README.md") == " M README.md\n"
    if not skip_tasks:
        assert re.search(r"post-update: GREEN in [\d.]+ s", output)
        check = report(project)["check"]
        assert (check["ran"], check["green"], check["failed"]) == (True, True, [])


def test_conflicts_are_listed_and_in_git_s_index_without_the_check(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    config = project.path / CONFIG
    config.write_text(
        config.read_text().replace(
            "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 16 * 1024 * 1024\n"
        )
    )
    commit_all(project.path, "Scanned invoices")
    repo.replace(
        CONFIG_TEMPLATE, "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 2**21\n"
    )
    repo.release(next_version(development_version()))

    output = copier_update(project, "--skip-tasks")

    assert (
        f"update-guard: CONFLICTS in 1 file(s), also marked in git's index:\n    {CONFIG}\n"
        in output
    )
    assert git(project.path, "status", "--porcelain", CONFIG) == f"UU {CONFIG}\n"
    assert report(project)["conflicts"] == [CONFIG]
    assert report(project)["check"] == {"ran": False}
    # A commit waits until the file is resolved and added.
    blocked = subprocess.run(
        ["git", "commit", "-m", "Update"], cwd=project.path, capture_output=True, text=True
    )
    assert blocked.returncode != 0


def test_a_release_migration_and_the_projects_own_are_joined(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """A release adds a migration after the template's last while the project added
    its own: two heads, which the guard joins so `flask db upgrade` works as ever."""
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current).install()
    (project.path / "src/flask_service/notes.py").write_text(
        "from sqlalchemy.orm import Mapped, mapped_column\n\n"
        "from .extensions import Model\n\n\n"
        "class Note(Model):\n"
        '    __tablename__ = "notes"\n\n'
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    features = project.path / "src/flask_service/features.py"
    features.write_text(
        features.read_text().replace(
            "from flask import Flask\n",
            "from flask import Flask\n\nfrom . import notes  # noqa: F401\n",
        )
    )
    env = {"APP_ENV": "development"}
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "db", "migrate", "-m", "notes", env=env)
    project.run("flask", "db", "upgrade", env=env)
    commit_all(project.path, "Notes")
    last = newest_revision(repo.path / "template/migrations/versions")
    number = f"{int(last) + 1:04d}"
    (repo.path / f"template/migrations/versions/{number}_noop.py").write_text(
        f'"""A release\'s own migration.\n\nRevision ID: {number}\nRevises: {last}\n"""\n\n'
        f'revision = "{number}"\ndown_revision = "{last}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    newer = repo.release(next_version(development_version()))

    output = copier_update(project, "--skip-tasks")

    written = report(project)["migrations"]["written"]
    assert len(written) == 1
    assert re.search(r"_merge_template_\d+_\d+_\d+\.py$", written[0])
    assert f"NEW MIGRATION {written[0]}" in output
    assert newer.removeprefix("v").replace(".", "_") in written[0]
    heads = project.run("flask", "db", "heads", env=env).stdout
    assert len(heads.strip().splitlines()) == 1, heads
    project.run("flask", "db", "upgrade", env=env)
    checked = project.run("flask", "db", "check", env=env)
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr
    assert_green(project)


def test_a_project_inside_a_monorepo_is_guarded_as_well(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """Paths, the index and the kept files work from a folder of a larger repository."""
    repo, current = template_repo
    monorepo = tmp_path / "monorepo"
    (monorepo / "docs").mkdir(parents=True)
    (monorepo / "docs/index.md").write_text("# All our services\n")
    commit_all(monorepo, "Monorepo")
    project = Project(render(repo.path, monorepo / "services" / "billing", vcs_ref=current))
    routes = project.path / "src/flask_service/api/routes.py"
    edited = routes.read_text() + "\n# Billing's API notes.\n"
    routes.write_text(edited)
    config = project.path / CONFIG
    config.write_text(
        config.read_text().replace(
            "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 8 * 1024 * 1024\n"
        )
    )
    commit_all(monorepo, "Billing's edits")
    repo.replace(
        CONFIG_TEMPLATE, "MAX_CONTENT_LENGTH = 1024 * 1024\n", "MAX_CONTENT_LENGTH = 2**21\n"
    )
    repo.release(next_version(development_version()))

    output = copier_update(project, "--skip-tasks", "--data=api=false")

    assert routes.read_text() == edited
    assert "KEPT src/flask_service/api/routes.py" in output
    assert git(monorepo, "status", "--porcelain", "services/billing/" + CONFIG) == (
        f"UU services/billing/{CONFIG}\n"
    )
    assert report(project)["conflicts"] == [CONFIG]
    assert (monorepo / "docs/index.md").read_text() == "# All our services\n"
