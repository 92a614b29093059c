"""The README's first command, as a new user types it, on the Python a fresh Debian
or Ubuntu machine has: its pip refuses to install into the system (PEP 668), and
the command must still generate a green project. The second command is the one
`.ci/run` runs."""

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ROOT, Project, clean_environment, git, snapshot_template

SYSTEM_PYTHON = Path("/usr/bin/python3")


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return [block.strip() for block in blocks[:2]]


def test_the_readme_starts_with_the_two_commands() -> None:
    generate, run_tests = readme_commands()
    assert "copier copy --trust --defaults" in generate
    assert generate.endswith('"$PWD" ../my-service')
    assert run_tests.endswith("uv run pytest")


def test_ci_runs_the_readme_s_test_command() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci_lines[-1] == readme_commands()[1]


def test_the_first_command_works_on_debian_s_own_python(tmp_path: Path) -> None:
    assert SYSTEM_PYTHON.exists(), "Debian's python3 and python3-pip are missing (.ci/run)"
    system_env = clean_environment(HOME=str(tmp_path / "home"), PATH="/usr/bin:/bin")
    refused = subprocess.run(
        [str(SYSTEM_PYTHON), "-m", "pip", "install", "--user", "uv"],
        capture_output=True,
        text=True,
        env=system_env,
    )
    assert "externally-managed-environment" in refused.stderr, "this Python is not PEP 668's"
    clone = snapshot_template(tmp_path / "clone")

    result = subprocess.run(
        ["bash", "-c", readme_commands()[0]],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=900,
        env=system_env,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"post-generate: ready in [\d.]+ s: \d+ passed", output), output
    project = tmp_path / "my-service"
    assert (project / ".venv/bin/python").exists()
    assert git(project, "status", "--porcelain") == ""


def test_the_readme_counts_the_default_project_s_tests(default_project: Project) -> None:
    """The README gave 530 tests for the default answers (0.10.0's count) while
    the default project had 594: the figure and the hook's sample output follow
    the suite."""
    result = default_project.pytest("--collect-only")
    collected = re.search(r"^(\d+) tests collected", result.stdout, re.MULTILINE)
    assert collected, result.stdout[-2000:]
    readme = (ROOT / "README.md").read_text()
    stated = re.search(r"(\d+) tests with the default\s+answers", readme)
    sample = re.search(r"post-generate: ready in [\d.]+ s: (\d+) passed", readme)
    assert stated
    assert sample
    assert (int(stated.group(1)), int(sample.group(1))) == (int(collected.group(1)),) * 2


# A file or folder the generated README names: a path, or a file by its name.
README_PATH = re.compile(
    r"`((?:src|tests|migrations|deploy|templates|static|\.github)/[\w./-]*"
    r"|[\w./-]+\.(?:py|html|css|yml|yaml|toml|conf|ini))`"
)
# A row of the README's table of environment variables.
README_SETTING = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


def test_the_generated_readme_names_only_what_the_project_has(
    default_project: Project,
) -> None:
    assert_the_readme_names_only_what_the_project_has(default_project.path)


@pytest.mark.parametrize(
    "answers",
    [{"auth": False, "api": False}, {"database": "postgresql", "jobs": "celery"}],
    ids=["no-accounts-no-api", "postgresql-celery"],
)
def test_every_answers_readme_names_only_what_its_project_has(
    copy: Callable[..., Project], answers: dict[str, object]
) -> None:
    """Without accounts or the API, the README listed `models.py` among the
    template's files, which that project does not have."""
    assert_the_readme_names_only_what_the_project_has(copy(**answers).path)


def assert_the_readme_names_only_what_the_project_has(project: Path) -> None:
    """Each file the README names exists, and each variable in its table of
    settings is read by the code."""
    readme = (project / "README.md").read_text()
    here = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if ".venv" not in path.parts
    ]
    missing = [
        name
        for name in sorted(set(README_PATH.findall(readme)))
        # The README's examples of files a team adds.
        if "widgets" not in name
        and not any(
            path == name.rstrip("/") or path.endswith("/" + name.rstrip("/")) for path in here
        )
    ]
    assert missing == []
    source = "\n".join(
        path.read_text() for path in [*project.glob("src/**/*.py"), project / "gunicorn.conf.py"]
    )
    settings = README_SETTING.findall(readme)
    assert "DATABASE_URL" in settings
    assert [name for name in settings if f'"{name}"' not in source] == []
