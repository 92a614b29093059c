"""Release hygiene: what `copier update` relies on stays true from release to release."""

import re
import tomllib
from pathlib import Path

import copier
import yaml
from helpers import (
    ROOT,
    TemplateRepo,
    commit_all,
    copier_cli,
    copier_venv,
    releases,
    version_key,
)

COPIER_YML = yaml.safe_load((ROOT / "copier.yml").read_text())
MINIMUM_COPIER = COPIER_YML["_min_copier_version"]
# The release in development, or the latest one just after it is tagged.
PACKAGE_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_every_question_has_a_default() -> None:
    """A question without one makes `copier update --defaults` stop for every project."""
    questions = {key: spec for key, spec in COPIER_YML.items() if not key.startswith("_")}
    assert [key for key, spec in questions.items() if "default" not in spec] == []


def changelog_entries() -> dict[str, str]:
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    return {section.split()[0]: section for section in sections}


def test_the_changelog_tells_existing_projects_about_every_release() -> None:
    entries = changelog_entries()
    versions = [*releases(), PACKAGE_VERSION]
    assert set(versions) <= set(entries), "each release needs a `## X.Y.Z` entry"
    for version in versions:
        assert re.search(r"^Existing projects: .+", entries[version], re.MULTILINE), (
            f"the {version} entry must say what changes for existing projects "
            "and whether they must act, on a line starting `Existing projects:`"
        )


def test_releases_are_plain_versions_newest_last() -> None:
    versions = list(releases())
    assert versions == sorted(versions, key=version_key)
    assert version_key(PACKAGE_VERSION) >= version_key(versions[-1])


def test_the_installed_copier_meets_the_minimum() -> None:
    assert version_key(copier.__version__) >= version_key(MINIMUM_COPIER)


def test_the_minimum_copier_copies_and_updates_across_the_previous_release(
    releases_repo: tuple[TemplateRepo, str, str], tmp_path: Path
) -> None:
    """`_min_copier_version` is a promise: the oldest Copier it admits runs the hook,
    the update guard and the post-update check like the newest."""
    oldest = copier_venv(tmp_path / "oldest-copier", MINIMUM_COPIER)
    repo, previous, current = releases_repo
    project = tmp_path / "svc"

    def run_copier(*arguments: str, cwd: Path | None = None) -> str:
        result = copier_cli(*arguments, cwd=cwd, python=oldest)
        return result.stdout + result.stderr

    copied = run_copier(
        "copy", "--trust", "--defaults", f"--vcs-ref={previous}", str(repo.path), str(project)
    )
    assert re.search(r"post-generate: ready in [\d.]+ s: \d+ passed", copied)
    (project / "src/flask_service/reports.py").write_text('"""Reports."""\n\nREPORT_DAY = 1\n')
    commit_all(project, "Reports")

    updated = run_copier("update", "--trust", "--defaults", "--data=apii=false", cwd=project)

    assert "update-guard: WARNING: --data apii=... is not a question" in updated
    assert "update-guard: no conflicts." in updated
    assert re.search(r"post-update: GREEN in [\d.]+ s: \d+ passed", updated)
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == current
    assert (project / "src/flask_service/reports.py").is_file()
