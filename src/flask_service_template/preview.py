"""What an update would change in each project: `flask-template preview`.

    flask-template preview [--diff] [--jobs N] [--vcs-ref REF]
                           [--data QUESTION=ANSWER ...] [--conflict inline|rej]
                           [--json] PROJECT [PROJECT ...]

Each project's last commit is cloned into a temporary folder, and
`copier update --trust --defaults --skip-tasks` (with the same --vcs-ref,
--data and --conflict the real update would get) runs there; the project itself
is never touched. It prints the files the update would change, add and delete,
and the files it would leave in conflict; `--diff` prints the diff too.
Uncommitted changes are not part of the preview (and block the real update).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flask_service_template.fleet import (
    Request,
    add_update_arguments,
    copier_failure,
    for_each_project,
    last_line,
    run_copier,
    skip_reason,
)
from flask_service_template.project import (
    answers_of,
    display_version,
    git,
    working_answers_text,
)
from flask_service_template.status import Status
from flask_service_template.tables import table
from flask_service_template.update_report import result_of_update


@dataclass
class Preview:
    project: str
    version_from: str | None = None
    version_to: str | None = None
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    kept: list[dict[str, object]] = field(default_factory=list)  # the machinery's report
    warnings: list[str] = field(default_factory=list)
    note: str = ""  # what the preview leaves out
    skipped: str = ""  # why there is no preview
    current: bool = False  # none needed: the update would not move the project
    diff: str = ""


def scratch_copy(project: Path, scratch: Path) -> Path:
    """A clone of the project's repository at its last commit; the project's
    folder inside it (a service of a monorepo stays in its subfolder)."""
    top = Path(git(project, "rev-parse", "--show-toplevel").stdout.strip())
    head = git(project, "rev-parse", "HEAD").stdout.strip()
    clone = scratch / "clone"
    for command, where in (
        (["clone", "--quiet", "--no-checkout", str(top), str(clone)], scratch),
        (["checkout", "--quiet", "--detach", head], clone),
    ):
        done = git(where, *command)
        if done.returncode != 0:
            raise RuntimeError(f"git {command[0]} failed: {last_line(done.stderr)}")
    return clone / project.relative_to(top)


def changes(copy: Path, conflicts: list[str]) -> dict[str, list[str]]:
    """Changed, added and deleted files against the last commit (conflicts apart)."""
    git(copy, "add", "--all", "--", ".")  # the scratch clone's index only
    listed = git(copy, "diff", "--cached", "--name-status", "--no-renames", "--relative", "HEAD")
    found: dict[str, list[str]] = {"M": [], "A": [], "D": []}
    for line in listed.stdout.splitlines():
        kind, path = line.split("\t", 1)
        if path not in conflicts:
            found.setdefault(kind[0], []).append(path)
    return found


def preview_project(status: Status, request: Request, with_diff: bool) -> Preview:
    project = Path(status.project)
    preview = Preview(project=status.project, version_from=status.recorded_version)
    skip = skip_reason(status, request, allow_dirty=True)
    if skip:
        preview.skipped = skip.why + (f"; fix: {skip.fix}" if skip.fix else "")
        preview.current = skip.current
        return preview
    if not status.clean:
        preview.note = (
            f"previewed the last commit: its {status.uncommitted_changes} uncommitted "
            "change(s) are left out, and block the real update"
        )
    with tempfile.TemporaryDirectory(prefix="flask-template-preview-") as scratch:
        try:
            copy = scratch_copy(project, Path(scratch))
        except RuntimeError as error:
            preview.skipped = str(error)
            return preview
        returncode, output = run_copier(request.copier_update(copy, skip_tasks=True))
        if returncode != 0:
            why, fix = copier_failure(output)
            preview.skipped = f"{why.rstrip('.')}; fix: {fix}" if fix else why
            return preview
        preview.version_to = display_version(answers_of(working_answers_text(copy)).get("_commit"))
        result = result_of_update(copy, output)
        if result.report.get("from") and result.report.get("to"):
            preview.version_from = str(result.report["from"])
            preview.version_to = str(result.report["to"])
        preview.conflicts = result.conflicts
        kept, warnings = result.report.get("kept"), result.report.get("warnings")
        if isinstance(kept, list):
            preview.kept = [item for item in kept if isinstance(item, dict)]
        if isinstance(warnings, list):
            preview.warnings = [str(item) for item in warnings]
        found = changes(copy, result.conflicts)
        preview.changed, preview.added, preview.deleted = found["M"], found["A"], found["D"]
        if with_diff:
            preview.diff = git(copy, "diff", "--cached", "--relative", "HEAD").stdout
    return preview


def counts(preview: Preview) -> str:
    if preview.skipped:
        return f"skipped: {preview.skipped}"
    return (
        f"{len(preview.changed)} changed, {len(preview.added)} added, "
        f"{len(preview.deleted)} deleted, {len(preview.conflicts)} in conflict"
    )


def details(preview: Preview) -> list[str]:
    if preview.skipped:
        return []
    versions = f"{preview.version_from} -> {preview.version_to}"
    lines = [f"{preview.project}: {versions}: {counts(preview)}"]
    if preview.note:
        lines.append(f"    ({preview.note})")
    rows = [("C", path) for path in preview.conflicts]
    rows += [("M", path) for path in preview.changed]
    rows += [("A", path) for path in preview.added]
    rows += [("D", path) for path in preview.deleted]
    lines += [f"    {kind} {path}" for kind, path in sorted(rows, key=lambda row: row[1])]
    lines += [f"    kept: {item.get('path')}: {item.get('why')}" for item in preview.kept]
    lines += [f"    warning: {warning}" for warning in preview.warnings]
    return lines


def summary(previews: list[Preview]) -> str:
    rows = [("project", "from", "to", "changed", "added", "deleted", "conflicts")]
    for preview in previews:
        if preview.skipped:
            rows.append((preview.project, preview.version_from or "?", "-", "", "", "", ""))
        else:
            rows.append(
                (
                    preview.project,
                    preview.version_from or "?",
                    preview.version_to or "?",
                    str(len(preview.changed)),
                    str(len(preview.added)),
                    str(len(preview.deleted)),
                    str(len(preview.conflicts)),
                )
            )
    lines = [table(rows), ""]
    for preview in previews:
        lines += details(preview)
        if preview.skipped:
            lines.append(f"{preview.project}: skipped: {preview.skipped}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_update_arguments(parser)
    parser.add_argument("--diff", action="store_true", help="print each project's diff too")


def run(args: argparse.Namespace) -> int:
    request = Request.from_arguments(args)
    previews = for_each_project(
        args.projects,
        lambda status: preview_project(status, request, args.diff),
        jobs=args.jobs,
        prereleases=args.prereleases,
        label=counts,
        one_per_repository=False,  # each preview works in its own clone
    )
    if args.json:
        print(json.dumps([asdict(preview) for preview in previews], indent=2))
    else:
        print(summary(previews))
        for preview in previews:
            if preview.diff:
                sys.stdout.write(f"\n# {preview.project}\n{preview.diff}")
    return 1 if any(preview.skipped and not preview.current for preview in previews) else 0
