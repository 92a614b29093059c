"""Every validator rule rejects bad answers with a message naming the rule and an
example, and a rejected answer writes nothing."""

import re
import subprocess
from pathlib import Path

import pytest
from helpers import Project, copy_command, render

REJECTED = [
    # (answers, words the message must contain)
    ({"project_name": ""}, ["project_name must not be empty", "Inventory Service"]),
    ({"project_name": "   "}, ["project_name must not be empty"]),
    ({"project_name": "Two\nlines"}, ["single line", "Inventory Service"]),
    ({"project_name": "x" * 101}, ["at most 100 characters", "Inventory Service"]),
    ({"project_slug": "Inventory-Service"}, ["lowercase", "inventory-service"]),
    ({"project_slug": "inventory_service"}, ["joined", "inventory-service"]),
    ({"project_slug": "inventory--service"}, ["single hyphens", "inventory-service"]),
    ({"project_slug": "-inventory"}, ["starting with a letter", "inventory-service"]),
    ({"project_slug": "inventory-"}, ["hyphens", "inventory-service"]),
    ({"project_slug": "1inventory"}, ["starting with a letter"]),
    ({"project_slug": "inventory service"}, ["inventory-service"]),
    ({"project_slug": "invéntory"}, ["inventory-service"]),
    ({"project_slug": "a" * 65}, ["at most 64 characters"]),
    ({"package_name": "Inventory"}, ["lowercase Python identifier", "inventory_service"]),
    ({"package_name": "inventory-service"}, ["lowercase Python identifier"]),
    ({"package_name": "1inventory"}, ["lowercase Python identifier"]),
    ({"package_name": "_private"}, ["lowercase Python identifier"]),
    ({"package_name": ""}, ["lowercase Python identifier"]),
    ({"package_name": "a" * 65}, ["at most 64 characters"]),
    ({"package_name": "class"}, ["Python keyword", "class_service"]),
    ({"package_name": "import"}, ["Python keyword"]),
    ({"package_name": "email"}, ["shadow the standard-library module", "email_service"]),
    ({"package_name": "json"}, ["standard-library"]),
    ({"package_name": "logging"}, ["standard-library"]),
    ({"package_name": "tomllib"}, ["standard-library"]),
    ({"package_name": "flask"}, ["shadow a dependency", "flask_service"]),
    ({"package_name": "sqlalchemy"}, ["shadow a dependency"]),
    ({"package_name": "flask_login"}, ["shadow a dependency"]),
    ({"package_name": "werkzeug"}, ["shadow a dependency"]),
    ({"package_name": "dotenv"}, ["shadow a dependency"]),
    ({"package_name": "test"}, ["the tests"]),
    ({"package_name": "tests"}, ["the tests"]),
    ({"package_name": "migrations"}, ["project folder"]),
    ({"author_name": ""}, ["author_name must not be empty", "Platform Team"]),
    ({"author_email": "not-an-email"}, ["not an email address", "team@example.com"]),
    ({"author_email": "name@localhost"}, ["not an email address"]),
    ({"author_email": "two words@example.com"}, ["not an email address"]),
    ({"author_email": "@example.com"}, ["not an email address"]),
    ({"author_email": "name@example..com"}, ["not an email address"]),
    ({"author_email": "name@-example.com"}, ["not an email address"]),
    ({"author_email": '"quoted"@example.com'}, ["not an email address"]),
    ({"author_email": ""}, ["not an email address"]),
    ({"description": "Line one\nline two"}, ["single line"]),
    # Choices: Copier itself names the valid ones.
    ({"python_version": "3.10"}, ["3.10"]),
    ({"database": "mysql"}, ["mysql"]),
]


@pytest.mark.parametrize(("answers", "words"), REJECTED, ids=[repr(a) for a, _ in REJECTED])
def test_invalid_answer_is_rejected_and_nothing_is_written(
    template: Path, tmp_path: Path, answers: dict[str, str], words: list[str]
) -> None:
    destination = tmp_path / "project"
    with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as excinfo:
        render(template, destination, answers)
    for word in words:
        assert word in str(excinfo.value)
    assert not destination.exists()


def test_derived_default_that_breaks_a_rule_is_reported(template: Path, tmp_path: Path) -> None:
    """A name whose derived package is reserved fails with the fix spelled out."""
    with pytest.raises(ValueError, match="would shadow a dependency") as excinfo:
        render(template, tmp_path / "project", {"project_name": "Flask"})
    assert "flask_service" in str(excinfo.value)


def test_no_module_any_answers_install_can_be_the_package(
    template: Path, tmp_path: Path, every_dependency_project: Project
) -> None:
    """`import NAME` must find the project's package, in every project and after
    any answer change: no module that a project's dependencies or dev tools
    install (celery, redis, pydantic...) may be its name."""
    modules = sorted(
        {
            path.name.split(".")[0]
            for path in every_dependency_project.site_packages.iterdir()
            if not path.name.endswith((".dist-info", ".pth", "-stubs", ".libs"))
            and (path.is_dir() or path.suffix in {".py", ".so"})
        }
    )
    names = [name for name in modules if re.fullmatch(r"[a-z][a-z0-9_]*", name)]
    assert {"celery", "flask", "pydantic", "redis", "spectree"} <= set(names)
    accepted, refused = [], {}
    for name in names:
        try:
            render(template, tmp_path / name, {"package_name": name})
        except ValueError as error:
            refused[name] = str(error)
        else:
            accepted.append(name)
    assert accepted == []
    assert all("would shadow a dependency" in message for message in refused.values()), refused


def test_rejection_leaves_an_existing_folder_untouched(template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "existing"
    destination.mkdir()
    (destination / "notes.txt").write_text("mine\n")
    with pytest.raises(ValueError, match="Validation error"):
        render(template, destination, {"package_name": "flask"})
    assert [path.name for path in destination.iterdir()] == ["notes.txt"]
    assert (destination / "notes.txt").read_text() == "mine\n"


def test_command_line_rejection_names_the_rule(template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "project"
    result = subprocess.run(
        copy_command(template, destination, "--data", "package_name=email"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert 'package_name "email" would shadow the standard-library module' in result.stderr
    assert not destination.exists()


@pytest.mark.parametrize(
    "answers",
    [
        {"project_slug": "a", "package_name": "a"},
        {"project_slug": "inventory-service-2", "package_name": "inventory_service_2"},
        {"author_email": "first.last+tag@mail.example.co.uk"},
        {"package_name": "flask_thing"},
    ],
)
def test_valid_edge_answers_are_accepted(
    template: Path, tmp_path: Path, answers: dict[str, str]
) -> None:
    destination = render(template, tmp_path / "project", answers)
    assert (destination / "pyproject.toml").is_file()
