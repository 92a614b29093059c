"""Count what the story of tests/story.py costs a team, before and after the seams.

    uv run python benchmarks/story.py

The story: a team's realistic edits, then a release that changes the factory, the
config, the health checks, the models (with a migration), the tests, the docs and
the dependencies. Before: the edits a team made in a 0.2.0 project, where the
only places for them were the template's own files (create_app's imports and
registrations, config.py's classes and variable table, health/routes.py, the end
of models.py and of the test files), updated to 0.2.0 plus that release. After:
the same edits made where the working tree's README gives them, updated to the
working tree plus that release. Printed: the conflicted files, the edits lost, and
the time of each `copier update` (with the post-update check). Nothing passes or
fails.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import (  # noqa: E402
    Project,
    TemplateRepo,
    clean_environment,
    commit_all,
    conflicts,
    development_version,
    export_release,
    generate,
    git,
)
from story import (  # noqa: E402
    PACKAGE,
    WIDGETS_MODEL,
    WIDGETS_ROUTES,
    Edit,
    append,
    lost,
    make_team_edits,
    release_changing_every_seam,
    replace,
    write,
)


def old_style_edits(project: Project) -> list[Edit]:
    """The story's edits where a 0.2.0 project had room for them."""
    write(project, f"{PACKAGE}/widgets/__init__.py", '"""Widgets."""\n\nfrom .routes import bp\n')
    write(project, f"{PACKAGE}/widgets/models.py", WIDGETS_MODEL)
    write(project, f"{PACKAGE}/widgets/routes.py", WIDGETS_ROUTES)
    replace(
        project,
        f"{PACKAGE}/__init__.py",
        "from . import api, auth, errors, health,",
        "from . import api, auth, errors, health, widgets,",
    )
    append(
        project,
        f"{PACKAGE}/__init__.py",
        '    app.register_blueprint(widgets.bp, url_prefix="/widgets")\n',
    )
    replace(
        project,
        f"{PACKAGE}/config.py",
        '    LOG_FORMAT = "text"\n',
        '    LOG_FORMAT = "text"\n    WIDGETS_PER_PAGE = 25\n',
    )
    replace(
        project,
        f"{PACKAGE}/config.py",
        '        "LOG_FORMAT": ("LOG_FORMAT", str),\n',
        '        "LOG_FORMAT": ("LOG_FORMAT", str),\n'
        '        "WIDGETS_PER_PAGE": ("WIDGETS_PER_PAGE", int),\n',
    )
    append(
        project,
        f"{PACKAGE}/health/routes.py",
        '\n\n@bp.get("/health/widgets")\n'
        'def widgets_ready() -> dict[str, str]:\n    return {"widgets": "ok"}\n',
    )
    replace(
        project,
        "pyproject.toml",
        '    "sqlalchemy>=2.0.16,<2.2",\n]',
        '    "sqlalchemy>=2.0.16,<2.2",\n    "humanize>=4.9,<5",\n]',
    )
    replace(
        project,
        f"{PACKAGE}/templates/main/index.html",
        '<p class="eyebrow">It works</p>',
        '<p class="eyebrow">Widgets, counted</p>',
    )
    css = (project.path / f"{PACKAGE}/static/css/app.css").read_text().split("\n", 1)[0]
    replace(
        project,
        f"{PACKAGE}/static/css/app.css",
        css + "\n",
        css + "\n/* Brand colours: widgets blue. */\n",
    )
    append(
        project,
        "tests/test_health.py",
        "\n\ndef test_widgets_ready(client: FlaskClient) -> None:\n"
        '    assert client.get("/health/widgets").json == {"widgets": "ok"}\n',
    )
    append(
        project,
        "tests/conftest.py",
        '\n\n@pytest.fixture\ndef widget_names() -> list[str]:\n    return ["left", "right"]\n',
    )
    replace(
        project,
        "README.md",
        "Generated from a Copier template",
        "Counts widgets for the warehouse team; on call: #widgets.\n\n"
        "Generated from a Copier template",
    )
    append(project, ".gitignore", "exports/\n")
    (project.path / ".github/workflows/ci.yml").unlink()
    commit_all(project.path, "Widgets, the 0.2.0 way")
    env = {"APP_ENV": "development"}
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "db", "migrate", "-m", "add widgets", env=env)
    commit_all(project.path, "Widgets: migration")
    return [
        Edit(f"{PACKAGE}/__init__.py", 'app.register_blueprint(widgets.bp, url_prefix="/widgets")'),
        Edit(f"{PACKAGE}/config.py", '"WIDGETS_PER_PAGE": ("WIDGETS_PER_PAGE", int),'),
        Edit(f"{PACKAGE}/health/routes.py", '@bp.get("/health/widgets")'),
        Edit("pyproject.toml", '"humanize>=4.9,<5",'),
        Edit(f"{PACKAGE}/templates/main/index.html", "Widgets, counted"),
        Edit(f"{PACKAGE}/static/css/app.css", "/* Brand colours: widgets blue. */"),
        Edit("tests/test_health.py", "def test_widgets_ready("),
        Edit("tests/conftest.py", "def widget_names() -> list[str]:"),
        Edit("README.md", "Counts widgets for the warehouse team; on call: #widgets."),
        Edit(".gitignore", "exports/"),
    ]


def play(work: Path, name: str, version: str | None, edits_for: Callable) -> None:
    """Generate at `version` (a release, or the working tree for None), make the
    edits, release the story's changes on top, update, and count."""
    parts = export_release(version, work / f"{name}-export") if version else ROOT
    repo = TemplateRepo.create(work / f"{name}-template", parts_from=parts)
    start = repo.release(version or development_version())
    project = generate(repo.path, work / name, vcs_ref=start).install()
    edits = edits_for(project)
    release_changing_every_seam(repo)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "copier", "update", "--trust", "--defaults"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env=clean_environment(),
        check=True,
    )
    seconds = time.perf_counter() - began
    unmerged = {line.split("\t")[-1] for line in git(project.path, "ls-files", "-u").splitlines()}
    conflicted = sorted(set(conflicts(project)) | unmerged)
    print(
        f"{name}: {len(conflicted)} conflicted file(s), {len(lost(project, edits))} edit(s) "
        f"lost; copier update with the check took {seconds:.1f} s"
    )
    for path in conflicted:
        print(f"    {path}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-story-"))
    play(work, "before", "0.2.0", old_style_edits)
    play(work, "after", None, make_team_edits)


if __name__ == "__main__":
    main()
