"""Every combination of database x auth x api, and with Celery jobs a set that
covers every pair of those answers, renders, installs, passes ruff, mypy, its own
tests (on a real PostgreSQL server where chosen) and `flask db check`, and serves
under gunicorn.

A failure names the combination in the test id, for example
`test_own_suite[postgresql-noauth-api]`, and its message gives the `copier copy`
command that renders the same project.
"""

import importlib.resources
import itertools
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, Project, clean_environment, fetch, gunicorn, render

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


API_COMBINATIONS = [answers for answers in COMBINATIONS if answers["api"]]
# Bounded so that the four API combinations add well under a minute each.
SCHEMATHESIS_EXAMPLES = 20
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


def api_credentials(variant: Variant, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The production environment and a read-write bearer token for the API:
    a personal access token from `flask auth create-token`, or without
    accounts the API_WRITE_TOKEN setting."""
    if not variant.answers["auth"]:
        token = "w" * 43
        return {**env, "API_WRITE_TOKEN": token}, token
    project = variant.project
    project.run("flask", "db", "upgrade", env=env)
    project.run("flask", "auth", "create-user", "machine", "--password", "m" * 12, env=env)
    output = project.run("flask", "auth", "create-token", "machine", env=env).stdout
    # The fuzzer writes hundreds of times a minute as one user, past the
    # default API_WRITE_LIMIT: its 429s would leave the writes untested
    # (test_hardening.py tests the limit).
    return {**env, "API_WRITE_LIMIT": "100000 per minute"}, output.strip().splitlines()[-1]


# The combinations with the API, each on the worker that installed it.
on_every_api_combination = pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            answers,
            id=combination_id(answers),
            marks=pytest.mark.xdist_group(combination_id(answers)),
        )
        for answers in API_COMBINATIONS
    ],
    indirect=True,
)


@on_every_api_combination
def test_schemathesis_finds_nothing_against_the_live_api(variant: Variant) -> None:
    """Schemathesis, from the published document, with a token, against
    gunicorn: no server error, no response the document does not describe
    (status, content type, headers, body), writes refused without the token."""
    env = {"APP_ENV": "production", "SECRET_KEY": "s" * 64, **variant.app_env}
    variant.project.run("flask", "db", "upgrade", env=env)
    env, token = api_credentials(variant, env)
    with gunicorn(variant.project, env) as base:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(SCHEMATHESIS_CONFIG),
                "run",
                f"{base}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--max-examples",
                str(SCHEMATHESIS_EXAMPLES),
                "--no-color",
                *schemathesis_warnings(variant),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            # Schemathesis keeps a cache in its working folder: the project's, not this repository.
            cwd=variant.project.path,
        )
        # Hostile input the generators rarely reach, sent through the real server.
        hostile = hostile_requests(base, token)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{variant.reproduce}\n{output}"
    assert re.search(r"(\d+) generated, \1 passed", output), output
    assert "No issues found" in output, output
    assert hostile == {}, f"{variant.reproduce}\n{hostile}"


def readme_curl_session(project: Project) -> str:
    """The bash block that follows "A session with curl" in the generated README."""
    readme = (project.path / "README.md").read_text()
    found = re.search(r"A session with curl.*?```bash\n(.*?)```", readme, re.DOTALL)
    assert found, "the README's curl session"
    return found.group(1)


def schemathesis_warnings(variant: Variant) -> list[str]:
    """Every warning, but with jobs the one about missing test data: no worker runs
    here, so an export never succeeds and its download is always 404."""
    if variant.answers.get("jobs") != "celery":
        return []
    loader = importlib.resources.files("schemathesis") / "config" / "schema.json"
    names = json.loads(loader.read_text())["$defs"]["WarningName"]["enum"]
    return ["--warnings", ",".join(name for name in names if name != "missing_test_data")]


def json_values(text: str) -> list[object]:
    """The JSON values printed one after another (curl adds no separator)."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while position < len(text.rstrip()):
        while text[position].isspace():
            position += 1
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


@on_every_api_combination
def test_the_readmes_curl_session_works_against_gunicorn(
    variant: Variant, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The generated README's curl session, run as written (but for the port) with
    curl and `flask` against the service under gunicorn on a new database: a
    token, then create, list, update and delete an item."""
    project = variant.project
    if variant.answers["database"] == "postgresql":
        database = request.getfixturevalue("postgres").create_database()
    else:
        database = f"sqlite:///{tmp_path}/curl.db"
    env = {"APP_ENV": "production", "SECRET_KEY": "s" * 64, "DATABASE_URL": database}
    if "REDIS_URL" in variant.app_env:
        env["REDIS_URL"] = variant.app_env["REDIS_URL"]
    if variant.answers["auth"]:
        project.run("flask", "db", "upgrade", env=env)
        project.run("flask", "auth", "create-user", "alice", "--password", "a" * 12, env=env)
    else:
        env["API_WRITE_TOKEN"] = "t" * 43
        project.run("flask", "db", "upgrade", env=env)
    session = readme_curl_session(project)
    assert "BASE=http://127.0.0.1:5000/api/v1\n" in session
    with gunicorn(project, env) as base:
        # The session, then a read of the deleted item with the same token.
        script = session.replace("http://127.0.0.1:5000", base) + (
            'curl -s -H "$AUTH" -o /dev/null -w "%{http_code}\\n" "$BASE/items/1"\n'
        )
        # The project's .venv first, as after `. .venv/bin/activate`.
        path = f"{project.path / '.venv' / 'bin'}:{os.environ['PATH']}"
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=project.path,
            env=clean_environment(**env, PATH=path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{variant.reproduce}\n{result.stdout}{result.stderr}"
        created, listed, updated, deleted, read_after = json_values(result.stdout)
    assert created == {
        "id": 1,
        "name": "Widget",
        "description": "Blue",
        "created_at": created["created_at"],
    }, result.stdout
    assert listed["items"] == [created], result.stdout
    assert updated == {**created, "description": "Green"}, result.stdout
    assert (deleted, read_after) == (204, 404), result.stdout


def hostile_requests(base: str, token: str) -> dict[str, int]:
    """Send each hostile request; return those answered with a 5xx or not as a
    problem document."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cases = {
        "id beyond 64 bits": ("GET", "/api/v1/items/" + "9" * 30, None),
        "id of 1000 digits": ("PATCH", "/api/v1/items/" + "9" * 1000, b"{}"),
        "page beyond 64 bits": ("GET", "/api/v1/items?page=" + "9" * 30, None),
        "deeply nested JSON": ("POST", "/api/v1/items", b"[" * 200_000 + b"]" * 200_000),
        "unpaired surrogate": ("POST", "/api/v1/items", b'{"name": "\\ud800"}'),
        "NUL byte": ("POST", "/api/v1/items", b'{"name": "a\\u0000b"}'),
        "wrong type": ("POST", "/api/v1/items", b'{"name": {"$gt": ""}}'),
        "malformed JSON": ("POST", "/api/v1/items", b'{"name": '),
        # gunicorn answers this one, as the document says, with its own page.
        "request line over 4 KiB": ("GET", "/api/v1/items?page=1" + "&page=1" * 700, None),
    }
    failures = {}
    for name, (method, path, body) in cases.items():
        request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, content_type = response.status, response.headers["Content-Type"]
        except urllib.error.HTTPError as error:
            status, content_type = error.code, error.headers["Content-Type"]
        expected_type = "text/html" if status == 414 else "application/problem+json"
        if status >= 500 or (status >= 400 and content_type != expected_type):
            failures[name] = status
    return failures
