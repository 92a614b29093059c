"""A project's Alembic history, read and extended without importing it.

The update guard uses this to keep a generated project's migrations a single line
of history across template releases and answer changes:

- `heads()` finds the revisions nothing revises yet, from the files alone (the
  guard runs in Copier's Python, which has neither the project nor Alembic);
- `write_merge()` joins several heads, as `flask db merge heads` would, when the
  project's own migrations and a release's branched apart from the same parent;
- `answer_change_statements()` and `write_answer_change()` write the migration an
  answer change needs. A template migration wraps each answer-dependent change in
  whole top-level statements of `upgrade()` and `downgrade()` (README: "Releasing
  the template"); rendered with the old and the new answers, the statements only
  one side has are what the database must gain or lose.
"""

from __future__ import annotations

import ast
import secrets
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

VERSIONS = Path("migrations", "versions")


@dataclass
class Revision:
    path: Path
    revision: str
    down_revisions: tuple[str, ...]


def read_revision(path: Path) -> Revision | None:
    """The revision a migration file declares, or None for a file that is not one."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and node.value is not None:
                    try:
                        values[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str):
        return None
    if down is None:
        parents: tuple[str, ...] = ()
    elif isinstance(down, str):
        parents = (down,)
    else:
        parents = tuple(str(parent) for parent in down)  # type: ignore[union-attr]
    return Revision(path, revision, parents)


def revisions(project: Path) -> list[Revision]:
    folder = project / VERSIONS
    found = [read_revision(path) for path in sorted(folder.glob("*.py"))]
    return [revision for revision in found if revision is not None]


def heads(project: Path) -> list[str]:
    """Revisions that no other revision revises, sorted."""
    history = revisions(project)
    revised = {parent for revision in history for parent in revision.down_revisions}
    return sorted(revision.revision for revision in history if revision.revision not in revised)


def missing_parents(project: Path) -> list[tuple[str, str]]:
    """(file, revision) pairs where a file revises a revision no file declares."""
    history = revisions(project)
    known = {revision.revision for revision in history}
    return [
        (revision.path.name, parent)
        for revision in history
        for parent in revision.down_revisions
        if parent not in known
    ]


def new_revision_id() -> str:
    return secrets.token_hex(6)


def write_migration(
    project: Path,
    slug: str,
    message: str,
    explanation: str,
    parents: list[str],
    upgrade: list[str],
    downgrade: list[str],
    imports: list[str],
) -> Path:
    """Write a migration file in the project's style (script.py.mako), ruff-formatted."""
    revision = new_revision_id()
    quoted = [f'"{parent}"' for parent in parents]
    down = "None" if not parents else quoted[0] if len(parents) == 1 else f"({', '.join(quoted)})"
    lines = [
        # Within ruff's line length however many answers the message names.
        *textwrap.wrap(f'"""{message}', width=88, break_long_words=False),
        "",
        *explanation.splitlines(),
        "",
        f"Revision ID: {revision}",
        f"Revises: {', '.join(parents)}",
        # Not datetime.UTC: Copier's own Python, which runs this, may be 3.10.
        f"Create Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S')}",  # noqa: UP017
        '"""',
        "",
    ]
    if imports:
        lines += [*imports, ""]
    lines += [
        f'revision = "{revision}"',
        f"down_revision = {down}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "",
        "def upgrade() -> None:",
        *(upgrade or ["    pass"]),
        "",
        "",
        "def downgrade() -> None:",
        *(downgrade or ["    pass"]),
        "",
    ]
    path = project / VERSIONS / f"{revision}_{slug}.py"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_merge(project: Path, version: str, parents: list[str]) -> Path:
    return write_migration(
        project,
        f"merge_template_{version.replace('.', '_')}",
        f"Join this project's migrations with the template's {version}.",
        "Written by the template's update guard: the project's own migrations and\n"
        "the release's started from the same revision, so they are joined here and\n"
        "`flask db upgrade` has one head again. It changes nothing by itself.",
        parents,
        [],
        [],
        [],
    )


# Answer changes: the statements of the template's migrations that depend on them.


@dataclass
class Statements:
    """The top-level statements of a migration's upgrade() and downgrade()."""

    upgrade: list[tuple[str, str]] = field(default_factory=list)  # (identity, source)
    downgrade: list[tuple[str, str]] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)


def statements(source: str) -> Statements:
    tree = ast.parse(source)
    lines = source.splitlines()
    found = Statements()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.imports.append(ast.get_source_segment(source, node) or "")
        if isinstance(node, ast.FunctionDef) and node.name in ("upgrade", "downgrade"):
            body = [
                (ast.dump(statement), "\n".join(lines[statement.lineno - 1 : statement.end_lineno]))
                for statement in node.body
                if not is_filler(statement)
            ]
            setattr(found, node.name, body)
    return found


def is_filler(statement: ast.stmt) -> bool:
    """`pass` and docstrings: no part of a migration's work."""
    return isinstance(statement, ast.Pass) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
    )


def only_in(first: list[tuple[str, str]], second: list[tuple[str, str]]) -> list[str]:
    """Sources of the statements of `first` that `second` lacks, in `first`'s order."""
    remaining = Counter(identity for identity, _ in second)
    result = []
    for identity, source in first:
        if remaining[identity]:
            remaining[identity] -= 1
        else:
            result.append(source)
    return result


@dataclass
class AnswerChange:
    upgrade: list[str] = field(default_factory=list)
    downgrade: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)


def answer_change_statements(
    chain: list[str], before: dict[str, str], after: dict[str, str]
) -> AnswerChange:
    """What a database built by the template's migrations `chain` (file names, oldest
    first) rendered with the old answers (`before`: name -> source) must do to look
    as if they had been rendered with the new ones (`after`).

    Upgrade: first undo what only the old answers did (newest migration first, by
    their downgrade statements), then do what only the new answers do (oldest
    first). Downgrade does the opposite.
    """
    change = AnswerChange()
    parsed = {
        name: (statements(before.get(name, "")), statements(after.get(name, ""))) for name in chain
    }
    undo_old = [only_in(old.downgrade, new.downgrade) for old, new in parsed.values()]
    do_new = [only_in(new.upgrade, old.upgrade) for old, new in parsed.values()]
    undo_new = [only_in(new.downgrade, old.downgrade) for old, new in parsed.values()]
    redo_old = [only_in(old.upgrade, new.upgrade) for old, new in parsed.values()]
    change.upgrade = [s for group in reversed(undo_old) for s in group] + [
        s for group in do_new for s in group
    ]
    change.downgrade = [s for group in reversed(undo_new) for s in group] + [
        s for group in redo_old for s in group
    ]
    code = "\n".join(change.upgrade + change.downgrade)
    used = {node.id for node in ast.walk(ast.parse(_dedent(code))) if isinstance(node, ast.Name)}
    seen = []
    for old, new in parsed.values():
        for line in old.imports + new.imports:
            bound = _bound_names(line)
            if bound & used and line not in seen:
                seen.append(line)
    change.imports = sorted(seen, key=_import_order)
    return change


def _dedent(code: str) -> str:
    return "\n".join(line[4:] if line.startswith("    ") else line for line in code.splitlines())


def _bound_names(import_line: str) -> set[str]:
    node = ast.parse(import_line).body[0]
    assert isinstance(node, ast.Import | ast.ImportFrom)
    return {(alias.asname or alias.name).split(".")[0] for alias in node.names}


def _import_order(line: str) -> tuple[int, str]:
    # isort's order, as ruff applies it: `import x` before `from x import y`.
    return (0 if line.startswith("import ") else 1, line)
