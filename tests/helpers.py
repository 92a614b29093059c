"""Plumbing shared by the template's tests: template snapshots, renders, installs."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import copier

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PARTS = ("copier.yml", "template", "hooks")
UV = shutil.which("uv") or "uv"


# The files a generated project's team owns: created once, never changed by a
# release (their template text stays as it is; test_releases.py holds it to that).
TEAM_FILES = (
    "src/{package}/features.py",
    "src/{package}/settings.py",
    "src/{package}/health/checks.py",
    "src/{package}/main/__init__.py",
    "src/{package}/main/routes.py",
    "src/{package}/templates/main/index.html",
    "src/{package}/templates/layout.html",
    "src/{package}/static/css/site.css",
    "tests/fixtures.py",
    "tests/test_main.py",
)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Template Tests",
            "-c",
            "user.email=tests@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def snapshot_template(destination: Path, edit: Callable[[Path], None] | None = None) -> Path:
    """Commit the working tree's template into a fresh git repository.

    Tests render from the snapshot, so they see uncommitted changes yet stay
    independent of this repository's state; ``edit`` may alter the snapshot
    first (to plant a failing test, say).
    """
    destination.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, destination / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / part)
    if edit is not None:
        edit(destination)
    git(destination, "init", "--quiet")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "Template snapshot")
    return destination


def render(
    template: Path,
    destination: Path,
    answers: Mapping[str, object] | None = None,
    *,
    skip_tasks: bool = True,
    vcs_ref: str = "HEAD",
) -> Path:
    copier.run_copy(
        str(template),
        destination,
        data=dict(answers or {}),
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref=vcs_ref,
        skip_tasks=skip_tasks,
    )
    return destination


def copy_command(
    template: Path, destination: Path, *extra: str, python: str = sys.executable
) -> list[str]:
    """`copier copy` as a user types it, with the default answers."""
    return [
        python,
        "-m",
        "copier",
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref=HEAD",
        *extra,
        str(template),
        str(destination),
    ]


def run_checked(
    command: list[str], *, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would; it must succeed."""
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=clean_environment(**env),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def copier_cli(
    *arguments: str, cwd: Path | None = None, python: str = sys.executable, **env: str
) -> subprocess.CompletedProcess[str]:
    """Copier's command line, as a user types it; it must succeed."""
    return run_checked([python, "-m", "copier", *arguments], cwd=cwd, **env)


def copier_venv(folder: Path, copier_version: str) -> str:
    """A virtual environment holding only the given Copier; returns its python."""
    subprocess.run([UV, "venv", "--quiet", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", python, f"copier=={copier_version}"],
        check=True,
        env=clean_environment(),
    )
    return python


# The smallest project the answers give (no accounts, no API), for tests of the
# tooling's own workings (the hook, the update check), which do not depend on
# what the project holds: its suite runs in about a third of the default's time.
SMALLEST = {"auth": False, "api": False}


def clean_environment(**overrides: str) -> dict[str, str]:
    """The environment for a generated project's commands.

    Without this venv or pytest's variables; and with bytecode written, as on
    most machines, so each project compiles its imports once, not per command.
    """
    hidden = {"VIRTUAL_ENV", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE"}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    env.update(overrides)
    return env


# Folders a project's tools and runs fill, which no template generates.
NOT_GENERATED = {
    ".venv",
    ".git",
    "__pycache__",
    "instance",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}


@dataclass
class Project:
    """A rendered project, with helpers to install it and run its tools."""

    path: Path

    @property
    def package(self) -> str:
        return next(child.name for child in (self.path / "src").iterdir() if child.is_dir())

    def bin(self, tool: str) -> str:
        return str(self.path / ".venv" / "bin" / tool)

    @property
    def site_packages(self) -> Path:
        """Where the project's .venv installs packages."""
        [found] = (self.path / ".venv" / "lib").glob("python*/site-packages")
        return found

    def install(self, *extra: str) -> Project:
        if not (self.path / ".venv").exists():
            subprocess.run([UV, "venv", "--quiet", ".venv"], cwd=self.path, check=True)
        subprocess.run(
            [
                UV,
                "pip",
                "install",
                "--quiet",
                "--python",
                self.bin("python"),
                *extra,
                "-e",
                ".[dev]",
            ],
            cwd=self.path,
            check=True,
            env=clean_environment(),
        )
        return self

    def run(
        self, *command: str, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a tool of the project's venv (``command[0]``) in the project."""
        result = subprocess.run(
            [self.bin(command[0]), *command[1:]],
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=600,
            env=clean_environment(**(env or {})),
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode} in {self.path}\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def pytest(
        self, *options: str, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's own test suite, quietly, as its hook does."""
        return self.run(
            "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *options,
            env=env,
            check=check,
        )

    def text_files(self) -> dict[Path, str]:
        """The project's own files; uv.lock is left out: the hook writes it from
        what the package index serves that day, not from the template."""
        files = {}
        for path in sorted(self.path.rglob("*")):
            parts = path.relative_to(self.path).parts
            if parts == ("uv.lock",):
                continue
            if path.is_file() and not NOT_GENERATED & set(parts):
                files[path.relative_to(self.path)] = path.read_text(encoding="utf-8")
        return files


def newest_revision(versions: Path) -> str:
    """The revision of the newest numbered migration in a versions folder, the
    template's ("0001", "0002"...), rendered or not."""
    found = [
        re.search(r'^revision = "(\d+)"', path.read_text(), re.MULTILINE)
        for path in versions.iterdir()
        if path.is_file()
    ]
    return max(match.group(1) for match in found if match)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> tuple[int, str, str]:
    """GET a URL: status, Content-Type and body, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def log_of(log: IO[str]) -> str:
    log.seek(0)
    return log.read()


def wait_until_serving(
    process: subprocess.Popen[str], log: IO[str], url: str, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}:\n{log_of(log)}")
        try:
            fetch(url)
            return
        except OSError as error:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout} s") from error
            time.sleep(0.1)


def stop(process: subprocess.Popen[str], log: IO[str]) -> None:
    """SIGTERM a server and wait: it must exit cleanly."""
    process.send_signal(signal.SIGTERM)
    try:
        exit_code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert exit_code == 0, f"server exited {exit_code} on SIGTERM:\n{log_of(log)}"


@contextmanager
def server_process(
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    port: int,
    log: IO[str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run a server until the block ends; yields its base URL and process.

    Its output goes to a file, not a pipe: a pipe nobody reads fills up under
    load and blocks the server's logging, and so the server. Pass ``log`` (a
    file open for reading and writing) to read the output afterwards.
    """
    with tempfile.TemporaryFile("w+") if log is None else nullcontext(log) as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=clean_environment(**env),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(process, output, f"{base}/health")
            yield base, process
        finally:
            if process.poll() is None:
                stop(process, output)


@contextmanager
def serving(command: list[str], cwd: Path, env: Mapping[str, str], port: int) -> Iterator[str]:
    """Run a server command until the block ends; yields its base URL."""
    with server_process(command, cwd, env, port) as (base, _):
        yield base


def gunicorn_command(project: Project, port: int, workers: int = 2) -> list[str]:
    return [
        project.bin("gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        f"{project.package}:create_app()",
    ]


def gunicorn(project: Project, env: Mapping[str, str]) -> AbstractContextManager[str]:
    """The project's production config under gunicorn, as its README runs it."""
    port = free_port()
    return serving(gunicorn_command(project, port), project.path, env, port)


def site_config(
    project: Project,
    nginx_port: int,
    app_ports: int | Sequence[int],
    certificate: tuple[Path, Path] | None = None,
    redirect_port: int | None = None,
) -> str:
    """The shipped file, pointed at this test's ports (one upstream server line per
    app instance, as its comment says) and checkout, over HTTPS with
    ``certificate`` (its certificate and key files) as its comment says, the
    plain-HTTP server it then has uncommented, on ``redirect_port``; nothing
    else changes."""
    text = (project.path / "deploy" / "nginx.conf").read_text()
    ports = [app_ports] if isinstance(app_ports, int) else list(app_ports)
    shipped = re.search(r"^    server 127\.0\.0\.1:8000 .*;$", text, re.MULTILINE)
    assert shipped, "deploy/nginx.conf has no upstream server line for 127.0.0.1:8000"
    line = shipped.group(0)
    servers = "\n".join(line.replace(":8000 ", f":{port} ") for port in ports)
    listen = f"listen 127.0.0.1:{nginx_port};"
    if certificate is not None:
        listen = (
            f"listen 127.0.0.1:{nginx_port} ssl;\n"
            f"    ssl_certificate {certificate[0]};\n"
            f"    ssl_certificate_key {certificate[1]};"
        )
    replacements = {
        "\n    listen 80;\n": f"\n    {listen}\n",
        line: servers,
        "/srv/flask-service/src/": f"{project.path}/src/",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    if certificate is not None:
        redirect = re.search(r"^#server \{\n(#.*\n)*?#\}\n", text, re.MULTILINE)
        assert redirect, "deploy/nginx.conf has no commented server for plain HTTP"
        server = re.sub(r"^#", "", redirect.group(0), flags=re.MULTILINE)
        assert server.count("listen 80;") == 1, server
        server = server.replace("listen 80;", f"listen 127.0.0.1:{redirect_port or free_port()};")
        text = text.replace(redirect.group(0), server)
    return text


@contextmanager
def nginx(
    project: Project,
    folder: Path,
    app_ports: int | Sequence[int],
    certificate: tuple[Path, Path] | None = None,
    redirect_port: int | None = None,
) -> Iterator[int]:
    """Debian's nginx serving deploy/nginx.conf on a loopback port, in front of the
    app on ``app_ports`` (over HTTPS with ``certificate``, its certificate and key
    files, plain HTTP then redirecting on ``redirect_port``); yields nginx's port."""
    port = free_port()
    folder.mkdir()
    (folder / "site.conf").write_text(
        site_config(project, port, app_ports, certificate, redirect_port)
    )
    # What /etc/nginx/nginx.conf gives a conf.d file, with this test's own folders;
    # workers run as root to read the static files under pytest's private tmp folder.
    (folder / "nginx.conf").write_text(
        f"""\
user root;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
"""
    )
    nginx_binary = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run(
        [nginx_binary, "-t", "-c", str(folder / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [nginx_binary, "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (folder / "error.log").read_text()
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def find_postgres_bin() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3])
    )
    if not versions:
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install postgresql` (CI does this)"
        )
    return versions[-1].parent


class PostgresServer:
    """A throwaway PostgreSQL server: initdb into a temporary folder, loopback port."""

    def __init__(self) -> None:
        self.bin = find_postgres_bin()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data = self.folder / "data"
        # PostgreSQL refuses to run as root; the Debian package's user can.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        self.databases = 0

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
            )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "--pgdata",
            str(self.data),
            "--log",
            str(self.folder / "server.log"),
            "--options",
            options,
            "--wait",
            "start",
        )
        return self

    def running(self) -> bool:
        status = subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "--pgdata", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def stop(self) -> None:
        if self.running():
            self._run(
                str(self.bin / "pg_ctl"),
                "--pgdata",
                str(self.data),
                "--mode",
                "fast",
                "--wait",
                "stop",
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        self.databases += 1
        name = f"db{self.databases}"
        subprocess.run(
            [
                str(self.bin / "createdb"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--username",
                "postgres",
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# Release histories: real git repositories of the template with tagged versions,
# built in temporary folders so tests never depend on this clone's own tags.

RELEASES = ROOT / "releases.toml"
RELEASE_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def version_key(version: str) -> tuple[int, ...]:
    assert RELEASE_VERSION.match(version), f"{version} is not a release version X.Y.Z"
    return tuple(int(part) for part in version.split("."))


def releases() -> dict[str, str]:
    """Every release, oldest first, and the commit of this repository it was tagged on."""
    recorded = tomllib.loads(RELEASES.read_text())
    return dict(sorted(recorded.items(), key=lambda item: version_key(item[0])))


def latest_release() -> str:
    return list(releases())[-1]


def development_version() -> str:
    """The version the working tree is: released already, or in development
    (pyproject.toml's version, set when work on a release starts)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def previous_release() -> str:
    """The newest release before the working tree's version: where updates start."""
    older = [v for v in releases() if version_key(v) < version_key(development_version())]
    assert older, f"no release before {development_version()} in releases.toml"
    return older[-1]


def next_version(version: str) -> str:
    major, minor, patch = version_key(version)
    return f"{major}.{minor}.{patch + 1}"


def copy_template_parts(source: Path, destination: Path) -> None:
    """Replace the template parts in ``destination`` with those in ``source``."""
    for part in TEMPLATE_PARTS:
        target = destination / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if (source / part).is_dir():
            shutil.copytree(source / part, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif (source / part).exists():
            shutil.copy2(source / part, target)


def export_release(version: str, destination: Path) -> Path:
    """The template parts as released in ``version``, read from this repository's history."""
    commit = releases()[version]
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise RuntimeError(
            f"release {version} is commit {commit} (releases.toml), which this clone lacks: "
            f"{archive.stderr.decode().strip()}. Shallow clones need `git fetch --unshallow`."
        )
    destination.mkdir(parents=True)
    # Python 3.11.4 and later can refuse archive members that escape the folder.
    safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        parts = [
            member for member in tar.getmembers() if member.name.split("/")[0] in TEMPLATE_PARTS
        ]
        tar.extractall(destination, members=parts, **safety)
    return destination


@dataclass
class TemplateRepo:
    """A template's own git repository, in which tests make and tag releases."""

    path: Path

    @classmethod
    def create(cls, path: Path, parts_from: Path = ROOT) -> TemplateRepo:
        """A repository holding the template parts of ``parts_from``, not yet committed."""
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "--quiet")
        copy_template_parts(parts_from, path)
        return cls(path)

    def release(self, version: str) -> str:
        """Commit whatever changed and tag it ``v<version>``; return the tag."""
        git(self.path, "add", "--all")
        # A commit of its own even when nothing changed (the working tree just
        # after a release), so the tag names a newer commit than the last.
        git(self.path, "commit", "--quiet", "--allow-empty", "--message", f"Release {version}")
        tag = f"v{version}"
        git(self.path, "tag", tag)
        return tag

    def replace(self, relative: str, old: str, new: str) -> None:
        """Edit a template file; ``old`` must occur in it exactly once."""
        path = self.path / relative
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {relative}"
        path.write_text(text.replace(old, new))


def release_history(
    destination: Path, versions: Sequence[str] | None = None
) -> tuple[TemplateRepo, str, str]:
    """Releases (by default the previous one), oldest first, each from its commit in
    releases.toml, then the working tree as the release it is.

    Returns the repository, the last released tag, and the working tree's tag.
    """
    repo, tag = None, ""
    for version in versions or [previous_release()]:
        exported = export_release(version, destination.parent / f"{destination.name}-{version}")
        if repo is None:
            repo = TemplateRepo.create(destination, parts_from=exported)
        else:
            copy_template_parts(exported, destination)
        tag = repo.release(version)
    assert repo is not None
    copy_template_parts(ROOT, destination)
    return repo, tag, repo.release(development_version())


def generate(
    template: Path,
    destination: Path,
    answers: Mapping[str, object] | None = None,
    *,
    vcs_ref: str = "HEAD",
) -> Project:
    """A project as the hook leaves it, minus .venv: rendered, locked and committed."""
    render(template, destination, answers, vcs_ref=vcs_ref)
    subprocess.run([UV, "lock", "--quiet"], cwd=destination, check=True)
    commit_all(destination, "Generate project from the Flask service template")
    return Project(destination)


def commit_all(project: Path, message: str) -> None:
    if not (project / ".git").exists():
        git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", message)


def update(project: Project, *, skip_tasks: bool = True, **options: object) -> None:
    """`copier update` of the project, as a user runs it (``--trust --defaults``)."""
    copier.run_update(
        project.path,
        defaults=True,
        overwrite=True,
        unsafe=True,
        quiet=True,
        skip_tasks=skip_tasks,
        **options,
    )


def change_answers(project: Project, *options: str, **answers: object) -> str:
    """`copier update --vcs-ref=:current:` with new answers, as the README says;
    returns its output. Copier reads a str answer as typed, and a bool from YAML."""
    data = [
        f"--data={key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in answers.items()
    ]
    result = copier_cli(
        "update", "--trust", "--defaults", "--vcs-ref=:current:", *options, *data, cwd=project.path
    )
    return result.stdout + result.stderr


CONFLICT_LINE = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


def conflicts(project: Project) -> list[str]:
    """Files with conflict markers, and .rej files, anywhere in the project."""
    found = []
    for path, text in project.text_files().items():
        if path.suffix == ".rej" or CONFLICT_LINE.search(text):
            found.append(str(path))
    return found


def empty_folders(project: Project) -> list[str]:
    """Folders left empty, as an update that removes a package could leave them."""
    return sorted(
        str(path.relative_to(project.path))
        for path in project.path.rglob("*")
        if path.is_dir() and ".git" not in path.parts and not any(path.iterdir())
    )


def assert_green(project: Project) -> None:
    """Install the project into its .venv and pass ruff and its own test suite."""
    project.install()
    project.run("ruff", "check", ".")
    project.run("ruff", "format", "--check", ".")
    result = project.pytest()
    assert " passed" in result.stdout, result.stdout


class RedisServer:
    """A throwaway Redis (Debian's redis-server) on a loopback port, which tests
    may stop and start again on the same port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(self.binary).exists():
            raise RuntimeError(
                "redis-server is not installed: `apt-get install redis-server` (CI does this)"
            )
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.folder),
                # Queued jobs survive a restart, as with compose's appendonly Redis.
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.folder / "redis.log"),
            ]
        )
        deadline = time.monotonic() + 20
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.folder / "redis.log"
                raise AssertionError(f"redis-server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *words: str) -> bytes:
        """One command over RESP; returns the raw reply."""
        message = f"*{len(words)}\r\n" + "".join(
            f"${len(word.encode())}\r\n{word}\r\n" for word in words
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(message.encode())
            return connection.recv(65536)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
