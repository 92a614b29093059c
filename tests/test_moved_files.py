"""A release that moves a generated file carries the project's edits of it along;
a release's changes to a file the team moved reach it there.

Release 0.2.0 turned `health.py` into the `health/` package; the update guard
merges a project's own edits of `health.py` into `health/routes.py` when an update
crosses 0.2.0 (`MOVED_FILES` in hooks/update_guard.py). These tests update a
0.1.0 project to the working tree. (An unedited project is covered by the
every-combination test in test_update.py: it ends identical to a new one.)
"""

from pathlib import Path

import pytest
from helpers import (
    SMALLEST,
    Project,
    TemplateRepo,
    assert_green,
    commit_all,
    conflicts,
    development_version,
    generate,
    git,
    next_version,
    render,
    update,
)

HEALTH = "src/flask_service/health.py"
ROUTES = "src/flask_service/health/routes.py"
HEALTH_ROUTE = '@bp.get("/health")\n'
# A route of the user's own, where 0.2.0 changes nothing nearby (it changes the
# imports and adds /health/ready at the end).
VERSION_ROUTE = (
    '@bp.get("/health/version")\ndef version() -> dict[str, str]:\n'
    '    return {"version": "1.4.2"}\n\n\n'
)
APPENDED_ROUTE = "\n\n" + VERSION_ROUTE.rstrip("\n") + "\n"
VERSION_TEST = (
    "from flask.testing import FlaskClient\n\n\n"
    "def test_version(client: FlaskClient) -> None:\n"
    '    assert client.get("/health/version").json == {"version": "1.4.2"}\n'
)


def at_0_1_0(history: tuple[TemplateRepo, str, str], folder: Path) -> Project:
    repo, first, _ = history
    project = generate(repo.path, folder, vcs_ref=first)
    assert (project.path / HEALTH).is_file(), "0.1.0 still has health.py"
    return project


def test_edits_of_health_py_are_carried_into_the_health_package(
    first_release_repo: tuple[TemplateRepo, str, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = at_0_1_0(first_release_repo, tmp_path / "svc")
    health = project.path / HEALTH
    health.write_text(health.read_text().replace(HEALTH_ROUTE, VERSION_ROUTE + HEALTH_ROUTE))
    (project.path / "tests" / "test_version.py").write_text(VERSION_TEST)
    commit_all(project.path, "Version route")
    capfd.readouterr()

    update(project)

    assert (
        "update-guard: your edits of src/flask_service/health.py are in "
        "src/flask_service/health/routes.py, merged"
    ) in capfd.readouterr().out
    assert not (project.path / HEALTH).exists()
    fresh = render(first_release_repo[0].path, tmp_path / "fresh")
    # The release's own changes (the docstring moved to __init__.py, the
    # readiness route) and the user's route, together.
    expected = (fresh / ROUTES).read_text().replace(HEALTH_ROUTE, VERSION_ROUTE + HEALTH_ROUTE)
    assert (project.path / ROUTES).read_text() == expected
    assert conflicts(project) == []
    assert_green(project)


def test_an_edit_the_release_also_changed_conflicts_and_is_reported(
    first_release_repo: tuple[TemplateRepo, str, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = at_0_1_0(first_release_repo, tmp_path / "svc")
    health = project.path / HEALTH
    mine = '"""Liveness check for the Kubernetes probes of the billing cluster."""\n'
    health.write_text(
        health.read_text().replace(
            '"""Liveness check for load balancers and orchestrators."""\n', mine
        )
    )
    commit_all(project.path, "Say who probes us")
    capfd.readouterr()

    update(project, skip_tasks=False)

    output = capfd.readouterr().out
    assert (
        "update-guard: your edits of src/flask_service/health.py are in "
        "src/flask_service/health/routes.py, WITH CONFLICTS to resolve"
    ) in output
    routes = (project.path / ROUTES).read_text()
    # 0.2.0 moved the docstring out of this module; the user's edit of it is kept.
    assert routes.startswith(f"<<<<<<< before updating\n{mine}")
    assert "\n>>>>>>> after updating\n" in routes
    assert conflicts(project) == [ROUTES]
    assert f"CONFLICTS in 1 file(s); nothing was installed or tested:\n    {ROUTES}\n" in output
    # In git's index too, as a merge leaves it: `git status` shows it, commits wait.
    assert git(project.path, "status", "--porcelain", ROUTES).startswith("UU ")


def test_the_migration_runs_only_for_updates_across_its_release(
    template_repo: tuple[TemplateRepo, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    with (project.path / "src/flask_service/health/routes.py").open("a") as routes:
        routes.write(APPENDED_ROUTE)
    commit_all(project.path, "Version route")
    repo.replace("template/.gitignore", "# Tools\n", "# Tools\n.tox/\n")
    repo.release(next_version(development_version()))
    capfd.readouterr()

    update(project)

    assert "your edits of" not in capfd.readouterr().out
    assert (project.path / ROUTES).read_text().endswith(APPENDED_ROUTE)
    assert not (project.path / HEALTH).exists()


def test_in_rej_mode_the_moved_file_is_the_releases_and_the_edits_wait_in_a_rej(
    first_release_repo: tuple[TemplateRepo, str, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = at_0_1_0(first_release_repo, tmp_path / "svc")
    health = project.path / HEALTH
    mine = '"""Liveness check for the Kubernetes probes of the billing cluster."""\n'
    health.write_text(
        health.read_text().replace(
            '"""Liveness check for load balancers and orchestrators."""\n', mine
        )
    )
    commit_all(project.path, "Say who probes us")
    capfd.readouterr()

    update(project, conflict="rej")

    output = capfd.readouterr().out
    fresh = render(first_release_repo[0].path, tmp_path / "fresh")
    assert (project.path / ROUTES).read_text() == (fresh / ROUTES).read_text()
    assert f"+{mine}" in (project.path / f"{ROUTES}.rej").read_text()
    # Copier's own patch for the removed health.py has nowhere to go: no stray .rej.
    assert sorted(str(p.relative_to(project.path)) for p in project.path.rglob("*.rej")) == [
        f"{ROUTES}.rej"
    ]
    assert conflicts(project) == [f"{ROUTES}.rej"]
    assert (
        f"update-guard: CONFLICTS in 1 file(s), also marked in git's index:\n    {ROUTES}.rej"
        in output
    )
    assert git(project.path, "status", "--porcelain", ROUTES).startswith("UU ")


def test_a_release_s_changes_reach_a_file_the_team_renamed_and_are_named_for_one_it_deleted(
    template_repo: tuple[TemplateRepo, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Copier keeps a deleted file deleted and drops the release's changes to it
    silently: a renamed file's among them."""
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    git(project.path, "mv", "tests/test_logs.py", "tests/test_logging.py")
    git(project.path, "rm", "--quiet", "tests/test_errors.py")
    commit_all(project.path, "Rename the log tests, drop the error tests")
    added = "import json\n\n# The release's own line.\n"
    repo.replace("template/tests/test_logs.py.jinja", "import json\n", added)
    repo.replace("template/tests/test_errors.py.jinja", "import pytest\n", "import pytest  # new\n")
    repo.release(next_version(development_version()))
    capfd.readouterr()

    update(project)

    output = capfd.readouterr().out
    assert (
        "update-guard: the release's changes to tests/test_logs.py are in "
        "tests/test_logging.py, its new name, merged\n"
    ) in output
    assert added in (project.path / "tests/test_logging.py").read_text()
    assert not (project.path / "tests/test_logs.py").exists()
    assert not (project.path / "tests/test_errors.py").exists()
    assert (
        "update-guard: WARNING: tests/test_errors.py: you deleted it, and the release changes "
        "it, which Copier does not apply to a deleted file: the change is in "
        ".git/flask-template-not-applied.patch; apply what you still need by hand\n"
    ) in output
    not_applied = (project.path / ".git/flask-template-not-applied.patch").read_text()
    assert "+import pytest  # new\n" in not_applied
    assert conflicts(project) == []
