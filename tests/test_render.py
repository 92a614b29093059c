"""What `copier copy` writes: the right files, valid formats, no template noise."""

import ast
import itertools
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import TEAM_FILES, Project

VARIANTS = [
    {"auth": auth, "api": api, "jobs": jobs}
    for auth, api, jobs in itertools.product([True, False], [True, False], ["none", "celery"])
]
VARIANT_IDS = [f"auth={v['auth']}-api={v['api']}-jobs={v['jobs']}" for v in VARIANTS]
# Copier's own syntax must never reach a generated file; Flask's templates use
# Jinja too, so "{{" alone is only residue outside them.
COPIER_RESIDUE = re.compile(r"{%-?\s*(end)?raw|_copier_|copier_conf|\.jinja\b")
AWKWARD = {
    "project_name": "O'Brien's \"Quoted\" Café — Ünïcode Service for Naïve Users",
    "description": 'Tracks "stock" levels; it\'s a $HOME {{ not jinja }} \\ backslash # hash',
    "author_name": 'José "Pepe" O\'Connor',
    "project_slug": "obriens-cafe",
    "package_name": "obriens_cafe",
}


def expected_files(package: str, *, auth: bool, api: bool, jobs: str = "none") -> set[str]:
    files = {
        ".copier-answers.yml",
        ".env.example",
        ".flaskenv",
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "gunicorn.conf.py",
        "Dockerfile",
        ".dockerignore",
        "compose.yaml",
        "deploy/nginx.conf",
        ".github/workflows/ci.yml",
        ".github/dependabot.yml",
        "migrations/README",
        "migrations/alembic.ini",
        "migrations/env.py",
        "migrations/script.py.mako",
        f"src/{package}/__init__.py",
        f"src/{package}/assets.py",
        f"src/{package}/config.py",
        f"src/{package}/errors.py",
        f"src/{package}/extensions.py",
        f"src/{package}/health/__init__.py",
        f"src/{package}/health/routes.py",
        f"src/{package}/logs.py",
        f"src/{package}/parsing.py",
        f"src/{package}/security.py",
        f"src/{package}/main/__init__.py",
        f"src/{package}/main/routes.py",
        f"src/{package}/static/css/app.css",
        f"src/{package}/static/favicon.svg",
        f"src/{package}/templates/base.html",
        f"src/{package}/templates/error.html",
        f"src/{package}/templates/main/index.html",
        f"src/{package}/templates/unavailable.html",
        "migrations/versions/0001_initial.py",
        "migrations/versions/0002_api_tokens_and_item_owners.py",
        "migrations/versions/0003_accounts_hardening.py",
        "migrations/versions/0004_exports.py",
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/test_assets.py",
        "tests/test_config.py",
        "tests/test_errors.py",
        "tests/test_factory.py",
        "tests/test_gunicorn.py",
        "tests/test_health.py",
        "tests/test_logs.py",
        "tests/test_main.py",
        "tests/test_migrations.py",
        "tests/test_parsing.py",
        "tests/run_caches.py",
        "tests/test_run_caches.py",
        "tests/test_security.py",
    }
    files |= {path.format(package=package) for path in TEAM_FILES}
    if auth or api:
        files |= {f"src/{package}/models.py"}
    if auth:
        files |= {
            f"src/{package}/auth/{name}"
            for name in (
                "__init__.py",
                "commands.py",
                "forms.py",
                "redirects.py",
                "redis_counts.py",
                "routes.py",
                "sessions.py",
                "throttle.py",
            )
        }
        files |= {f"src/{package}/passwords.py"}
        files |= {
            f"src/{package}/templates/{name}"
            for name in (
                "macros.html",
                "auth/_nav.html",
                "auth/account.html",
                "auth/login.html",
                "auth/register.html",
            )
        }
        files |= {
            "tests/test_auth.py",
            "tests/test_commands.py",
            "tests/test_sessions.py",
            "tests/test_throttle.py",
        }
    if api:
        files |= {
            f"src/{package}/api/{name}"
            for name in (
                "__init__.py",
                "authentication.py",
                "blueprint.py",
                "docs.py",
                "pagination.py",
                "problems.py",
                "routes.py",
                "schemas.py",
                "spec.py",
            )
        }
        files |= {
            f"src/{package}/static/js/api-docs.js",
            f"src/{package}/templates/api/docs.html",
            "tests/test_api.py",
            "tests/test_openapi.py",
        }
    if auth and api:
        files |= {
            f"src/{package}/auth/tokens.py",
            f"src/{package}/templates/auth/_tokens.html",
            f"src/{package}/templates/auth/token_created.html",
            "tests/test_tokens.py",
        }
    if jobs == "celery":
        files |= {
            f"src/{package}/jobs/__init__.py",
            f"src/{package}/worker.py",
            "tests/test_jobs.py",
        }
    if jobs == "celery" and api:
        files |= {
            f"src/{package}/jobs/exports.py",
            f"src/{package}/api/exports.py",
            "tests/test_exports.py",
        }
    return files


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_exactly_the_expected_files(copy: Callable[..., Project], variant: dict) -> None:
    project = copy(**variant)
    written = {str(path) for path in project.text_files()}
    assert written == expected_files("flask_service", **variant)


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_no_template_noise(copy: Callable[..., Project], variant: dict) -> None:
    project = copy(**variant)
    for path, text in project.text_files().items():
        if not text:  # tests/__init__.py
            continue
        where = f"{path} of {variant}"
        if path.name != ".copier-answers.yml":
            assert not COPIER_RESIDUE.search(text), where
        if path.suffix not in {".html", ".mako"}:
            assert not re.search(r"{{|{%|{#", text), where
        lines = text.split("\n")
        assert re.search(r"[^\n]\n\Z", text), f"{where}: must end in exactly one newline"
        assert lines[0].strip(), f"{where}: leading blank line"
        assert not [n for n, line in enumerate(lines, 1) if line != line.rstrip()], (
            f"{where}: trailing whitespace"
        )
        # ruff format allows two blank lines between top-level Python blocks.
        most = 2 if path.suffix in {".py", ".mako"} else 1
        run = 0
        for number, line in enumerate(lines, 1):
            run = run + 1 if not line.strip() else 0
            assert run <= most, f"{where}:{number}: {run} blank lines in a row"


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_ruff_clean(copy: Callable[..., Project], variant: dict) -> None:
    project = copy(**variant)
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = subprocess.run(command, cwd=project.path, capture_output=True, text=True)
        assert result.returncode == 0, f"{command} on {variant}:\n{result.stdout}{result.stderr}"


def test_answers_file_records_every_question(copy: Callable[..., Project]) -> None:
    project = copy()
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert Path(answers["_src_path"]).is_absolute()
    assert {key: answers[key] for key in answers if not key.startswith("_")} == {
        "project_name": "Flask Service",
        "project_slug": "flask-service",
        "package_name": "flask_service",
        "description": "A Flask service built on the application-factory pattern.",
        "author_name": "Your Name",
        "author_email": "you@example.com",
        "python_version": "3.11",
        "database": "sqlite",
        "auth": True,
        "api": True,
        "docker": True,
        "ci": "github",
        "jobs": "none",
    }


@pytest.mark.parametrize(
    ("project_name", "slug", "package"),
    [
        ("Inventory Service", "inventory-service", "inventory_service"),
        ("  My   API!! v2 ", "my-api-v2", "my_api_v2"),
        ("3D Printer Queue", "d-printer-queue", "d_printer_queue"),
        ("Сервис заказов", "flask-service", "flask_service"),
        # Accented Latin letters read as their base letters, not as word breaks
        # ("caf-orders", "lan-billing", "stra-e-maps" before).
        ("Café Orders", "cafe-orders", "cafe_orders"),
        ("Élan Billing", "elan-billing", "elan_billing"),
        ("Straße Maps", "strasse-maps", "strasse_maps"),
        ("Søren's Łódź Shop", "soren-s-lodz-shop", "soren_s_lodz_shop"),
        ("Zahlungsüberwachung", "zahlungsuberwachung", "zahlungsuberwachung"),
        ("İstanbul Œuvre", "istanbul-oeuvre", "istanbul_oeuvre"),
        ("A" * 100, "a" * 64, "a" * 64),
    ],
)
def test_names_are_derived_from_the_project_name(
    copy: Callable[..., Project], project_name: str, slug: str, package: str
) -> None:
    project = copy(project_name=project_name)
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == slug
    assert (project.path / "src" / package / "__init__.py").is_file()


def test_awkward_answers_produce_valid_files(copy: Callable[..., Project]) -> None:
    project = copy(**AWKWARD)
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == AWKWARD["description"]
    assert pyproject["project"]["authors"] == [
        {"name": AWKWARD["author_name"], "email": "you@example.com"}
    ]
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert {key: answers[key] for key in AWKWARD} == AWKWARD
    config = ast.parse((project.path / "src/obriens_cafe/config.py").read_text())
    app_names = [
        node.value.value
        for node in ast.walk(config)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "APP_NAME"
    ]
    assert app_names == [AWKWARD["project_name"]]
    readme = (project.path / "README.md").read_text()
    assert readme.startswith(f"# {AWKWARD['project_name']}\n\n{AWKWARD['description']}\n")
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = subprocess.run(command, cwd=project.path, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "name",
    [
        'Say "Hi"',
        "It's",
        'Both \' and ""',
        "Back\\slash",
        "<script>alert(1)</script>",
        "{{ config.SECRET_KEY }}",
    ],
)
def test_app_name_is_an_exact_python_literal(copy: Callable[..., Project], name: str) -> None:
    project = copy(project_name=name, project_slug="svc", package_name="svc")
    source = (project.path / "src/svc/config.py").read_text()
    line = next(line for line in source.splitlines() if "APP_NAME =" in line)
    assert ast.literal_eval(line.split("=", 1)[1].strip()) == name
    result = subprocess.run(
        ["ruff", "format", "--check", "src/svc/config.py"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13", "3.14"])
def test_python_version_sets_every_target(
    copy: Callable[..., Project], python_version: str
) -> None:
    project = copy(python_version=python_version)
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{python_version.replace('.', '')}"
    assert pyproject["tool"]["mypy"]["python_version"] == python_version
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = subprocess.run(command, cwd=project.path, capture_output=True, text=True)
        assert result.returncode == 0, f"{command} for {python_version}:\n{result.stdout}"
