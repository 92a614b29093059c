import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bytecode import compile_installed_packages, private_uv_cache
from helpers import (
    PostgresServer,
    Project,
    RedisServer,
    TemplateRepo,
    development_version,
    release_history,
    render,
    snapshot_template,
)

# Answers whose project depends on every package any answers' project does.
EVERY_DEPENDENCY = {"database": "postgresql", "auth": True, "api": True, "jobs": "celery"}
RUN_FOLDER = pytest.StashKey[Path]()
EVERY_DEPENDENCY_PROJECT = "FLASK_TEMPLATE_TESTS_EVERY_DEPENDENCY"


def pytest_configure(config: pytest.Config) -> None:
    """Once per run, before xdist starts its workers (which inherit the
    environment): give the run a uv cache of its own whose packages are
    compiled, so that no project compiles them again (bytecode.py)."""
    if hasattr(config, "workerinput") or config.option.help or config.option.collectonly:
        return
    folder = Path(tempfile.mkdtemp(prefix="flask-template-tests-"))
    config.stash[RUN_FOLDER] = folder
    cache = private_uv_cache(folder)
    os.environ["UV_CACHE_DIR"] = str(cache)
    template = snapshot_template(folder / "template")
    project = Project(render(template, folder / "every-dependency", EVERY_DEPENDENCY)).install()
    # The workers inherit it: test_validation.py reads the modules it installed.
    os.environ[EVERY_DEPENDENCY_PROJECT] = str(project.path)
    compile_installed_packages(cache, project.site_packages)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker more than there are CPUs: the tests spend about a sixth of
    their time waiting on servers, containers and the package index, which the
    extra worker fills."""
    return len(os.sched_getaffinity(0)) + 1


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(RUN_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def shared_mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One mypy cache for all the projects this worker checks, one at a time.

    mypy checks a module again when its source or anything it imports differs
    from what the cache holds, wherever the module lives; so each project after
    the first reuses what the others' dependencies cost (about 10 s of CPU per
    cold run). Runs here are one at a time: each xdist worker has its own.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MYPY_CACHE_DIR", str(tmp_path_factory.mktemp("mypy-cache")))
        yield


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as it is in the working tree, committed to a throwaway repo."""
    return snapshot_template(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> Callable[..., Project]:
    """Render the template (hook skipped unless asked for) into a new folder."""

    def copy(name: str = "project", *, skip_tasks: bool = True, **answers: object) -> Project:
        return Project(render(template, tmp_path / name, answers, skip_tasks=skip_tasks))

    return copy


@pytest.fixture(scope="session")
def every_dependency_project() -> Project:
    """The project with every package any answers' project depends on, installed
    with its dev dependencies once per run (``pytest_configure``)."""
    return Project(Path(os.environ[EVERY_DEPENDENCY_PROJECT]))


@pytest.fixture(scope="session")
def default_project(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The project the default answers produce, installed with its dev dependencies."""
    destination = tmp_path_factory.mktemp("default") / "flask-service"
    return Project(render(template, destination)).install()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test session (one per xdist worker)."""
    server = PostgresServer().start()
    yield server
    server.stop()
    server.remove()


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """A real Redis server for this test session (one per xdist worker)."""
    server = RedisServer().start()
    yield server
    server.stop()
    server.remove()


@pytest.fixture
def template_repo(tmp_path: Path) -> tuple[TemplateRepo, str]:
    """The working tree's template in its own repository, tagged as the release in
    development; tests change it and tag newer releases."""
    repo = TemplateRepo.create(tmp_path / "template-repo")
    return repo, repo.release(development_version())


@pytest.fixture(scope="session")
def releases_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemplateRepo, str, str]:
    """The latest release, then the working tree as the next release, and both tags.
    Shared: tests must not change it."""
    return release_history(tmp_path_factory.mktemp("releases") / "template-repo")


@pytest.fixture(scope="session")
def first_release_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemplateRepo, str, str]:
    """Release 0.1.0, then the working tree, and both tags. Shared: tests must not
    change it."""
    return release_history(tmp_path_factory.mktemp("first") / "template-repo", ["0.1.0"])


@pytest.fixture(scope="session")
def unowned_items_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemplateRepo, str, str]:
    """Release 0.4.0, the last whose items had no owner (0.5.0's migration 0002
    gives them one), then the working tree, and both tags. Shared: tests must not
    change it."""
    return release_history(tmp_path_factory.mktemp("unowned") / "template-repo", ["0.4.0"])


@pytest.fixture
def production(default_project: Project, tmp_path: Path) -> dict[str, str]:
    """The default project's production settings, with a freshly migrated
    database, as a deploy leaves them."""
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": "p" * 64,
        "DATABASE_URL": f"sqlite:///{tmp_path}/production.sqlite",
    }
    default_project.run("flask", "db", "upgrade", env=env)
    return env
