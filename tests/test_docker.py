"""Docker files, validated without a Docker engine (none runs on these machines):
compose.yaml against the Compose specification, the Dockerfile's structure, every
file it copies present and inside the build context, and the exact command the
image runs, run locally in a folder laid out like the image's /app."""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import PostgresServer, Project, fetch, free_port, newest_revision, serving

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


@pytest.mark.parametrize("jobs", ["none", "celery"])
@pytest.mark.parametrize("database", DATABASES)
def test_compose_file_matches_the_specification(
    copy: Callable[..., Project], database: str, jobs: str
) -> None:
    project = copy(database=database, jobs=jobs)
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
    services = compose["services"]
    migrate, app, db = services["migrate"], services["app"], services["db"]
    assert app["build"] == migrate["build"] == "."
    assert app["image"] == migrate["image"]
    # The release step waits for the database; the app waits for the release step.
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert migrate["command"] == ["flask", "db", "upgrade"]
    assert app["environment"] == migrate["environment"]
    assert app["environment"]["DATABASE_URL"] == (
        f"postgresql+psycopg://postgres:{db['environment']['POSTGRES_PASSWORD']}"
        f"@db:5432/{db['environment']['POSTGRES_DB']}"
    )
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    # The superuser's password is in this file: its port is this machine's alone.
    assert db["ports"] == ["127.0.0.1:5432:5432"]
    assert "ports" not in services.get("redis", {})
    volume, mount = db["volumes"][0].split(":")
    assert (volume, mount) == ("db-data", "/var/lib/postgresql/data")
    assert volume in compose["volumes"]


@pytest.mark.parametrize("database", DATABASES)
def test_compose_puts_the_vm_nginx_file_in_front_of_the_app(
    copy: Callable[..., Project], database: str
) -> None:
    project = copy(database=database)
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())
    app, proxy = compose["services"]["app"], compose["services"]["proxy"]
    assert app["environment"]["PROXY_COUNT"] == "1"
    assert app["ports"] == ["8000:80"]  # nginx's port; gunicorn's stays private
    assert proxy["network_mode"] == "service:app"
    mounts = dict(volume.removesuffix(":ro").split(":") for volume in proxy["volumes"])
    assert mounts["./deploy/nginx.conf"] == "/etc/nginx/conf.d/default.conf"
    nginx = (project.path / "deploy" / "nginx.conf").read_text()
    static = re.search(r"alias (\S+);", nginx).group(1)
    assert mounts["./src/flask_service/static"] == static.rstrip("/")
    assert "server 127.0.0.1:8000 " in nginx


@pytest.mark.parametrize("database", DATABASES)
def test_compose_runs_a_worker_and_redis_for_jobs(
    copy: Callable[..., Project], database: str
) -> None:
    project = copy(database=database, jobs="celery")
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())
    services = compose["services"]
    app, worker, redis = services["app"], services["worker"], services["redis"]
    # The worker is the app's image with the README's command, and its settings.
    assert worker["image"] == app["image"]
    assert worker["environment"] == app["environment"]
    assert worker.get("volumes") == app.get("volumes")
    assert worker["command"] == [
        "celery",
        "--app",
        "flask_service.worker",
        "worker",
        "--loglevel",
        "INFO",
    ]
    readme = (project.path / "README.md").read_text()
    assert "celery --app flask_service.worker worker --loglevel INFO" in readme
    # One Redis for everything, healthy before the app and worker start, whose
    # queued jobs survive a restart.
    assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    for service in (app, worker):
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert redis["image"].startswith("redis:")
    assert "--appendonly" in redis["command"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    volume, mount = redis["volumes"][0].split(":")
    assert (volume, mount) == ("redis-data", "/data")
    assert volume in compose["volumes"]
    # The image's HTTP check would fail for a worker: it answers Celery's ping.
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
    # On stop the worker finishes its jobs, each cut off at CELERY_TASK_TIME_LIMIT:
    # a grace period shorter than that let compose kill it mid-job, and Redis
    # gave the job to another worker only after the visibility_timeout.
    config = (project.path / "src/flask_service/config.py").read_text()
    limit = int(re.search(r"^    CELERY_TASK_TIME_LIMIT = (\d+)$", config, re.MULTILINE).group(1))
    grace = re.fullmatch(r"(\d+)s", worker["stop_grace_period"])
    assert grace, worker["stop_grace_period"]
    assert int(grace.group(1)) > limit
    # A worker that stops by itself is started again: the README names one way
    # (Celery 5.7.0 at a reconnection after a pool process died).
    assert worker["restart"] == "unless-stopped"


def test_compose_has_no_worker_or_redis_without_jobs(copy: Callable[..., Project]) -> None:
    compose = yaml.safe_load((copy().path / "compose.yaml").read_text())
    assert set(compose["services"]) == {"migrate", "app", "proxy"}
    assert "REDIS_URL" not in compose["x-app"]["environment"]


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
def test_dockerfile_builds_in_two_stages_from_the_lock_and_runs_unprivileged(
    copy: Callable[..., Project], python_version: str
) -> None:
    dockerfile = copy(python_version=python_version).path / "Dockerfile"
    built = stages(dockerfile)
    assert list(built) == ["build", "runtime"]
    for stage in built.values():
        # A literal tag, which Dependabot and Renovate can read and update.
        assert stage[0][1].startswith(f"python:{python_version}-slim AS ")
    build, runtime = built["build"], built["runtime"]
    # Dependencies install from the lock alone, before the code arrives.
    steps = [f"{instruction} {arguments}" for instruction, arguments in build]
    dependencies = steps.index("RUN uv sync --locked --no-dev --no-install-project")
    assert steps[dependencies - 1] == "COPY pyproject.toml uv.lock ./"
    assert dependencies < steps.index("COPY src ./src")
    assert steps[-1] == "RUN uv sync --locked --no-dev --no-editable"
    assert not [step for step in steps if "pip install" in step and "uv==" not in step]
    assert ("COPY", "--from=build /venv /venv") in runtime
    users = [arguments for instruction, arguments in runtime if instruction == "USER"]
    assert users == ["app"]
    healthcheck = next(
        arguments for instruction, arguments in runtime if instruction == "HEALTHCHECK"
    )
    assert "/health" in healthcheck
    assert ("EXPOSE", "8000") in runtime
    # Serving only: migrations are the release step (compose's migrate service).
    command = json.loads(
        next(arguments for instruction, arguments in runtime if instruction == "CMD")
    )
    assert command == ["gunicorn", "flask_service:create_app()"]


@pytest.mark.parametrize("database", DATABASES)
def test_every_copied_file_exists_in_the_build_context(
    copy: Callable[..., Project], database: str
) -> None:
    project = copy(database=database)
    dockerignore = project.path / ".dockerignore"
    for stage in stages(project.path / "Dockerfile").values():
        for source, _ in copied_from_context(stage):
            # The hook writes uv.lock and commits it (tests/test_hook.py).
            assert (project.path / source).exists() or source == "uv.lock", source
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


def test_the_release_step_and_command_of_the_image_migrate_and_serve(
    image_like_app: tuple[Project, Path, dict[str, str]],
) -> None:
    """What the image does, run here in a folder laid out like its /app: the
    release step compose runs (`flask db upgrade`), then the image's CMD."""
    project, app, env = image_like_app
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())
    release = compose["services"]["migrate"]["command"]
    runtime = stages(project.path / "Dockerfile")["runtime"]
    image_env = dict(
        pair.split("=", 1)
        for instruction, arguments in runtime
        if instruction == "ENV"
        for pair in shlex.split(arguments)
    )
    env = {**env, "FLASK_APP": image_env["FLASK_APP"]}
    migrated = subprocess.run(release, cwd=app, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
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
            ["flask", "db", "current"], cwd=app, env=env, capture_output=True, text=True
        )
    assert current.returncode == 0, current.stderr
    head = newest_revision(project.path / "migrations/versions")
    assert f"{head} (head)" in current.stdout + current.stderr


def test_no_docker_files_without_docker(copy: Callable[..., Project]) -> None:
    project = copy(docker=False)
    for name in ("Dockerfile", ".dockerignore", "compose.yaml"):
        assert not (project.path / name).exists()
    # A plain VM still gets its nginx file.
    assert (project.path / "deploy" / "nginx.conf").is_file()
    assert "## Docker" not in (project.path / "README.md").read_text()


def local_run_commands(readme: str) -> str:
    """The generated README's "Run it locally" block, then the `docker compose`
    commands its prose gives (Redis for jobs), as one shell script."""
    section = readme.split("## Run it locally", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "no bash block under Run it locally"
    prose = re.findall(r"`(docker compose [^`]+)`", section.replace(block.group(0), ""))
    return "set -e\n" + block.group(1) + "".join(f"{command}\n" for command in prose)


@pytest.mark.parametrize(
    "answers",
    [{"database": "postgresql"}, {"jobs": "celery"}],
    ids=["postgresql", "celery"],
)
def test_the_readme_s_local_run_starts_its_compose_services_as_written(
    copy: Callable[..., Project], tmp_path: Path, answers: dict[str, str]
) -> None:
    """Compose reads the whole file before starting any one service, and its
    `${SECRET_KEY:?...}` stopped `docker compose up --detach db` on a fresh
    checkout, before any `.env` (and .env.example's `SECRET_KEY=` is empty)."""
    project = copy(**answers)
    script = local_run_commands((project.path / "README.md").read_text())
    assert "docker compose up --detach" in script
    # Stand-ins: uv, flask and the venv do nothing; `docker compose` is
    # podman-compose's `config`, which reads .env and compose.yaml as Compose does.
    shims = tmp_path / "bin"
    shims.mkdir()
    podman_compose = Path(sys.executable).parent / "podman-compose"
    for name, body in {
        "uv": "exit 0",
        "flask": "exit 0",
        "python": f'exec {sys.executable} "$@"',
        "docker": f"exec {podman_compose} config --quiet",
    }.items():
        (shims / name).write_text(f"#!/bin/sh\n{body}\n")
        (shims / name).chmod(0o755)
    (project.path / ".venv/bin").mkdir(parents=True)
    (project.path / ".venv/bin/activate").write_text("")
    environment = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    environment["PATH"] = f"{shims}:/usr/bin:/bin"

    result = subprocess.run(
        ["bash", "-c", script], cwd=project.path, capture_output=True, text=True, env=environment
    )

    assert result.returncode == 0, script + result.stdout + result.stderr
