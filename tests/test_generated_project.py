"""The default project, installed for real: its tests, type checks, migrations and
server all work."""

import json
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from helpers import Project, clean_environment
from test_render import AWKWARD


def test_own_suite_passes_with_branch_coverage(default_project: Project) -> None:
    result = default_project.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov")
    assert "Required test coverage of 95.0% reached" in result.stdout
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_type_checks_pass(default_project: Project) -> None:
    result = default_project.run("mypy")
    assert result.stdout.startswith("Success: no issues found")


TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"


def test_flask_cli_migrates_a_fresh_database(default_project: Project) -> None:
    """`flask db upgrade` from the README, through .flaskenv, as a developer runs it."""
    database = default_project.path / "migrated.sqlite"
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    try:
        default_project.run("flask", "db", "upgrade", env=env)
        with sqlite3.connect(database) as connection:
            tables = {row[0] for row in connection.execute(TABLES)}
        assert {"users", "items", "alembic_version"} <= tables
        check = default_project.run("flask", "db", "check", env=env)
        assert "No new upgrade operations detected" in check.stdout + check.stderr
        default_project.run("flask", "db", "downgrade", "base", env=env)
        with sqlite3.connect(database) as connection:
            tables = {row[0] for row in connection.execute(TABLES)}
        assert tables == {"alembic_version"}
    finally:
        database.unlink(missing_ok=True)


def test_development_database_lands_in_the_instance_folder(default_project: Project) -> None:
    default_project.run("flask", "db", "upgrade")
    instance = default_project.path / "src" / "instance"
    try:
        assert (instance / "flask_service.sqlite").is_file()
    finally:
        (instance / "flask_service.sqlite").unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@contextmanager
def gunicorn(project: Project, env: dict[str, str]) -> Iterator[str]:
    """Serve the project's production config on a loopback port; stop it after."""
    port = free_port()
    process = subprocess.Popen(
        [
            project.bin("gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            f"{project.package}:create_app()",
        ],
        cwd=project.path,
        env=clean_environment(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited {process.returncode}:\n{process.stdout.read()}")
            try:
                fetch(f"{base}/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not answer within 30 s")
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert exit_code == 0, process.stdout.read()


def test_gunicorn_serves_health_and_home_page(default_project: Project) -> None:
    with gunicorn(default_project, {"SECRET_KEY": "x" * 64}) as base:
        status, content_type, body = fetch(f"{base}/health")
        assert (status, content_type, json.loads(body)) == (
            200,
            "application/json",
            {"status": "ok"},
        )
        status, content_type, body = fetch(f"{base}/")
        assert (status, content_type) == (200, "text/html; charset=utf-8")
        assert "<title>Home · Flask Service</title>" in body
        status, _, body = fetch(f"{base}/no-such-page")
        assert status == 404
        assert "Not Found" in body


def test_gunicorn_reads_dotenv(default_project: Project) -> None:
    dotenv = default_project.path / ".env"
    dotenv.write_text("SECRET_KEY=" + "y" * 64 + "\n")
    try:
        with gunicorn(default_project, {}) as base:
            assert fetch(f"{base}/health")[0] == 200
    finally:
        dotenv.unlink()


def test_production_refuses_to_start_without_secret_key(default_project: Project) -> None:
    env = clean_environment()
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [
            default_project.bin("gunicorn"),
            "--bind",
            f"127.0.0.1:{free_port()}",
            f"{default_project.package}:create_app()",
        ],
        cwd=default_project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "secrets.token_hex()" in result.stderr


def test_oldest_allowed_dependencies_pass(copy: Callable[..., Project]) -> None:
    """The lower bounds in pyproject.toml are tested, not guessed."""
    project = copy().install("--resolution", "lowest-direct")
    versions = project.run(
        "python",
        "-c",
        "from importlib.metadata import version; print(version('flask'), version('sqlalchemy'))",
    )
    assert versions.stdout.split() == ["3.1.0", "2.0.16"]
    result = project.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in result.stdout


def test_awkward_answers_pass_their_own_checks(copy: Callable[..., Project]) -> None:
    project = copy(**AWKWARD).install()
    result = project.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in result.stdout
    project.run("mypy")
    with gunicorn(project, {"SECRET_KEY": "z" * 64}) as base:
        page = fetch(f"{base}/")[2]
    assert "O&#39;Brien&#39;s &#34;Quoted&#34; Café" in page
