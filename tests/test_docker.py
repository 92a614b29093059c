"""Docker files, validated without a Docker engine (none runs on these machines):
compose.yaml against the Compose specification, the Dockerfile's structure, every
file it copies present and inside the build context, and the exact command the
image runs, run locally in a folder laid out like the image's /app."""

import fnmatch
import json
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import PostgresServer, Project, fetch, free_port, serving

DATABASES = ["sqlite", "postgresql"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(text.split(" ", 1)[0].upper(), text.split(" ", 1)[1]) for text in logical]


def stages(dockerfile: Path) -> dict[str, list[tuple[str, str]]]:
    """The instructions of each build stage, by stage name."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, arguments in instructions(dockerfile):
        if instruction == "FROM":
            current = result.setdefault(arguments.split(" AS ")[-1], [])
        current.append((instruction, arguments))
    return result


def copied_from_context(stage: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(source, destination) of the stage's COPY instructions that read the context."""
    copies = []
    for instruction, arguments in stage:
        if instruction == "COPY" and not arguments.startswith("--from"):
            *sources, destination = shlex.split(arguments)
            copies += [(source, destination) for source in sources]
    return copies


def ignored(path: str, dockerignore: Path) -> bool:
    """Whether Docker leaves `path` out of the build context (last matching rule wins)."""
    verdict = False
    for rule in dockerignore.read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        keep = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        candidates = [path] + [
            str(Path(*Path(path).parts[:n])) for n in range(1, len(Path(path).parts))
        ]
        if any(
            fnmatch.fnmatch(candidate, pattern)
            or (pattern.startswith("**/") and fnmatch.fnmatch(Path(candidate).name, pattern[3:]))
            for candidate in candidates
        ):
            verdict = not keep
    return verdict


@pytest.mark.parametrize("database", DATABASES)
def test_compose_file_matches_the_specification(
    copy: Callable[..., Project], database: str
) -> None:
    project = copy(database=database)
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_postgresql_with_a_named_volume_and_a_healthcheck(
    copy: Callable[..., Project],
) -> None:
    compose = yaml.safe_load((copy(database="postgresql").path / "compose.yaml").read_text())
    app, db = compose["services"]["app"], compose["services"]["db"]
    assert app["build"] == "."
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["environment"]["DATABASE_URL"] == (
        f"postgresql+psycopg://postgres:{db['environment']['POSTGRES_PASSWORD']}"
        f"@db:5432/{db['environment']['POSTGRES_DB']}"
    )
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume, mount = db["volumes"][0].split(":")
    assert (volume, mount) == ("db-data", "/var/lib/postgresql/data")
    assert volume in compose["volumes"]


def test_compose_keeps_sqlite_on_the_volume_the_image_declares(
    copy: Callable[..., Project],
) -> None:
    project = copy(database="sqlite")
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())
    volume, mount = compose["services"]["app"]["volumes"][0].split(":")
    assert volume in compose["volumes"]
    runtime = stages(project.path / "Dockerfile")["runtime"]
    assert ("VOLUME", mount) in runtime
    assert ("ENV", f"DATABASE_URL=sqlite:///{mount}/flask_service.sqlite") in runtime


@pytest.mark.parametrize("python_version", ["3.11", "3.14"])
def test_dockerfile_builds_in_two_stages_and_runs_unprivileged(
    copy: Callable[..., Project], python_version: str
) -> None:
    dockerfile = copy(python_version=python_version).path / "Dockerfile"
    assert instructions(dockerfile)[0] == ("ARG", f"PYTHON_VERSION={python_version}")
    built = stages(dockerfile)
    assert list(built) == ["build", "runtime"]
    for stage in built.values():
        assert stage[0][1].startswith("python:${PYTHON_VERSION}-slim AS ")
    build, runtime = built["build"], built["runtime"]
    # Dependencies install from pyproject.toml alone, before the code arrives.
    steps = [f"{instruction} {arguments}" for instruction, arguments in build]
    dependencies = next(i for i, step in enumerate(steps) if "--requirement" in step)
    assert steps[dependencies - 1] == "COPY pyproject.toml ./"
    assert dependencies < steps.index("COPY src ./src")
    assert ("COPY", "--from=build /venv /venv") in runtime
    users = [arguments for instruction, arguments in runtime if instruction == "USER"]
    assert users == ["app"]
    healthcheck = next(
        arguments for instruction, arguments in runtime if instruction == "HEALTHCHECK"
    )
    assert "/health" in healthcheck
    assert ("EXPOSE", "8000") in runtime


@pytest.mark.parametrize("database", DATABASES)
def test_every_copied_file_exists_in_the_build_context(
    copy: Callable[..., Project], database: str
) -> None:
    project = copy(database=database)
    dockerignore = project.path / ".dockerignore"
    for stage in stages(project.path / "Dockerfile").values():
        for source, _ in copied_from_context(stage):
            assert (project.path / source).exists(), source
            assert not ignored(source, dockerignore), f"{source} is outside the build context"
    for private in (".env", ".venv", ".git", "tests", ".flaskenv", "src/instance"):
        assert ignored(private, dockerignore), f"{private} would enter the image"


@pytest.fixture(params=DATABASES)
def image_like_app(
    request: pytest.FixtureRequest, copy: Callable[..., Project], tmp_path: Path
) -> tuple[Project, Path, dict[str, str]]:
    """An installed project, a folder holding what the image's /app holds, and the
    environment the image would run with."""
    project = copy(database=request.param).install()
    app = tmp_path / "app"
    app.mkdir()
    runtime = stages(project.path / "Dockerfile")["runtime"]
    for source, _ in copied_from_context(runtime):
        if (project.path / source).is_dir():
            shutil.copytree(project.path / source, app / source)
        else:
            shutil.copy2(project.path / source, app / source)
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        database = postgres.create_database()
    else:
        database = f"sqlite:///{tmp_path}/flask_service.sqlite"
    env = {
        "PATH": f"{project.path / '.venv' / 'bin'}:/usr/bin:/bin",
        "SECRET_KEY": "k" * 64,
        "DATABASE_URL": database,
        "PORT": str(free_port()),
    }
    return project, app, env


def test_the_command_the_image_runs_migrates_and_serves(
    image_like_app: tuple[Project, Path, dict[str, str]],
) -> None:
    project, app, env = image_like_app
    runtime = stages(project.path / "Dockerfile")["runtime"]
    command = json.loads(
        next(arguments for instruction, arguments in runtime if instruction == "CMD")
    )
    healthcheck = next(
        arguments for instruction, arguments in runtime if instruction == "HEALTHCHECK"
    )
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    with serving(command, app, env, int(env["PORT"])) as base:
        assert fetch(f"{base}/health")[0] == 200
        assert fetch(f"{base}/")[0] == 200
        check = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        current = subprocess.run(
            ["flask", "--app", project.package, "db", "current"],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
        )
    assert current.returncode == 0, current.stderr
    assert " (head)" in current.stdout + current.stderr


def test_no_docker_files_without_docker(copy: Callable[..., Project]) -> None:
    project = copy(docker=False)
    for name in ("Dockerfile", ".dockerignore", "compose.yaml"):
        assert not (project.path / name).exists()
    assert "## Docker" not in (project.path / "README.md").read_text()
