"""A platform team's service over a release: the edits teams really make, made where
the generated README says they belong, and a release that changes every seam
those edits sit next to (the factory, the config, the health checks, the models
and their migrations, the tests, the docs and the dependencies).

test_story.py plays it on real git histories; benchmarks/story.py counts its
conflicts next to the same edits made in a 0.2.0 project, before the seams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from helpers import Project, TemplateRepo, commit_all, development_version, next_version

PACKAGE = "src/flask_service"


@dataclass(frozen=True)
class Edit:
    """One edit of the team's, and a line of it that must survive any update."""

    path: str
    survives: str


def write(project: Project, path: str, text: str) -> None:
    target = project.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def replace(project: Project, path: str, old: str, new: str) -> None:
    target = project.path / path
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    target.write_text(text.replace(old, new))


def append(project: Project, path: str, text: str) -> None:
    with (project.path / path).open("a") as file:
        file.write(text)


WIDGETS_MODEL = '''"""Widgets, the service's own model."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model


class Widget(Model):
    __tablename__ = "widgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
'''
WIDGETS_ROUTES = """from flask import Blueprint, current_app

from ..extensions import db
from .models import Widget

bp = Blueprint("widgets", __name__)


@bp.get("/")
def list_widgets() -> dict[str, list[str]]:
    limit = current_app.config["WIDGETS_PER_PAGE"]
    widgets = db.session.scalars(db.select(Widget).order_by(Widget.id).limit(limit))
    return {"widgets": [widget.name for widget in widgets]}
"""
WIDGETS_TEST = """from flask.testing import FlaskClient

from flask_service.extensions import db
from flask_service.widgets.models import Widget


def test_widgets_are_listed(client: FlaskClient, widget_names: list[str]) -> None:
    with client.application.app_context():
        db.session.add_all(Widget(name=name) for name in widget_names)
        db.session.commit()
    assert client.get("/widgets/").json == {"widgets": widget_names}


def test_widgets_are_part_of_readiness(client: FlaskClient) -> None:
    readiness = client.get("/health/ready").json
    assert readiness is not None
    assert readiness["widgets"] == "ok"
"""
WIDGETS_CHECK = '''

def widgets_table_readable() -> str | None:
    """The widgets table answers (a check of the service's own)."""
    from ..extensions import db
    from ..widgets.models import Widget

    db.session.execute(db.select(Widget.id).limit(1))
    return None


READINESS_CHECKS["widgets"] = widgets_table_readable
'''


def make_team_edits(project: Project) -> list[Edit]:
    """The edits of a team a few months in, in the places the README gives them.
    The project must be installed (the migration is written by `flask db migrate`).
    Commits them."""
    edits: list[Edit] = []
    # A blueprint package of its own, with its model, registered in features.py.
    write(
        project,
        f"{PACKAGE}/widgets/__init__.py",
        '"""Widgets."""\n\nfrom .routes import bp\n\n__all__ = ["bp"]\n',
    )
    write(project, f"{PACKAGE}/widgets/models.py", WIDGETS_MODEL)
    write(project, f"{PACKAGE}/widgets/routes.py", WIDGETS_ROUTES)
    replace(
        project,
        f"{PACKAGE}/features.py",
        "from flask import Flask\n",
        "from flask import Flask\n\nfrom . import widgets\n",
    )
    append(
        project,
        f"{PACKAGE}/features.py",
        '    app.register_blueprint(widgets.bp, url_prefix="/widgets")\n',
    )
    edits += [
        Edit(f"{PACKAGE}/widgets/models.py", "class Widget(Model):"),
        Edit(f"{PACKAGE}/features.py", 'app.register_blueprint(widgets.bp, url_prefix="/widgets")'),
    ]
    # A setting, read from the environment too.
    replace(
        project,
        f"{PACKAGE}/settings.py",
        '    """Settings for every environment, for example ``WIDGETS_PER_PAGE = 50``."""\n',
        '    """Settings for every environment."""\n\n    WIDGETS_PER_PAGE = 25\n',
    )
    replace(
        project,
        f"{PACKAGE}/settings.py",
        "ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {}\n",
        "ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {\n"
        '    "WIDGETS_PER_PAGE": ("WIDGETS_PER_PAGE", int),\n'
        "}\n",
    )
    edits.append(Edit(f"{PACKAGE}/settings.py", '"WIDGETS_PER_PAGE": ("WIDGETS_PER_PAGE", int),'))
    # A readiness check.
    append(project, f"{PACKAGE}/health/checks.py", WIDGETS_CHECK)
    edits.append(
        Edit(f"{PACKAGE}/health/checks.py", 'READINESS_CHECKS["widgets"] = widgets_table_readable')
    )
    # A dependency, below the marked line.
    replace(
        project,
        "pyproject.toml",
        "    # change only the lines above it.\n]\n",
        '    # change only the lines above it.\n    "humanize>=4.9,<5",\n]\n',
    )
    edits.append(Edit("pyproject.toml", '"humanize>=4.9,<5",'))
    # The look: the home page, the layout's nav, their own styles, and a tweak of
    # the template's stylesheet.
    replace(
        project,
        f"{PACKAGE}/templates/main/index.html",
        '<p class="eyebrow">It works</p>',
        '<p class="eyebrow">Widgets, counted</p>',
    )
    replace(
        project,
        f"{PACKAGE}/templates/layout.html",
        "{% block head %}",
        '{% block nav %}<a href="/widgets/">Widgets</a>{% endblock %}\n{% block head %}',
    )
    append(project, f"{PACKAGE}/static/css/site.css", ".widget-count { font-weight: 700; }\n")
    css = (project.path / f"{PACKAGE}/static/css/app.css").read_text()
    first_rule = css.split("\n", 1)[0]
    replace(
        project,
        f"{PACKAGE}/static/css/app.css",
        first_rule + "\n",
        first_rule + "\n/* Brand colours: widgets blue. */\n",
    )
    edits += [
        Edit(f"{PACKAGE}/templates/main/index.html", "Widgets, counted"),
        Edit(f"{PACKAGE}/templates/layout.html", '<a href="/widgets/">Widgets</a>'),
        Edit(f"{PACKAGE}/static/css/site.css", ".widget-count { font-weight: 700; }"),
        Edit(f"{PACKAGE}/static/css/app.css", "/* Brand colours: widgets blue. */"),
    ]
    # Tests of their own, and a shared fixture.
    write(project, "tests/test_widgets.py", WIDGETS_TEST)
    append(
        project,
        "tests/fixtures.py",
        "\nimport pytest\n\n\n@pytest.fixture\n"
        'def widget_names() -> list[str]:\n    return ["left", "right"]\n',
    )
    edits += [
        Edit("tests/test_widgets.py", "def test_widgets_are_listed("),
        Edit("tests/fixtures.py", "def widget_names() -> list[str]:"),
    ]
    # Their docs and ignore rules, in the marked places.
    replace(
        project,
        "README.md",
        "<!-- Write about this service here",
        "Counts widgets for the warehouse team; on call: #widgets.\n\n"
        "<!-- Write about this service here",
    )
    append(project, ".gitignore", "exports/\n")
    edits += [
        Edit("README.md", "Counts widgets for the warehouse team; on call: #widgets."),
        Edit(".gitignore", "exports/"),
    ]
    # A file they do not want: their CI lives elsewhere.
    (project.path / ".github/workflows/ci.yml").unlink()
    commit_all(project.path, "Widgets: model, routes, settings, checks, tests, look")
    # The migration for their model, as `flask db migrate` writes it.
    env = {"APP_ENV": "development"}
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "db", "migrate", "-m", "add widgets", env=env)
    migration = next((project.path / "migrations/versions").glob("*_add_widgets.py"))
    edits.append(
        Edit(migration.relative_to(project.path).as_posix(), 'op.create_table(\n        "widgets",')
    )
    project.run("flask", "db", "upgrade", env=env)
    commit_all(project.path, "Widgets: migration")
    return edits


def release_changing_every_seam(repo: TemplateRepo) -> str:
    """A release that changes the factory, the config, the health checks, the
    models (with a migration), the tests, the docs and the dependencies."""
    package = "template/src/{{package_name}}"
    repo.replace(
        f"{package}/__init__.py.jinja",
        "    errors.init_app(app)\n",
        "    errors.init_app(app)\n    register_shell_context(app)\n",
    )
    with (repo.path / f"{package}/__init__.py.jinja").open("a") as factory:
        factory.write(
            "\n\ndef register_shell_context(app: Flask) -> None:\n"
            '    app.shell_context_processor(lambda: {"db": db})\n'
        )
    config = repo.path / f"{package}/config.py.jinja"
    text = config.read_text()
    text = text.replace(
        "    MAX_CONTENT_LENGTH = 1024 * 1024\n", "    MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n", 1
    )
    text = text.replace(
        '    LOG_FORMAT = "text"\n', '    LOG_FORMAT = "text"\n    LOG_LEVEL = "INFO"\n', 1
    )
    text = text.replace(
        '        "LOG_FORMAT": ("LOG_FORMAT", str),\n',
        '        "LOG_FORMAT": ("LOG_FORMAT", str),\n        "LOG_LEVEL": ("LOG_LEVEL", str),\n',
        1,
    )
    assert "LOG_LEVEL" in text
    assert "2 * 1024 * 1024" in text
    config.write_text(text)
    with (repo.path / f"{package}/health/routes.py").open("a") as routes:
        routes.write(
            '\n\n@bp.get("/health/live")\n'
            'def live() -> dict[str, str]:\n    return {"status": "ok"}\n'
        )
    models = next((repo.path / package).glob("*models.py*.jinja"))
    text = models.read_text()
    item_created = re.search(
        r"(class Item\(Model\):.*?created_at: Mapped\[datetime\] = mapped_column\(\n.*?\n    \)\n)",
        text,
        re.S,
    )
    assert item_created, "the Item model's created_at column"
    text = text.replace(
        item_created.group(1),
        item_created.group(1) + "    archived_at: Mapped[datetime | None] = mapped_column(\n"
        "        DateTime(timezone=True), default=None\n"
        "    )\n",
    )
    models.write_text(text)
    versions = repo.path / "template/migrations/versions"
    shipped = sorted(
        found.group(1)
        for path in versions.iterdir()
        if (found := re.search(r'^revision = "(\d+)"', path.read_text(), re.MULTILINE))
    )
    number = f"{int(shipped[-1]) + 1:04d}"
    (versions / f"{number}_item_archived_at.py.jinja").write_text(
        f'"""Items can be archived.\n\nRevision ID: {number}\nRevises: {shipped[-1]}\n'
        'Create Date: 2026-12-01 00:00:00\n"""\n'
        "{%- if api %}\n\nimport sqlalchemy as sa\nfrom alembic import op\n{%- endif %}\n\n"
        f'revision = "{number}"\ndown_revision = "{shipped[-1]}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        "{%- if api %}\n"
        '    with op.batch_alter_table("items") as batch:\n'
        "        batch.add_column(\n"
        '            sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True)\n'
        "        )\n"
        "{%- else %}\n    pass\n{%- endif %}\n\n\n"
        "def downgrade() -> None:\n"
        "{%- if api %}\n"
        '    with op.batch_alter_table("items") as batch:\n'
        '        batch.drop_column("archived_at")\n'
        "{%- else %}\n    pass\n{%- endif %}\n"
    )
    tests = repo.path / "template/tests"
    with (tests / "test_health.py.jinja").open("a") as health_tests:
        health_tests.write(
            "\n\ndef test_live(client: FlaskClient) -> None:\n"
            '    assert client.get("/health/live").json == {"status": "ok"}\n'
        )
    with (tests / "test_config.py.jinja").open("a") as config_tests:
        config_tests.write(
            "\n\ndef test_log_level_defaults_to_info() -> None:\n"
            '    assert create_app("testing").config["LOG_LEVEL"] == "INFO"\n'
        )
    repo.replace(
        "template/README.md.jinja",
        "| `LOG_FORMAT` | `json` (production's default) or `text` |\n",
        "| `LOG_FORMAT` | `json` (production's default) or `text` |\n"
        "| `LOG_LEVEL` | how much the app logs (default `INFO`) |\n",
    )
    repo.replace(
        "template/pyproject.toml.jinja",
        '    "gunicorn>=23,<28",\n',
        '    "gunicorn>=23,<28",\n    "itsdangerous>=2.2,<3",\n',
    )
    return repo.release(next_version(development_version()))


def lost(project: Project, edits: list[Edit]) -> list[Edit]:
    """The edits an update dropped: a line of each must still be in its file
    (inside a conflict's markers counts: the team resolves it, nothing is gone)."""
    return [
        edit
        for edit in edits
        if not (project.path / edit.path).is_file()
        or edit.survives not in (project.path / edit.path).read_text()
    ]
