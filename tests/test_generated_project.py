"""The default project beyond what tests/test_matrix.py checks for every combination:
where its database lands, how it starts under gunicorn, the oldest dependencies its
ranges allow, and awkward answers end to end."""

import http.client
import subprocess
from collections.abc import Callable
from pathlib import Path

from helpers import PostgresServer, Project, clean_environment, fetch, free_port, gunicorn
from test_render import AWKWARD


def test_development_database_lands_in_the_instance_folder(default_project: Project) -> None:
    default_project.run("flask", "db", "upgrade")
    database = default_project.path / "src" / "instance" / "flask_service.sqlite"
    try:
        assert database.is_file()
    finally:
        database.unlink(missing_ok=True)


def test_gunicorn_reads_dotenv(default_project: Project) -> None:
    dotenv = default_project.path / ".env"
    dotenv.write_text("SECRET_KEY=" + "y" * 64 + "\n")
    try:
        with gunicorn(default_project, {}) as base:
            assert fetch(f"{base}/health")[0] == 200
    finally:
        dotenv.unlink()


def test_a_dotenv_not_in_utf8_under_the_flask_command_is_explained_in_the_readme(
    default_project: Project, tmp_path: Path
) -> None:
    """The `flask` command reads .env itself (Flask's load_dotenv), before any code
    of the project: a .env that is not UTF-8 gives a traceback there, where the
    app names the file in one line. The generated README says what its last
    line is, and this holds the README to Flask."""
    (tmp_path / ".env").write_bytes(b"SECRET_KEY=caf\xe9\n")
    result = subprocess.run(
        [default_project.bin("flask"), "--app", default_project.package, "db", "current"],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 in position 14:"
        " invalid continuation byte"
    )
    readme = " ".join((default_project.path / "README.md").read_text().split())
    assert f"whose last line is `{last}`: the same fix, save it as UTF-8." in readme
    # The app's own line, as the README quotes it.
    app = subprocess.run(
        [
            default_project.bin("python"),
            "-c",
            f"import {default_project.package} as app; app.create_app('production')",
        ],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = "is not valid UTF-8 (byte 14: invalid continuation byte): save it as UTF-8."
    assert f"{tmp_path / '.env'} {said}" in app.stderr
    assert f"... .env {said}" in readme


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
    result = project.pytest()
    assert " passed" in result.stdout
    # gunicorn.conf.py holds for the oldest gunicorn too: no Server header, and
    # a forwarded scheme from a client on this machine is not believed.
    assert project.run("gunicorn", "--version").stdout.split()[-1].startswith("23.")
    with gunicorn(project, {"SECRET_KEY": "o" * 64}) as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        connection.request("GET", "/", headers={"X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        response.read()
        connection.close()
    assert response.status == 200
    assert response.getheader("Server") is None
    assert response.getheader("Strict-Transport-Security") is None


def test_oldest_allowed_dependencies_pass_on_postgresql(
    copy: Callable[..., Project], postgres: PostgresServer
) -> None:
    project = copy(database="postgresql").install("--resolution", "lowest-direct")
    version = project.run("python", "-c", "import psycopg; print(psycopg.__version__)")
    assert version.stdout.startswith("3.2.")
    result = project.pytest(env={"TEST_DATABASE_URL": postgres.create_database()})
    assert "database: postgresql+psycopg" in result.stdout


def test_awkward_answers_pass_their_own_checks(copy: Callable[..., Project]) -> None:
    project = copy(**AWKWARD).install()
    result = project.pytest()
    assert " passed" in result.stdout
    project.run("mypy")
    with gunicorn(project, {"SECRET_KEY": "z" * 64}) as base:
        page = fetch(f"{base}/")[2]
    assert "O&#39;Brien&#39;s &#34;Quoted&#34; Café" in page
