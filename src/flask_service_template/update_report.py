"""What a `copier update` left in a project: the files to resolve and the
post-update check's result.

The template's update machinery (hooks/, run by Copier as migrations) writes
them as JSON into the project's git directory after every update. Releases
before that report existed leave none; then the conflicts come from git (its
unmerged entries, files with conflict markers, `.rej` files) and the check's
result from the lines the post-update check prints.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask_service_template.project import git, git_paths

REPORT_FILE = "flask-template-update.json"
# A line opening or closing a conflict, as git and Copier write them
# ("<<<<<<< before updating" ... ">>>>>>> after updating").
CONFLICT_MARKER = re.compile(rb"^(<{7}|>{7})( |\r?$)", re.MULTILINE)


@dataclass
class UpdateResult:
    conflicts: list[str]
    # As the report's "check": {"ran": false, "reason": ...} or
    # {"ran": true, "green": bool, "failed": [...], "summary": ...}
    check: dict[str, object]
    report: dict[str, object] = field(default_factory=dict)  # the machinery's, if written

    @property
    def failed_checks(self) -> list[str]:
        failed = self.check.get("failed")
        return [str(name) for name in failed] if isinstance(failed, list) else []


def report_path(project: Path) -> Path | None:
    found = git(project, "rev-parse", "--git-path", REPORT_FILE)
    return project / found.stdout.strip() if found.returncode == 0 else None


def discard_report(project: Path) -> None:
    """Remove an earlier update's report, so only the next update's is read."""
    path = report_path(project)
    if path is not None:
        path.unlink(missing_ok=True)


def read_report(project: Path) -> dict[str, object] | None:
    path = report_path(project)
    try:
        report = json.loads(path.read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("version") == 1 else None


def conflicts_in_git(project: Path) -> list[str]:
    """Files left to resolve: unmerged, with conflict markers, or `.rej` files
    (also those a .gitignore hides)."""
    unmerged = {
        line.split("\t", 1)[1] for line in git_paths(project, "ls-files", "--unmerged", "--", ".")
    }
    rejects = set(git_paths(project, "ls-files", "--others", "--", "*.rej"))
    changed = git_paths(
        project, "ls-files", "--modified", "--others", "--exclude-standard", "--", "."
    )
    marked = set()
    for relative in changed:
        path = project / relative
        try:
            content = path.read_bytes() if path.is_file() else b""
        except OSError:
            continue
        if b"\0" not in content[:8192] and CONFLICT_MARKER.search(content):
            marked.add(relative)
    return sorted(unmerged | rejects | marked)


def check_in_output(output: str) -> dict[str, object]:
    """The post-update check's result from the lines it prints."""
    green = re.search(r"^post-update: GREEN in [\d.]+ s: (.+)$", output, re.MULTILINE)
    if green:
        return {"ran": True, "green": True, "failed": [], "summary": green.group(1)}
    if re.search(r"^post-update: NOT GREEN", output, re.MULTILINE):
        failed = re.findall(r"^post-update:\s+failed: (.+)$", output, re.MULTILINE)
        return {"ran": True, "green": False, "failed": failed}
    if re.search(r"^post-update: CONFLICTS", output, re.MULTILINE):
        return {"ran": False, "reason": "conflicts to resolve first"}
    return {"ran": False, "reason": "no post-update check ran"}


def result_of_update(project: Path, output: str) -> UpdateResult:
    """Read after `copier update` (and after `discard_report` before it)."""
    report = read_report(project)
    if report is not None:
        conflicts = report.get("conflicts")
        check = report.get("check")
        return UpdateResult(
            conflicts=sorted(map(str, conflicts)) if isinstance(conflicts, list) else [],
            check=dict(check) if isinstance(check, dict) else check_in_output(output),
            report=report,
        )
    return UpdateResult(conflicts=conflicts_in_git(project), check=check_in_output(output))
