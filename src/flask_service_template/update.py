"""Update many projects from the template: `flask-template update`.

    flask-template update [--jobs N] [--skip-check] [--commit] [--vcs-ref REF]
                          [--data QUESTION=ANSWER ...] [--conflict inline|rej]
                          [--json] PROJECT [PROJECT ...]

Runs `copier update --trust --defaults` (with the post-update check, unless
`--skip-check`, which passes `--skip-tasks`) in each project that can take the
update: a clean git working tree, an answers file copier can use, a newer
release (or, with `--data`, an answer to change). The others are skipped, with
why. One project at a time unless `--jobs N`. It never commits, unless
`--commit`, and then only projects that ended green. It ends with a summary:
green, unchecked (--skip-check), conflicts, not green, skipped, current; and
exits 1 when any project did not end green (or current, or unchecked as asked).
"""

from __future__ import annotations

import argparse
import json
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
    changed_answers,
    committed_answers_text,
    display_version,
    git,
    quoted,
    working_answers_text,
    working_tree,
)
from flask_service_template.status import Status
from flask_service_template.tables import table
from flask_service_template.update_report import discard_report, result_of_update

GREEN = "green"
UNCHECKED = "unchecked"  # merged without conflicts, the check skipped
CONFLICTS = "conflicts"
NOT_GREEN = "not green"
SKIPPED = "skipped"
CURRENT = "current"
OUTCOMES = (GREEN, UNCHECKED, CONFLICTS, NOT_GREEN, SKIPPED, CURRENT)


@dataclass
class Outcome:
    project: str
    outcome: str
    why: str = ""
    version_from: str | None = None
    version_to: str | None = None
    conflicts: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    fix: str | None = None  # what to do next, where something is left to do
    commit: str | None = None  # the commit --commit made
    output: str = ""  # copier update's output, for the reader of a failure
    # What the update guard asks the team to read: kept files, new migrations, warnings.
    notes: list[str] = field(default_factory=list)


def commit_message(project: Path, outcome: Outcome) -> str:
    before = answers_of(committed_answers_text(project))
    after = answers_of(working_answers_text(project))
    if outcome.version_from == outcome.version_to:
        subject = f"Change answers of the Flask service template at {outcome.version_to}"
    else:
        subject = (
            f"Update the Flask service template from {outcome.version_from} to {outcome.version_to}"
        )
    answers = [
        f"{question}: {old!r} -> {new!r}"
        for question, (old, new) in changed_answers(before, after).items()
    ]
    made = "Made by `flask-template update --commit`; the post-update check passed."
    return "\n".join([subject, "", *answers, made])


def commit(project: Path, outcome: Outcome) -> None:
    """Commit the update; only the project's own folder, in case it shares a repository."""
    message = commit_message(project, outcome)
    for step in (
        ["add", "--all", "--", "."],
        ["commit", "--quiet", "--message", message, "--", "."],
    ):
        done = git(project, *step)
        if done.returncode != 0:
            error = last_line(done.stderr + done.stdout)
            outcome.fix = f"git {step[0]} failed ({error}): commit the update yourself"
            return
    outcome.commit = git(project, "rev-parse", "--short", "HEAD").stdout.strip()


def update_project(
    status: Status, request: Request, skip_check: bool, commit_green: bool
) -> Outcome:
    project = Path(status.project)
    outcome = Outcome(project=status.project, outcome=SKIPPED, version_from=status.recorded_version)
    skip = skip_reason(status, request)
    if skip:
        outcome.outcome = CURRENT if skip.current else SKIPPED
        outcome.why, outcome.fix = skip.why, skip.fix
        return outcome
    discard_report(project)
    returncode, output = run_copier(request.copier_update(project, skip_tasks=skip_check))
    outcome.output = output
    outcome.version_to = display_version(answers_of(working_answers_text(project)).get("_commit"))
    rollback = f"flask-template rollback {quoted(project)}"
    if returncode != 0:
        outcome.outcome = NOT_GREEN
        outcome.why, outcome.fix = copier_failure(output)
        if working_tree(project).changes:
            outcome.fix = f"review what it changed (git -C {quoted(project)} status), or {rollback}"
        return outcome
    result = result_of_update(project, output)
    report = result.report
    if report.get("from") and report.get("to"):
        outcome.version_from, outcome.version_to = str(report["from"]), str(report["to"])
    outcome.conflicts = result.conflicts
    outcome.failed_checks = result.failed_checks
    outcome.notes = guard_notes(report)
    if result.conflicts:
        outcome.outcome = CONFLICTS
        outcome.why = f"{len(result.conflicts)} to resolve: {', '.join(result.conflicts)}"
        outcome.fix = f"resolve them, run the checks and commit; or {rollback}"
    elif result.check.get("ran") and result.check.get("green"):
        outcome.outcome, outcome.why = GREEN, str(result.check.get("summary") or "checks passed")
    elif result.check.get("ran"):
        outcome.outcome = NOT_GREEN
        outcome.why = f"failed: {', '.join(result.failed_checks) or 'the check'}"
        outcome.fix = f"fix the project and commit; or {rollback}"
    else:
        outcome.outcome = UNCHECKED
        reason = "--skip-check" if skip_check else result.check.get("reason")
        outcome.why = f"merged without conflicts; not checked ({reason})"
    if commit_green and outcome.outcome == GREEN:
        commit(project, outcome)
    return outcome


def guard_notes(report: dict[str, object]) -> list[str]:
    """The update guard's report, as `copier update` printed it: kept files, new
    migrations (which may drop tables) and warnings, for the summary."""
    kept = report.get("kept")
    migrations = report.get("migrations")
    written = migrations.get("written") if isinstance(migrations, dict) else None
    warnings = report.get("warnings")
    notes = [
        f"kept: {item.get('path')}: {item.get('why')}"
        for item in (kept if isinstance(kept, list) else [])
        if isinstance(item, dict)
    ]
    notes += [
        f"new migration: {path}: read it, then `flask db upgrade`"
        for path in (written if isinstance(written, list) else [])
    ]
    notes += [f"warning: {item}" for item in (warnings if isinstance(warnings, list) else [])]
    return notes


def label(outcome: Outcome) -> str:
    versions = f" {outcome.version_from} -> {outcome.version_to}" if outcome.version_to else ""
    return f"{outcome.outcome}{versions}"


def summary(outcomes: list[Outcome]) -> str:
    rows = [("project", "from", "to", "outcome", "why")]
    for outcome in outcomes:
        rows.append(
            (
                outcome.project,
                outcome.version_from or "?",
                outcome.version_to or "-",
                outcome.outcome + (f" (committed {outcome.commit})" if outcome.commit else ""),
                outcome.why,
            )
        )
    counts = ", ".join(
        f"{sum(o.outcome == name for o in outcomes)} {name}"
        for name in OUTCOMES
        if any(o.outcome == name for o in outcomes)
    )
    details = []
    for outcome in outcomes:
        if outcome.notes:
            details.append(f"{outcome.project}: the update guard says:")
            details += [f"    {note}" for note in outcome.notes]
        if outcome.fix:
            details.append(f"{outcome.project}: next: {outcome.fix}")
        if outcome.outcome == NOT_GREEN and outcome.output:
            tail = outcome.output.strip().splitlines()[-15:]
            details += ["    copier update's output ended:", *(f"      {line}" for line in tail)]
    return "\n".join([table(rows), "", f"{len(outcomes)} project(s): {counts}", *details])


def succeeded(outcome: Outcome, skip_check: bool, commit_green: bool) -> bool:
    if commit_green and outcome.outcome == GREEN and not outcome.commit:
        return False
    return outcome.outcome in {GREEN, CURRENT} or (skip_check and outcome.outcome == UNCHECKED)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_update_arguments(parser)
    parser.add_argument(
        "--skip-check",
        action="store_true",
        help="skip the post-update check (passes --skip-tasks to copier update)",
    )
    parser.add_argument(
        "--commit",
        action="store_true",
        help="commit each project that ends green (never the others)",
    )


def run(args: argparse.Namespace) -> int:
    if args.commit and args.skip_check:
        print(
            "flask-template update: --commit commits only projects the post-update check "
            "found green, so it needs the check: drop --skip-check"
        )
        return 2
    request = Request.from_arguments(args)
    outcomes = for_each_project(
        args.projects,
        lambda status: update_project(status, request, args.skip_check, args.commit),
        jobs=args.jobs,
        prereleases=args.prereleases,
        label=label,
    )
    if args.json:
        print(json.dumps([asdict(outcome) for outcome in outcomes], indent=2))
    else:
        print(summary(outcomes))
    return 0 if all(succeeded(o, args.skip_check, args.commit) for o in outcomes) else 1
