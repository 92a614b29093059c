"""Teams: shared answers from a data file, and a pinned template release."""

import re
import tomllib
from pathlib import Path

import yaml
from helpers import (
    ROOT,
    TemplateRepo,
    commit_all,
    copier_cli,
    development_version,
    next_version,
    releases,
)
from test_update import question_choices

TEAM_FILE = ROOT / "examples" / "team.yml"
CONFIG_TEMPLATE = "template/src/{{package_name}}/config.py.jinja"


def answers(project: Path) -> dict[str, object]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_the_team_file_gives_valid_answers_to_real_questions() -> None:
    copier_yml = (ROOT / "copier.yml").read_text()
    questions = {key for key in yaml.safe_load(copier_yml) if not key.startswith("_")}
    team = yaml.safe_load(TEAM_FILE.read_text())
    assert set(team) <= questions
    for question, value in team.items():
        if "choices" in yaml.safe_load(copier_yml)[question]:
            assert value in question_choices(copier_yml, question), question


def test_a_service_started_from_team_answers_keeps_them_through_updates(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = tmp_path / "billing-service"
    team = yaml.safe_load(TEAM_FILE.read_text())

    copier_cli(
        "copy",
        "--trust",
        "--defaults",
        "--skip-tasks",
        f"--vcs-ref={current}",
        f"--data-file={TEAM_FILE}",
        "--data=project_name=Billing Service",
        str(repo.path),
        str(project),
    )

    recorded = answers(project)
    assert {key: recorded[key] for key in team} == team
    assert recorded["project_name"] == "Billing Service"
    assert recorded["project_slug"] == "billing-service"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["authors"] == [
        {"name": team["author_name"], "email": team["author_email"]}
    ]
    assert pyproject["project"]["requires-python"] == f">={team['python_version']}"

    commit_all(project, "Generate project from the Flask service template")
    repo.replace(
        CONFIG_TEMPLATE,
        "MAX_CONTENT_LENGTH = 1024 * 1024\n",
        "MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n",
    )
    newer = repo.release(next_version(development_version()))
    copier_cli("update", "--trust", "--defaults", "--skip-tasks", cwd=project)

    updated = answers(project)
    assert updated["_commit"] == newer
    assert {key: updated[key] for key in recorded if key != "_commit"} == {
        key: recorded[key] for key in recorded if key != "_commit"
    }


def test_a_pinned_release_is_where_an_update_goes(
    template_repo: tuple[TemplateRepo, str], tmp_path: Path
) -> None:
    repo, current = template_repo
    project = tmp_path / "svc"
    copier_cli(
        "copy",
        "--trust",
        "--defaults",
        "--skip-tasks",
        f"--vcs-ref={current}",
        str(repo.path),
        str(project),
    )
    commit_all(project, "Generate project from the Flask service template")
    repo.replace(
        CONFIG_TEMPLATE,
        "MAX_CONTENT_LENGTH = 1024 * 1024\n",
        "MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n",
    )
    pinned = repo.release(next_version(development_version()))
    repo.replace(
        CONFIG_TEMPLATE,
        "MAX_CONTENT_LENGTH = 2 * 1024 * 1024\n",
        "MAX_CONTENT_LENGTH = 4 * 1024 * 1024\n",
    )
    repo.release(next_version(pinned.removeprefix("v")))

    copier_cli(
        "update", "--trust", "--defaults", "--skip-tasks", f"--vcs-ref={pinned}", cwd=project
    )

    assert answers(project)["_commit"] == pinned
    assert (
        "MAX_CONTENT_LENGTH = 2 * 1024 * 1024"
        in (project / "src/flask_service/config.py").read_text()
    )


def test_the_pinning_examples_name_the_latest_release() -> None:
    """Run as written, the README's and team.yml's pinned commands must find their
    tag: they named v0.2.0, which this repository does not tag (its tags start at
    v0.9.0), and Copier stopped with "Unknown revision"."""
    latest = list(releases())[-1]
    for path in (ROOT / "README.md", TEAM_FILE):
        pins = re.findall(r"--vcs-ref=v(\d+\.\d+\.\d+)", path.read_text())
        assert pins, f"{path.name} shows no pinned --vcs-ref"
        assert set(pins) == {latest}, f"{path.name} pins {sorted(set(pins))}, not v{latest}"
