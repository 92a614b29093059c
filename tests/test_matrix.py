"""Every combination of database x auth x api, and with Celery jobs a set that
covers every pair of those answers, renders, installs, passes ruff, mypy, its own
tests (on a real PostgreSQL server where chosen) and `flask db check`, and serves
under gunicorn.

A failure names the combination in the test id, for example
`test_own_suite[postgresql-noauth-api]`, and its message gives the `copier copy`
command that renders the same project.
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, Project, fetch, gunicorn, render

DATABASES = list(yaml.safe_load((ROOT / "copier.yml").read_text())["database"]["choices"].values())
COMBINATIONS = [
    {"database": database, "auth": auth, "api": api}
    for database, auth, api in itertools.product(DATABASES, [True, False], [True, False])
] + [
    # Jobs with each database, with and without accounts and the API (whose
    # exports are the sample job); test_scale_out.py serves postgresql-auth-api.
    {"database": "postgresql", "auth": True, "api": True, "jobs": "celery"},
    {"database": "sqlite", "auth": False, "api": True, "jobs": "celery"},
    {"database": "sqlite", "auth": True, "api": False, "jobs": "celery"},
    {"database": "postgresql", "auth": False, "api": False, "jobs": "celery"},
]


def combination_id(answers: dict) -> str:
    auth = "auth" if answers["auth"] else "noauth"
    api = "api" if answers["api"] else "noapi"
    jobs = f"-{answers['jobs']}" if answers.get("jobs", "none") != "none" else ""
    return f"{answers['database']}-{auth}-{api}{jobs}"


@dataclass
class Variant:
    answers: dict
    project: Project
    # Extra environment for the project's commands: which databases to use.
    test_env: dict[str, str] = field(default_factory=dict)
    app_env: dict[str, str] = field(default_factory=dict)

    @property
    def reproduce(self) -> str:
        data = " ".join(f"--data {key}={str(value).lower()}" for key, value in self.answers.items())
        return f'reproduce: copier copy --trust --defaults --vcs-ref=HEAD {data} "$PWD" ../svc'


@pytest.fixture(scope="session")
def installed() -> dict[str, Variant]:
    """Variants installed so far in this session, by combination id."""
    return {}


@pytest.fixture(
    params=[
        pytest.param(
            answers,
            id=combination_id(answers),
            marks=pytest.mark.xdist_group(combination_id(answers)),
        )
        for answers in COMBINATIONS
    ],
)
def variant(
    request: pytest.FixtureRequest,
    installed: dict[str, Variant],
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Variant:
    """The combination rendered and installed, once per session: the xdist group
    keeps a combination's tests on one worker, in whatever order they come."""
    answers = request.param
    key = combination_id(answers)
    if key not in installed:
        destination = tmp_path_factory.mktemp(key) / "svc"
        project = Project(render(template, destination, answers)).install()
        if answers["database"] == "postgresql":
            server = request.getfixturevalue("postgres")
            installed[key] = Variant(
                answers,
                project,
                test_env={"TEST_DATABASE_URL": server.create_database()},
                app_env={"DATABASE_URL": server.create_database()},
            )
        else:
            database = f"sqlite:///{destination}/app.db"
            installed[key] = Variant(answers, project, app_env={"DATABASE_URL": database})
        if answers.get("jobs") == "celery":
            # Production will not start without a broker.
            installed[key].app_env["REDIS_URL"] = request.getfixturevalue("redis").url
    return installed[key]


def test_ruff(variant: Variant) -> None:
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = variant.project.run(*command, check=False)
        assert result.returncode == 0, f"{variant.reproduce}\n{result.stdout}{result.stderr}"


def test_mypy(variant: Variant) -> None:
    result = variant.project.run("mypy", check=False)
    assert result.returncode == 0, f"{variant.reproduce}\n{result.stdout}"


def test_own_suite(variant: Variant) -> None:
    result = variant.project.pytest("--cov", env=variant.test_env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{variant.reproduce}\n{output}"
    assert "Required test coverage of 95.0% reached" in output
    expected = "database: postgresql+psycopg" if variant.test_env else "database: in-memory SQLite"
    assert expected in output, output


def test_migrations_match_the_models(variant: Variant) -> None:
    for command in (["flask", "db", "upgrade"], ["flask", "db", "check"]):
        result = variant.project.run(*command, env=variant.app_env, check=False)
        assert result.returncode == 0, f"{variant.reproduce}\n{result.stdout}{result.stderr}"
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_gunicorn_serves_it(variant: Variant) -> None:
    env = {"SECRET_KEY": "s" * 64, **variant.app_env}
    with gunicorn(variant.project, env) as base:
        status, content_type, body = fetch(f"{base}/health")
        assert (status, content_type, body.strip()) == (
            200,
            "application/json",
            '{"status":"ok"}',
        ), variant.reproduce
        status, content_type, body = fetch(f"{base}/")
        assert (status, content_type) == (200, "text/html; charset=utf-8"), variant.reproduce
        assert "<title>Home · Flask Service</title>" in body
