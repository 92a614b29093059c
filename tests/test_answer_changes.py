"""Changing an answer after the fact loses nothing.

A project changes an answer with `copier update --vcs-ref=:current: --data ...`
(README: "Changing an answer"). The update guard keeps the files the team edited
that the new answers no longer produce, names the team's own files left in folders
the template dropped, never rewrites a migration a database may have applied, and
writes the migration the new answers need, so `flask db upgrade` then `flask db
check` are clean on the project's existing database, in both directions; turning
an answer back on brings the edits back.
"""

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import (
    PostgresServer,
    Project,
    TemplateRepo,
    assert_green,
    change_answers,
    commit_all,
    conflicts,
    copier_cli,
    empty_folders,
    generate,
    git,
    render,
)

INITIAL = "migrations/versions/0001_initial.py"
OWNERS_MIGRATION = "migrations/versions/0002_api_tokens_and_item_owners.py"
ACCOUNTS_MIGRATION = "migrations/versions/0003_accounts_hardening.py"
EXPORTS_MIGRATION = "migrations/versions/0004_exports.py"
ROUTES = "src/flask_service/api/routes.py"
API_TEST = "tests/test_api.py"

# Rows in every table the answers give the project, written through its models:
# with accounts, the item is the account's and the account has an API token.
SEED = """
import importlib.util
from flask_service import create_app
from flask_service.extensions import db

models = None
if importlib.util.find_spec("flask_service.models"):
    from flask_service import models

app = create_app()
with app.app_context():
    User = getattr(models, "User", None)
    Item = getattr(models, "Item", None)
    ApiToken = getattr(models, "ApiToken", None)
    user = None
    if User is not None:
        user = User(username="keeper")
        user.set_password("a long enough password")
        db.session.add(user)
        db.session.flush()
    if Item is not None:
        owner = {} if user is None else {"owner_id": user.id}
        db.session.add(Item(name="kept", **owner))
    if ApiToken is not None:
        ApiToken.issue(user, name="kept", scope="read", days=30)
    db.session.commit()
"""
# `flask db upgrade` then `flask db check`, as a team runs them after changing an
# answer, in one process (Flask's CLI runner); then the rows in each table, and
# each item's owner (its account's name, or None while items have no owner).
MIGRATE_AND_REPORT = """
import json
import sys
from sqlalchemy import inspect, text
from flask_service import create_app
from flask_service.extensions import db

app = create_app()
for command in (["db", "upgrade"], ["db", "check"]):
    result = app.test_cli_runner().invoke(args=command)
    print(result.output)
    if result.exit_code != 0:
        sys.exit(f"flask {' '.join(command)} failed: {result.exception!r}")
with app.app_context():
    inspector = inspect(db.engine)
    tables = [table for table in inspector.get_table_names() if table != "alembic_version"]
    rows = {
        table: db.session.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar()
        for table in tables
    }
    owners = {}
    if "items" in tables:
        columns = {column["name"] for column in inspector.get_columns("items")}
        query = (
            "SELECT items.name, users.username FROM items "
            "JOIN users ON users.id = items.owner_id"
            if "owner_id" in columns
            else "SELECT items.name, NULL FROM items"
        )
        owners = dict(db.session.execute(text(query)).all())
    print(json.dumps({"rows": rows, "owners": owners}))
"""


def database_env(postgres: PostgresServer | None = None) -> dict[str, str]:
    """The development config, as `flask` uses it: on SQLite, its database in the
    instance folder; else a PostgreSQL database of its own."""
    if postgres is None:
        return {"APP_ENV": "development"}
    return {"APP_ENV": "development", "DATABASE_URL": postgres.create_database()}


@dataclass
class DatabaseState:
    rows: dict[str, int]
    owners: dict[str, str | None]


def migrate_and_check(project: Project, env: dict[str, str]) -> DatabaseState:
    """Upgrade the database and check it matches the models (the script fails if
    not); returns what it then holds."""
    result = project.run("python", "-c", MIGRATE_AND_REPORT, env=env)
    return DatabaseState(**json.loads(result.stdout.splitlines()[-1]))


def assert_migrations_pass_their_tests(project: Project) -> None:
    """Everything but the migrations is what a new project with the same answers
    gets, which test_matrix.py proves green; what differs is the chain of
    migrations, which the project's migration and readiness tests run, and ruff
    reads."""
    project.run("ruff", "check", "migrations")
    project.run("ruff", "format", "--check", "migrations")
    result = project.pytest("tests/test_migrations.py", "tests/test_health.py")
    assert " passed" in result.stdout, result.stdout


def untouched_migration(project: Project, path: str) -> bool:
    return git(project.path, "status", "--porcelain", "--", path) == ""


def answer_change_migrations(project: Project) -> list[str]:
    return sorted(
        path.name for path in (project.path / "migrations/versions").glob("*_template_answers_*")
    )


# Who owns the seeded item after the change and after the change back: nobody
# while there are no accounts (None), and when accounts come back beside kept
# items, the account migration 0002 makes for them.
LEGACY_OWNER = "legacy-items"


@pytest.mark.parametrize(
    ("start", "change", "owners", "comes_back"),
    [
        ({}, {"api": False}, {"change": {}, "back": {}}, {}),
        (
            {},
            {"auth": False},
            {"change": {"kept": None}, "back": {"kept": LEGACY_OWNER}},
            {"users": 1},
        ),
        (
            {"auth": False},
            {"auth": True},
            {"change": {"kept": LEGACY_OWNER}, "back": {"kept": None}},
            {},
        ),
        (
            {"auth": False, "api": False},
            {"auth": True, "api": True},
            {"change": {}, "back": {}},
            {},
        ),
        # Items and their owner stay through jobs coming and going.
        (
            {},
            {"jobs": "celery"},
            {"change": {"kept": "keeper"}, "back": {"kept": "keeper"}},
            {},
        ),
    ],
    ids=[
        "api-off-and-on",
        "auth-off-and-on",
        "auth-on-and-off",
        "both-on-and-off",
        "jobs-on-and-off",
    ],
)
def test_the_existing_database_follows_answer_changes_both_ways(
    template_repo: tuple[TemplateRepo, str],
    tmp_path: Path,
    start: dict[str, object],
    change: dict[str, object],
    owners: dict[str, dict[str, str | None]],
    comes_back: dict[str, int],
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", start, vcs_ref=current).install()
    env = database_env()
    project.run("flask", "db", "upgrade", env=env)
    project.run("python", "-c", SEED, env=env)
    before = migrate_and_check(project, env).rows
    defaults = {"auth": True, "api": True, "jobs": "none"}
    back = {key: start.get(key, defaults[key]) for key in change}

    counts = {}
    for answers, step in ((change, "change"), (back, "back")):
        output = change_answers(project, "--skip-tasks", **answers)
        assert conflicts(project) == [], output
        assert empty_folders(project) == []
        assert untouched_migration(project, INITIAL), f"{step}: 0001 was rewritten"
        assert untouched_migration(project, OWNERS_MIGRATION), f"{step}: 0002 was rewritten"
        assert untouched_migration(project, ACCOUNTS_MIGRATION), f"{step}: 0003 was rewritten"
        assert untouched_migration(project, EXPORTS_MIGRATION), f"{step}: 0004 was rewritten"
        written = re.findall(r"NEW MIGRATION (migrations/versions/\S+):", output)
        assert len(written) == 1, output
        assert (project.path / written[0]).is_file()
        # Everything but the migrations is what a new project with these answers gets.
        fresh = Project(render(repo.path, tmp_path / f"fresh-{step}", {**start, **answers}))
        mine = {p: text for p, text in project.text_files().items() if "versions" not in p.parts}
        theirs = {p: text for p, text in fresh.text_files().items() if "versions" not in p.parts}
        assert mine == theirs
        project.install()
        state = migrate_and_check(project, env)
        assert state.owners == owners[step], step
        counts[step] = state.rows
        commit_all(project.path, f"Answers: {answers}")

    # Tables the change never removed kept their rows; the others came back empty,
    # but for the account made for kept items that had no owner.
    assert counts["back"] == {
        **{table: rows if table in counts["change"] else 0 for table, rows in before.items()},
        **comes_back,
    }
    assert_migrations_pass_their_tests(project)


def test_answer_changes_on_postgresql_keep_the_database_in_step(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path, postgres: PostgresServer
) -> None:
    repo, current = template_repo
    answers = {"database": "postgresql"}
    project = generate(repo.path, tmp_path / "svc", answers, vcs_ref=current).install()
    env = database_env(postgres)
    project.run("flask", "db", "upgrade", env=env)
    project.run("python", "-c", SEED, env=env)
    accounts = {"users": 1, "login_attempts": 0}
    steps = [
        ({"auth": False}, {"items": 1}, {"kept": None}),
        ({"auth": True}, {**accounts, "items": 1, "api_tokens": 0}, {"kept": LEGACY_OWNER}),
        ({"api": False}, accounts, {}),
        ({"api": True}, {**accounts, "items": 0, "api_tokens": 0}, {}),
    ]

    for answers, rows, owners in steps:
        change_answers(project, "--skip-tasks", **answers)
        project.install()
        assert migrate_and_check(project, env) == DatabaseState(rows, owners), answers
        commit_all(project.path, f"Answers: {answers}")
    # The migrations run backwards too: the tests' downgrade to base passes.
    project.pytest("tests/test_migrations.py", env={"TEST_DATABASE_URL": env["DATABASE_URL"]})


def test_an_answer_changed_while_updating_takes_the_releases_migrations_first(
    releases_repo: tuple[TemplateRepo, str, str], tmp_path: Path
) -> None:
    """`copier update --data auth=true` from the previous release: the release's
    new migrations run as the project's old answers render them, then the answer
    change's, so none needs a table that only the answer change creates (0002
    gives kept items an owner, in `users`)."""
    repo, previous, _ = releases_repo
    project = generate(repo.path, tmp_path / "svc", {"auth": False}, vcs_ref=previous).install()
    env = database_env()
    project.run("flask", "db", "upgrade", env=env)
    project.run("python", "-c", SEED, env=env)

    updated = copier_cli(
        "update", "--trust", "--defaults", "--skip-tasks", "--data=auth=true", cwd=project.path
    )
    output = updated.stdout + updated.stderr

    assert conflicts(project) == [], output
    assert re.findall(r"NEW MIGRATION (migrations/versions/\S+_auth_true\.py):", output), output
    project.install()
    assert migrate_and_check(project, env) == DatabaseState(
        rows={"users": 1, "login_attempts": 0, "items": 1, "api_tokens": 0},
        owners={"kept": LEGACY_OWNER},
    )
    # The project's own tests, and a scratch database migrated from nothing.
    assert_green(project)
    scratch = {"APP_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/scratch.db"}
    migrate_and_check(project, scratch)


def test_the_migration_for_several_changed_answers_passes_ruff(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """Two answers changed in one update name both in the migration's first line,
    which must still pass the project's ruff, or the update's check fails."""
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)

    output = change_answers(project, "--skip-tasks", database="postgresql", jobs="celery")

    [written] = re.findall(r"NEW MIGRATION (migrations/versions/\S+):", output)
    migration = (project.path / written).read_text()
    assert 'database="postgresql"' in migration
    assert 'jobs="celery"' in migration
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, written],
            cwd=project.path,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_edited_files_the_new_answers_remove_are_kept_and_named(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    # Without accounts: the API's files are the point, and its suite is shorter.
    project = generate(repo.path, tmp_path / "svc", {"auth": False}, vcs_ref=current)
    routes = project.path / ROUTES
    edited_routes = routes.read_text().replace(
        'TAGS = ["items"]\n', 'TAGS = ["items"]\n# The mobile app reads these tags.\n'
    )
    assert edited_routes != routes.read_text()
    routes.write_text(edited_routes)
    api_test = project.path / API_TEST
    edited_test = api_test.read_text() + "\n\ndef test_ours() -> None:\n    assert True\n"
    api_test.write_text(edited_test)
    export = project.path / "src/flask_service/api/export.py"
    export.write_text('"""CSV export, ours."""\n\nFORMAT = "csv"\n')
    commit_all(project.path, "Our API tweaks")

    output = change_answers(project, "--skip-tasks", api=False)

    assert routes.read_text() == edited_routes
    assert api_test.read_text() == edited_test
    assert export.is_file()
    assert f"KEPT {ROUTES}: you edited it, and the new answers no longer produce it" in output
    assert f"KEPT {API_TEST}: you edited it" in output
    # The package of the kept routes stays a package; the unedited files go.
    assert (project.path / "src/flask_service/api/__init__.py").is_file()
    assert "your own files in folders the template no longer generates" in output
    assert re.search(r"\n    src/flask_service/api/export.py\n", output)
    report = json.loads(
        (project.path / ".git" / "flask-template-update.json").read_text(encoding="utf-8")
    )
    assert report["answers_changed"] == {"api": [True, False]}
    assert {entry["path"] for entry in report["kept"]} == {
        ROUTES,
        API_TEST,
        "src/flask_service/api/__init__.py",
    }
    assert report["left_in_removed_folders"] == ["src/flask_service/api/export.py"]
    assert conflicts(project) == []
    commit_all(project.path, "No API")

    # Turning the answer back on brings the edited files back as they were.
    output = change_answers(project, "--skip-tasks", api=True)

    assert routes.read_text() == edited_routes
    assert api_test.read_text() == edited_test
    assert conflicts(project) == [], output
    assert_green(project)


def test_a_renamed_file_the_new_answers_remove_is_kept_and_named(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """To Copier a generated file the team renamed is the team's own: when the new
    answers remove its original, it stays behind, testing an API that is gone,
    and nothing said so."""
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", {"auth": False}, vcs_ref=current)
    git(project.path, "mv", API_TEST, "tests/test_items.py")
    commit_all(project.path, "Our name for the API's tests")

    output = change_answers(project, "--skip-tasks", api=False)

    assert (
        f"KEPT tests/test_items.py: it is {API_TEST}, which you renamed, and the new "
        "answers no longer produce that. Adapt it or delete it."
    ) in output
    assert (project.path / "tests/test_items.py").is_file()


def test_the_teams_models_and_migrations_are_left_alone(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    """A model of the team's lives in its own module (README: "Your code and the
    template's"), so removing the template's Item never touches it."""
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current).install()
    package = project.path / "src/flask_service"
    (package / "widgets.py").write_text(
        "from sqlalchemy import String\n"
        "from sqlalchemy.orm import Mapped, mapped_column\n\n"
        "from .extensions import Model\n\n\n"
        "class Widget(Model):\n"
        '    __tablename__ = "widgets"\n\n'
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
        "    name: Mapped[str] = mapped_column(String(50))\n"
    )
    features = package / "features.py"
    features.write_text(
        features.read_text().replace(
            "from flask import Flask\n",
            "from flask import Flask\n\nfrom . import widgets  # noqa: F401\n",
        )
    )
    env = database_env()
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "db", "migrate", "-m", "widgets", env=env)
    project.run("flask", "db", "upgrade", env=env)
    commit_all(project.path, "Widgets")
    ours = {
        path.name: path.read_text() for path in (project.path / "migrations/versions").glob("*.py")
    }

    change_answers(project, "--skip-tasks", api=False)

    assert conflicts(project) == []
    after = {
        path.name: path.read_text() for path in (project.path / "migrations/versions").glob("*.py")
    }
    assert {name: after[name] for name in ours} == ours
    assert (package / "widgets.py").is_file()
    project.install()
    assert migrate_and_check(project, env).rows == {"users": 0, "login_attempts": 0, "widgets": 0}
