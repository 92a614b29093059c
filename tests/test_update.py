"""`copier update` between real template releases keeps everyone's work.

Each test builds the template's own git history in a temporary folder (a tagged
release, a change, a newer tag), generates and commits a project, makes the
user's edits, updates it, and checks the result file by file; where nothing
conflicts, the updated project also passes its own tests.
"""

import itertools
import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import (
    ROOT,
    SMALLEST,
    Project,
    TemplateRepo,
    assert_green,
    commit_all,
    conflicts,
    copier_cli,
    development_version,
    empty_folders,
    generate,
    git,
    next_version,
    render,
    update,
)

CONFIG_TEMPLATE = "template/src/{{package_name}}/config.py.jinja"
CONFIG = "src/flask_service/config.py"
UPLOAD_LIMIT = "    MAX_CONTENT_LENGTH = 1024 * 1024\n"


def question_choices(copier_yml: str, question: str) -> list[object]:
    """The values a question of copier.yml accepts, in the order it offers them."""
    spec = yaml.safe_load(copier_yml)[question]
    if spec.get("type") == "bool":
        return [True, False]
    offered = spec["choices"]
    values = offered.values() if isinstance(offered, dict) else offered
    # A choice may be a mapping that carries its own validator.
    return [value["value"] if isinstance(value, dict) else value for value in values]


def current_choices(question: str) -> list[object]:
    return question_choices((ROOT / "copier.yml").read_text(), question)


def edit(project: Project, relative: str, old: str, new: str) -> None:
    path = project.path / relative
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} in {relative}"
    path.write_text(text.replace(old, new))


def changed_paths(project: Project) -> set[str]:
    return {line[3:] for line in git(project.path, "status", "--porcelain").splitlines()}


def release_raising_the_upload_limit(repo: TemplateRepo) -> str:
    repo.replace(CONFIG_TEMPLATE, UPLOAD_LIMIT, "    MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n")
    return repo.release(next_version(development_version()))


def test_edit_in_an_untouched_region_is_kept_without_conflict(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    production = (
        "    own_settings = settings.ProductionSettings\n    SESSION_COOKIE_SECURE = True\n"
    )
    edit(project, CONFIG, production, f'{production}    PREFERRED_URL_SCHEME = "https"\n')
    commit_all(project.path, "Build https URLs in production")
    release_raising_the_upload_limit(repo)

    update(project)

    config = (project.path / CONFIG).read_text()
    assert 'PREFERRED_URL_SCHEME = "https"' in config
    assert "MAX_CONTENT_LENGTH = 2 * 1024 * 1024" in config
    assert conflicts(project) == []
    assert changed_paths(project) == {".copier-answers.yml", CONFIG}
    assert_green(project)


@pytest.mark.parametrize("mode", ["inline", "rej"])
def test_edit_in_a_changed_region_conflicts_keeps_both_and_is_reported(
    template_repo: tuple[TemplateRepo, str],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    mine = "    MAX_CONTENT_LENGTH = 16 * 1024 * 1024  # scanned invoices\n"
    edit(project, CONFIG, UPLOAD_LIMIT, mine)
    commit_all(project.path, "Accept scanned invoices")
    release_raising_the_upload_limit(repo)
    capfd.readouterr()

    update(project, skip_tasks=False, conflict=mode)

    output = capfd.readouterr().out
    config = (project.path / CONFIG).read_text()
    theirs = "    MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n"
    if mode == "inline":
        assert f"<<<<<<< before updating\n{mine}=======\n{theirs}>>>>>>> after updating\n" in config
        conflicted = CONFIG
    else:
        # The template's side is applied; the user's hunk waits in the .rej file.
        assert theirs in config
        assert f"+{mine}" in (project.path / f"{CONFIG}.rej").read_text()
        conflicted = f"{CONFIG}.rej"
    assert conflicts(project) == [conflicted]
    for checker in ("update-guard", "post-update"):
        assert re.search(rf"{checker}: CONFLICTS in 1 file\(s\).*:\n    {conflicted}\n", output)
    # git knows too: `git status` shows the file unmerged and a commit waits for it.
    assert git(project.path, "status", "--porcelain", "--", CONFIG) == f"UU {CONFIG}\n"
    assert "post-update: tests" not in output
    assert not (project.path / ".venv").exists()


def test_files_the_user_added_are_untouched(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", SMALLEST, vcs_ref=current)
    added = {
        "src/flask_service/reports.py": '"""Monthly stock reports."""\n\nREPORT_DAY = 1\n',
        "docs/runbook.md": "# Runbook\n\nRestart with `systemctl restart svc`.\n",
        "tests/test_reports.py": (
            "from flask_service.reports import REPORT_DAY\n\n\n"
            "def test_reports_go_out_on_the_first() -> None:\n"
            "    assert REPORT_DAY == 1\n"
        ),
    }
    for relative, text in added.items():
        (project.path / relative).parent.mkdir(parents=True, exist_ok=True)
        (project.path / relative).write_text(text)
    commit_all(project.path, "Reports")
    release_raising_the_upload_limit(repo)

    update(project)

    assert {relative: (project.path / relative).read_text() for relative in added} == added
    assert changed_paths(project) == {".copier-answers.yml", CONFIG}
    assert conflicts(project) == []
    assert_green(project)


def test_a_file_the_user_deleted_stays_deleted(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    git(project.path, "rm", "--quiet", ".env.example")
    commit_all(project.path, "Secrets come from the vault, not .env")
    # The newer release even changes the deleted file.
    repo.replace(
        "template/.env.example.jinja",
        "# TEST_DATABASE_URL=\n",
        "# TEST_DATABASE_URL=\n#\n# Optional: how much the app logs.\n# LOG_LEVEL=INFO\n",
    )
    release_raising_the_upload_limit(repo)

    update(project)

    assert not (project.path / ".env.example").exists()
    assert "MAX_CONTENT_LENGTH = 2 * 1024 * 1024" in (project.path / CONFIG).read_text()
    assert changed_paths(project) == {".copier-answers.yml", CONFIG}
    assert conflicts(project) == []


def release_adding_a_question(repo: TemplateRepo) -> str:
    with (repo.path / "copier.yml").open("a") as copier_yml:
        copier_yml.write(
            "\nlog_level:\n"
            "  type: str\n"
            "  help: How much the service logs in production\n"
            "  default: INFO\n"
            "  choices: [DEBUG, INFO, WARNING, ERROR]\n"
        )
    env_example = repo.path / "template" / ".env.example.jinja"
    text = env_example.read_text() + "#\n# How much the app logs.\nLOG_LEVEL={{ log_level }}\n"
    env_example.write_text(text)
    return repo.release(next_version(development_version()))


def test_a_question_added_in_the_newer_release_gets_its_default(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = generate(repo.path, tmp_path / "svc", vcs_ref=current)
    newer = release_adding_a_question(repo)

    # Exactly what a user types; --defaults must not stop at the new question.
    copier_cli("update", "--trust", "--defaults", "--skip-tasks", cwd=project.path)

    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert answers["_commit"] == newer
    assert answers["log_level"] == "INFO"
    assert (project.path / ".env.example").read_text().endswith("LOG_LEVEL=INFO\n")
    assert conflicts(project) == []


COMBINATIONS = [
    dict(zip(("database", "auth", "api"), values, strict=True))
    for values in itertools.product(*map(current_choices, ("database", "auth", "api")))
]


@pytest.mark.parametrize(
    "answers", COMBINATIONS, ids=["-".join(f"{k}={v}" for k, v in a.items()) for a in COMBINATIONS]
)
def test_every_combination_updates_from_the_previous_release(
    releases_repo: tuple[TemplateRepo, str, str], tmp_path: Path, answers: dict[str, object]
) -> None:
    repo, previous, _ = releases_repo
    released_config = git(repo.path, "show", f"{previous}:copier.yml")
    answers_then, answers_now = dict(answers), {}
    if answers["database"] not in question_choices(released_config, "database"):
        # A database the latest release did not offer yet: the project switches
        # to it while it updates.
        answers_now["database"] = answers_then.pop("database")
    project = generate(repo.path, tmp_path / "svc", answers_then, vcs_ref=previous)

    update(project, data=answers_now)

    assert conflicts(project) == []
    assert empty_folders(project) == []
    # An untouched project ends exactly as a new one generated today, file for
    # file, so it passes what test_matrix.py proves of those answers: ruff, mypy,
    # its own suite (on PostgreSQL where chosen), gunicorn.
    fresh = Project(render(repo.path, tmp_path / "fresh", answers))
    assert project.text_files() == fresh.text_files()


# Through the models of the last release before owners: accounts, then items,
# which had no owner.
UNOWNED_ITEMS = """
import sys
from flask_service import create_app
from flask_service.extensions import db
from flask_service.models import Item, User

with create_app().app_context():
    for username in sys.argv[2:]:
        user = User(username=username)
        user.set_password(sys.argv[1])
        db.session.add(user)
        db.session.commit()
    db.session.add_all([Item(name="Old"), Item(name="Older")])
    db.session.commit()
"""
# After the update, in one process, as a team runs them: `flask db upgrade` and
# `flask db check`; a token of the owner (the first argument) and the items it
# lists through the API; whether the owner logs in with each password given;
# the same list for a token of another account (the second argument, if any);
# then `flask db downgrade 0001`, and the tables, the items' columns and names
# and the accounts, read without the models. The report is the last line (the
# service logs each request above it).
AFTER_THE_UPDATE = """
import json
import sys
from sqlalchemy import inspect, text
from flask_service import create_app
from flask_service.extensions import db
from flask_service.models import authenticate

owner, other, passwords = sys.argv[1], sys.argv[2], sys.argv[3:]
app = create_app()


def flask(*command):
    result = app.test_cli_runner().invoke(args=list(command))
    if result.exit_code != 0:
        sys.exit(f"flask {' '.join(command)} failed: {result.output}{result.exception!r}")
    return result.output


def listed(account):
    token = flask("auth", "create-token", account).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    response = app.test_client().get("/api/v1/items", headers=headers)
    assert response.status_code == 200, response.data
    return sorted(item["name"] for item in response.json["items"])


flask("db", "upgrade")
flask("db", "check")
report = {"listed": listed(owner), "others_listed": listed(other) if other else None}
with app.app_context():
    report["logs_in"] = [authenticate(owner, password) is not None for password in passwords]
flask("db", "downgrade", "0001")
with app.app_context():
    inspector = inspect(db.engine)
    report["tables"] = sorted(inspector.get_table_names())
    report["item_columns"] = sorted(column["name"] for column in inspector.get_columns("items"))
    report["items"] = sorted(db.session.execute(text("SELECT name FROM items")).scalars())
    report["users"] = sorted(db.session.execute(text("SELECT username FROM users")).scalars())
print(json.dumps(report))
"""
PASSWORD = "a long enough password"
# Databases with items from before owners: with accounts, the oldest (lowest id)
# gets the items; with none, an account made for them.
ACCOUNTS_AND_OWNER = [(["carol", "alice"], "carol"), ([], "legacy-items")]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_items_from_before_owners_get_one_and_stay_reachable(
    unowned_items_repo: tuple[TemplateRepo, str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    database: str,
) -> None:
    """A project whose items predate owners updates with every item kept, in a
    database with accounts and in one without: the oldest account owns them, or,
    with no account at all, one named `legacy-items` that cannot log in; a token
    of that account lists them (CHANGELOG, "Existing projects")."""
    repo, unowned, _ = unowned_items_repo
    envs = []
    for number in range(len(ACCOUNTS_AND_OWNER)):
        if database == "postgresql":
            url = request.getfixturevalue("postgres").create_database()
        else:
            url = f"sqlite:///{tmp_path}/items{number}.db"
        envs.append({"APP_ENV": "development", "DATABASE_URL": url})
    project = generate(repo.path, tmp_path / "svc", {"database": database}, vcs_ref=unowned)
    project.install()
    for env, (accounts, _) in zip(envs, ACCOUNTS_AND_OWNER, strict=True):
        project.run("flask", "db", "upgrade", env=env)
        project.run("python", "-c", UNOWNED_ITEMS, PASSWORD, *accounts, env=env)

    update(project)

    assert conflicts(project) == []
    project.install()
    for env, (accounts, owner) in zip(envs, ACCOUNTS_AND_OWNER, strict=True):
        # No password opens the account made for the items, not even the
        # placeholder its hash column holds; an existing owner keeps hers.
        passwords = [PASSWORD] if accounts else ["!", "", PASSWORD]
        other = accounts[1] if accounts else ""
        result = project.run("python", "-c", AFTER_THE_UPDATE, owner, other, *passwords, env=env)
        report = json.loads(result.stdout.splitlines()[-1])
        assert report["listed"] == ["Old", "Older"], (accounts, report)
        assert report["logs_in"] == ([True] if accounts else [False, False, False]), report
        # The other accounts own nothing.
        assert report["others_listed"] == ([] if accounts else None), report
        # Back to the release before: owners and tokens go, items and accounts stay.
        assert "api_tokens" not in report["tables"], report
        assert "owner_id" not in report["item_columns"], report
        assert report["items"] == ["Old", "Older"], report
        assert report["users"] == sorted(accounts or [owner]), report
