"""Migration to 0.2.0: carry a project's own edits of health.py into health/routes.py.

Release 0.2.0 turned `src/<package>/health.py` into a `health/` blueprint package
(`__init__.py` and `routes.py`), like `main/`, `auth/` and `api/`. Copier's update
removes a file the new release no longer generates even when the project had
edited it, so without this step those edits would vanish from the working tree.

Copier runs this after its own merge, in the real project, for every update that
crosses 0.2.0 (`_migrations` in copier.yml). It three-way merges the project's
last committed health.py (ours) with the health.py the project's old release
generated (base) into the routes.py the new release wrote (theirs), the same
merge Copier does for files that stay in place, with the same conflict labels,
so the post-update check reports any conflict. It writes only files the update
itself has just created or removed: routes.py, or, when it cannot merge,
health.py back as it was. A health.py still present after the update is left alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

LABELS = ("before updating", "last update", "after updating")
OLD_RELEASE_PATH = "template/src/{{package_name}}/health.py"


def git_show(revision: str, cwd: Path) -> str | None:
    """A file's text at a revision, or None when git cannot give it."""
    try:
        result = subprocess.run(
            ["git", "show", revision],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:  # no git at all
        return None
    return result.stdout if result.returncode == 0 else None


def merge(ours: str, base: str, theirs: str) -> tuple[str, bool] | None:
    """`git merge-file` of three texts: the merged text and whether it conflicts,
    or None when git cannot merge."""
    with tempfile.TemporaryDirectory(prefix="flask-template-migration-") as scratch:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch, name)
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        labels = [option for label in LABELS for option in ("-L", label)]
        try:
            result = subprocess.run(
                ["git", "merge-file", "--stdout", *labels, *paths],
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            return None
    # merge-file exits with the number of conflicts, at most 127; above that
    # is an error.
    if not 0 <= result.returncode <= 127:
        return None
    return result.stdout, result.returncode > 0


def migrate(project: Path, package: str, template: Path, version_from: str) -> str:
    """Carry the project's health.py edits across; return what was done."""
    old = Path("src", package, "health.py")
    new = Path("src", package, "health", "routes.py")
    if (project / old).exists():
        return (
            f"{old} is still there and is now shadowed by the health/ package: "
            f"move what you need from it into {new}, then delete it"
        )
    # Copier refuses to update a dirty project, so HEAD holds the project's
    # last own version of the file. "./" makes the path relative to the
    # project, which may be a folder inside a larger repository.
    ours = git_show(f"HEAD:./{old.as_posix()}", project)
    if ours is None:
        return f"{old} was not in the project's last commit: nothing to carry over"
    base = git_show(f"{version_from}:{OLD_RELEASE_PATH}", template)
    if ours == base:
        return f"{old} was as generated: replaced by the health/ package"
    target = project / new
    # Without the old release's text every difference counts as a conflict:
    # better a conflict to resolve than an edit silently lost.
    result = (
        merge(ours, base or "", target.read_text(encoding="utf-8")) if target.is_file() else None
    )
    if result is None:
        # No routes.py to merge into (excluded, say), or no working git: put
        # the project's file back where it was rather than lose it.
        (project / old).write_text(ours, encoding="utf-8")
        return f"could not merge into {new}: restored your {old}; move its code there by hand"
    merged, conflicted = result
    target.write_text(merged, encoding="utf-8")
    if conflicted:
        return f"your edits of {old} are in {new}, WITH CONFLICTS to resolve"
    return f"your edits of {old} are merged into {new}"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="the project's package_name")
    parser.add_argument(
        "--template", required=True, type=Path, help="Copier's clone of the template"
    )
    parser.add_argument(
        "--version-from", required=True, help="the template version the project was at"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    outcome = migrate(Path.cwd(), args.package, args.template, args.version_from)
    print(f"migrate to 0.2.0: {outcome}.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
