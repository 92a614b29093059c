"""The story of issue 8, point 1: a team's realistic edits, made where the README
says they belong, survive a release that changes every seam next to them, with no
conflicted file, and the project ends green on its own database.

From release 0.3.0 on, every release is also played against the same edits made
at the previous release (test_the_previous_release_takes_the_story_cleanly).
"""

import json
import re
from pathlib import Path

from helpers import (
    Project,
    TemplateRepo,
    commit_all,
    copier_cli,
    generate,
    git,
)
from story import lost, make_team_edits, release_changing_every_seam

DEVELOPMENT = {"APP_ENV": "development"}


def widget_rows(project: Project) -> list[str]:
    script = (
        "from flask_service import create_app\n"
        "from flask_service.extensions import db\n"
        "from flask_service.widgets.models import Widget\n"
        "with create_app().app_context():\n"
        "    print([w.name for w in db.session.scalars(db.select(Widget))])\n"
    )
    return project.run("python", "-c", script, env=DEVELOPMENT).stdout.strip()


def play(project: Project) -> tuple[str, dict]:
    """`copier update --trust --defaults` with the post-update check, as users run it;
    its output and the update report."""
    result = copier_cli("update", "--trust", "--defaults", cwd=project.path)
    report = json.loads((project.path / ".git" / "flask-template-update.json").read_text())
    return result.stdout + result.stderr, report


def team_project(repo: TemplateRepo, start: str, folder: Path) -> tuple[Project, list]:
    project = generate(repo.path, folder, vcs_ref=start).install()
    edits = make_team_edits(project)
    # Some data in the team's table, in the database `flask` uses.
    script = (
        "from flask_service import create_app\n"
        "from flask_service.extensions import db\n"
        "from flask_service.widgets.models import Widget\n"
        "with create_app().app_context():\n"
        "    db.session.add(Widget(name='kept'))\n"
        "    db.session.commit()\n"
    )
    project.run("python", "-c", script, env=DEVELOPMENT)
    return project, edits


def test_a_release_changing_every_seam_conflicts_nowhere_and_loses_nothing(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project, edits = team_project(repo, current, tmp_path / "svc")
    assert " passed" in project.pytest().stdout, "the team's edits pass their own suite"
    release_changing_every_seam(repo)

    output, report = play(project)

    assert report["conflicts"] == [], output
    assert lost(project, edits) == []
    assert not (project.path / ".github/workflows/ci.yml").exists(), "deleted stays deleted"
    # The release arrived: every seam it changed.
    package = project.path / "src/flask_service"
    assert "register_shell_context(app)" in (package / "__init__.py").read_text()
    assert "LOG_LEVEL" in (package / "config.py").read_text()
    assert '"/health/live"' in (package / "health/routes.py").read_text()
    assert "archived_at" in (package / "models.py").read_text()
    assert "def test_live(" in (project.path / "tests/test_health.py").read_text()
    assert '"itsdangerous>=2.2,<3",' in (project.path / "pyproject.toml").read_text()
    # The release's migration and the team's branched from 0001: they are joined.
    assert [Path(path).name for path in report["migrations"]["written"]] == [
        name
        for name in sorted(p.name for p in (project.path / "migrations/versions").iterdir())
        if "_merge_template_" in name
    ]
    # ruff, mypy, the tests and `flask db check`, as the project's CI runs them.
    assert re.search(r"post-update: GREEN in [\d.]+ s: \d+ passed", output), output
    # The database the team already had takes the update and keeps its rows.
    project.run("flask", "db", "upgrade", env=DEVELOPMENT)
    checked = project.run("flask", "db", "check", env=DEVELOPMENT)
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr
    assert widget_rows(project) == "['kept']"
    commit_all(project.path, "Update from the template")
    assert git(project.path, "status", "--porcelain") == ""


def test_the_previous_release_takes_the_story_cleanly(
    releases_repo: tuple[TemplateRepo, str, str], tmp_path: Path
) -> None:
    """The working tree as a release, taken by a team that made the story's edits
    at the previous release."""
    repo, previous, current = releases_repo
    project, edits = team_project(repo, previous, tmp_path / "svc")

    output, report = play(project)

    assert len(report["conflicts"]) <= 1, output
    assert lost(project, edits) == []
    assert re.search(r"post-update: GREEN in [\d.]+ s: \d+ passed", output), output
    project.run("flask", "db", "upgrade", env=DEVELOPMENT)
    checked = project.run("flask", "db", "check", env=DEVELOPMENT)
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr
    assert widget_rows(project) == "['kept']"
    assert report["to"] == current.removeprefix("v")
