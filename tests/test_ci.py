"""CI pipelines: valid against their published schemas (vendored in check-jsonschema,
so offline), on the chosen Python, with PostgreSQL where chosen, and with commands
that pass when run here in a generated project."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import UV, PostgresServer, Project

PIPELINES = {
    "github": (".github/workflows/ci.yml", "vendor.github-workflows"),
    "gitlab": (".gitlab-ci.yml", "vendor.gitlab-ci"),
}
CHECKS = [
    "ruff check .",
    "ruff format --check .",
    "mypy",
    "pytest --cov",
    "flask db upgrade",
    "flask db check",
]


def commands(pipeline: dict, ci: str) -> list[str]:
    """The pipeline's shell commands, in order."""
    if ci == "github":
        runs = [step["run"] for step in pipeline["jobs"]["test"]["steps"] if "run" in step]
        return [line for run in runs for line in run.splitlines() if line.strip()]
    return pipeline["test"]["script"]


def job_environment(pipeline: dict, ci: str) -> dict[str, str]:
    if ci == "github":
        job = pipeline["jobs"]["test"]
        env = dict(job.get("env", {}))
        for step in job["steps"]:
            env.update(step.get("env", {}))
        return env
    return dict(pipeline.get("variables", {}))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("ci", list(PIPELINES))
def test_pipeline_matches_its_schema_and_runs_every_check(
    copy: Callable[..., Project], ci: str, database: str
) -> None:
    project = copy(ci=ci, database=database)
    path, schema = PIPELINES[ci]
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", schema, path],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pipeline = yaml.safe_load((project.path / path).read_text())
    steps = commands(pipeline, ci)
    positions = [steps.index(check) for check in CHECKS]
    assert positions == sorted(positions), steps
    services = (
        pipeline["jobs"]["test"].get("services", {})
        if ci == "github"
        else pipeline["test"].get("services", [])
    )
    assert bool(services) == (database == "postgresql")
    if database == "postgresql":
        assert job_environment(pipeline, ci)["TEST_DATABASE_URL"].startswith("postgresql+psycopg")


def test_the_github_pipelines_token_only_reads(copy: Callable[..., Project]) -> None:
    # It runs the project's code and every dependency's: a token that writes
    # (a repository's default may) would be theirs to push or publish with.
    project = copy(ci="github")
    pipeline = yaml.safe_load((project.path / PIPELINES["github"][0]).read_text())
    assert pipeline["permissions"] == {"contents": "read"}
    assert "permissions" not in pipeline["jobs"]["test"]
    [checkout] = [
        step
        for step in pipeline["jobs"]["test"]["steps"]
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkout["with"]["persist-credentials"] is False


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13", "3.14"])
def test_pipelines_use_the_chosen_python(copy: Callable[..., Project], python_version: str) -> None:
    github = copy("github", ci="github", python_version=python_version)
    workflow = yaml.safe_load((github.path / PIPELINES["github"][0]).read_text())
    setup = next(
        s for s in workflow["jobs"]["test"]["steps"] if "setup-python" in s.get("uses", "")
    )
    assert setup["with"]["python-version"] == python_version
    gitlab = copy("gitlab", ci="gitlab", python_version=python_version)
    pipeline = yaml.safe_load((gitlab.path / PIPELINES["gitlab"][0]).read_text())
    assert pipeline["default"]["image"] == f"python:{python_version}-slim"


def test_no_pipeline_when_none_is_chosen(copy: Callable[..., Project]) -> None:
    project = copy(ci="none")
    assert not (project.path / ".github").exists()
    assert not (project.path / ".gitlab-ci.yml").exists()
    assert "## Continuous integration" not in (project.path / "README.md").read_text()


@pytest.mark.parametrize(("ci", "database"), [("github", "sqlite"), ("gitlab", "postgresql")])
def test_pipeline_commands_pass_here(
    copy: Callable[..., Project], request: pytest.FixtureRequest, ci: str, database: str
) -> None:
    """Each command after the install, in the pipeline's environment, in order.

    Pipelines differ only by database; without accounts and the API their
    suites are the shortest (test_matrix.py runs every combination's)."""
    project = copy(ci=ci, database=database, auth=False, api=False)
    # The hook locks a new project; the pipeline installs what the lock pins.
    subprocess.run([UV, "lock", "--quiet"], cwd=project.path, check=True)
    pipeline = yaml.safe_load((project.path / PIPELINES[ci][0]).read_text())
    env = job_environment(pipeline, ci)
    # A cache location only: this machine's warm cache serves instead.
    env.pop("UV_CACHE_DIR", None)
    env["GITHUB_PATH"] = str(project.path.parent / "github-path")
    if database == "postgresql":
        # The pipeline's service host is this machine's throwaway server.
        server: PostgresServer = request.getfixturevalue("postgres")
        env["TEST_DATABASE_URL"] = server.create_database()
    env["PATH"] = f"{project.path / '.venv' / 'bin'}:{Path(UV).parent}:/usr/bin:/bin"
    exports = [f"export {name}={value!r}" for name, value in env.items()]
    # Every command but the one that installs uv itself, which is here already.
    steps = [command for command in commands(pipeline, ci) if "pip install" not in command]
    assert "uv sync --locked --extra dev" in steps
    # One shell, as a GitLab job's script runs; -x shows which command failed.
    result = subprocess.run(
        ["bash", "-exc", "\n".join([*exports, *steps])],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr
    assert (project.path / ".venv" / "bin" / "flask").exists()


@pytest.mark.parametrize("docker", [True, False])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_dependabot_keeps_the_lock_the_images_and_the_actions_current(
    copy: Callable[..., Project], docker: bool, database: str
) -> None:
    project = copy(ci="github", docker=docker, database=database)
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load((project.path / ".github/dependabot.yml").read_text())["updates"]
    ecosystems = {update["package-ecosystem"]: update for update in updates}
    expected = {"uv", "github-actions"} | ({"docker", "docker-compose"} if docker else set())
    assert set(ecosystems) == expected
    if docker:
        # The project's Python is its own decision, never a bot's.
        ignored = ecosystems["docker"]["ignore"][0]
        assert ignored["dependency-name"] == "python"
        assert "version-update:semver-minor" in ignored["update-types"]
        postgres_majors = ecosystems["docker-compose"].get("ignore", [])
        assert bool(postgres_majors) == (database == "postgresql")
    assert not (project.path / "renovate.json").exists()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_renovate_on_gitlab_keeps_the_lock_and_the_images_current(
    copy: Callable[..., Project], database: str
) -> None:
    project = copy(ci="gitlab", database=database)
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.renovate", "renovate.json"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads((project.path / "renovate.json").read_text())
    assert config["lockFileMaintenance"]["enabled"] is True
    assert "customManagers:dockerfileVersions" in config["extends"]
    held = {rule["matchPackageNames"][0] for rule in config["packageRules"]}
    assert held == ({"python", "postgres"} if database == "postgresql" else {"python"})
    # The uv the image and the pipeline install is pinned where Renovate finds it.
    dockerfile = (project.path / "Dockerfile").read_text()
    assert "# renovate: datasource=pypi depName=uv\nARG UV_VERSION=" in dockerfile
    pipeline = (project.path / ".gitlab-ci.yml").read_text()
    assert "# renovate: datasource=pypi depName=uv\n  UV_VERSION:" in pipeline
    assert not (project.path / ".github").exists()


def test_a_lock_left_behind_by_pyproject_fails_the_pipelines_install(
    copy: Callable[..., Project],
) -> None:
    """A dependency added without `uv lock` is caught by CI, not shipped unpinned."""
    project = copy(ci="github")
    subprocess.run([UV, "lock", "--quiet"], cwd=project.path, check=True)
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            '    "flask>=3.1,<3.2",\n', '    "flask>=3.1,<3.2",\n    "markupsafe>=2.1",\n'
        )
    )
    workflow = yaml.safe_load((project.path / PIPELINES["github"][0]).read_text())
    install = next(line for line in commands(workflow, "github") if line.startswith("uv sync"))
    result = subprocess.run(
        [UV, *install.split()[1:]], cwd=project.path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr
    assert "uv lock" in result.stderr
