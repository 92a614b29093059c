"""Update guard: keeps a team's work through every `copier update`.

Copier runs this in the real project (`_migrations` in copier.yml), also with
`--skip-tasks`, once before its merge and once after it. Left to itself, Copier
deletes files the new answers no longer produce even when the team edited them,
rewrites migrations a database may have applied, gives a question a release adds
its new-project default, drops unknown `--data` keys silently, and records
conflicts in git's index only in one of its two modes.

Before the merge it refuses an update that would turn features back on half-way
(recorded answers missing), records for questions a release added the answer that
keeps an older project as it was, and warns about `--data` keys that are no
question. After the merge it carries edits of moved files to their new place,
and a release's changes to files the team renamed into them (naming those the
team deleted, which Copier leaves out), keeps what the team would lose (edited
files the new answers remove, shipped migrations), joins branched migrations and
writes the migration an answer change needs, re-merges Copier's rejected hunks
three ways, puts every conflict in git's index, lists it, and writes a report for
tools in the git directory. It never commits, and once Copier has merged it never
fails the update.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import migration_history
import yaml
from packaging.version import InvalidVersion, Version

ANSWERS_FILE = ".copier-answers.yml"
REPORT_FILE = "flask-template-update.json"
NOT_APPLIED_FILE = "flask-template-not-applied.patch"
LABEL = "update-guard"
MIGRATIONS = "migrations/versions/"
KUBERNETES = "deploy/kubernetes"
KUBERNETES_SERVICE = f"{KUBERNETES}/service.yaml"
MERGE_LABELS = ("before updating", "last update", "after updating")
VENV = ".venv"
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's id of an empty file
# A line opening or closing a conflict, as git and Copier write them.
CONFLICT_MARKER = re.compile(rb"^(<{7}|>{7})( |\r?$)", re.MULTILINE)

# Questions added after the first release, with the answer that keeps a project
# from before them as it was. A release that adds a question adds it here.
ADDED_QUESTIONS: dict[str, tuple[str, object]] = {
    "docker": ("0.2.0", False),
    "ci": ("0.2.0", "none"),
    "jobs": ("0.7.0", "none"),
}

# Files a release moved: (release, old path, new path). The guard merges a
# project's edits of the old file into the new one. Paths name the package.
MOVED_FILES = [
    ("0.2.0", "src/{package}/health.py", "src/{package}/health/routes.py"),
]


def say(message: str) -> None:
    print(f"{LABEL}: {message}", flush=True)


class Git:
    """git, run in the project (which may be a folder inside a larger repository)."""

    def __init__(self, project: Path) -> None:
        self.project = project

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
        result = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=self.project,
            input=stdin,
            capture_output=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {result.stderr.decode().strip()}")
        return result.stdout

    def paths(self, command: str, *args: str) -> list[str]:
        """What a listing command (ls-files, ls-tree) prints, NUL-separated."""
        listed = os.fsdecode(self.run(command, "-z", *args)).split("\0")
        return sorted({path for path in listed if path})

    def head(self, path: str) -> bytes | None:
        """The file as last committed; "./" makes the path relative to the project."""
        result = subprocess.run(
            ["git", "show", f"HEAD:./{path}"], cwd=self.project, capture_output=True, check=False
        )
        return result.stdout if result.returncode == 0 else None

    def restore(self, path: str) -> None:
        """The committed file back in the working tree and the index."""
        self.run("restore", "--source=HEAD", "--staged", "--worktree", "--", path)

    def mark_conflicted(
        self, path: str, base: bytes | None, ours: bytes | None, theirs: bytes | None
    ) -> None:
        """Record `path` in the index as unmerged, as `git merge` would, so that
        `git status` shows it and `git commit` waits until it is resolved."""
        prefix = self.run("rev-parse", "--show-prefix").decode().strip()
        mode = "100755" if os.access(self.project / path, os.X_OK) else "100644"
        entries = [f"0 {'0' * 40}\t{prefix}{path}"]
        for stage, content in ((1, base), (2, ours), (3, theirs)):
            if content is not None:
                blob = self.run("hash-object", "-w", "--stdin", stdin=content).decode().strip()
                entries.append(f"{mode} {blob} {stage}\t{prefix}{path}")
        self.run("update-index", "--index-info", stdin="\n".join(entries).encode() + b"\n")

    def git_dir_file(self, name: str) -> Path:
        return self.project / self.run("rev-parse", "--git-path", name).decode().strip()


def read_answers(text: bytes | str | None) -> dict[str, object]:
    if not text:
        return {}
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def questions(copier_yml: str) -> dict[str, dict]:
    loaded = yaml.safe_load(copier_yml) or {}
    return {
        key: spec if isinstance(spec, dict) else {"default": spec}
        for key, spec in loaded.items()
        if not key.startswith("_")
    }


# Copier ignores --data and --data-file keys that are no question, without a word.
IGNORED_DATA = "--data {key}=... is not a question of this template and was ignored"


def ignored_data_keys(data: dict[str, object], known: dict[str, dict]) -> list[str]:
    return sorted(set(data) - set(known))


def pep440(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


# Before Copier's merge.


def before(args: argparse.Namespace) -> int:
    project = Path.cwd()
    tracked = Git(project).run("ls-files", "--error-unmatch", "--", ANSWERS_FILE, check=False)
    if not tracked:
        # Copier updates such a project as if the team had deleted every file.
        say(
            f"NOT UPDATING: git does not track {ANSWERS_FILE} here (the repository around "
            "this folder ignores it, or it was never committed), and Copier would delete "
            "every file the template made.\n"
            f"{LABEL}: give the project a repository of its own, then update again: "
            'git init && git add --all && git commit -m "Track the generated project"'
        )
        return 1
    answers = read_answers((project / ANSWERS_FILE).read_bytes())
    data = json.loads(args.data or "{}")
    template = Path(args.template)
    now = questions((template / "copier.yml").read_text(encoding="utf-8"))
    for key in ignored_data_keys(data, now):
        say(f"WARNING: {IGNORED_DATA.format(key=key)}.")
    if refuse_package_rename(answers, data):
        return 1
    recorded_then = Git(template).run("show", f"{args.version_from}:copier.yml", check=False)
    then = questions(recorded_then.decode()) if recorded_then else {}
    unrecordable = {key for key, spec in then.items() if "when" in spec or spec.get("secret")}
    missing = sorted(set(then) - unrecordable - set(answers) - set(data))
    if missing:
        names = ", ".join(missing)
        say(
            f"NOT UPDATING: {ANSWERS_FILE} has no answer for {names}, which the project's "
            f"release {args.version_from} asked. Copier would take the defaults and turn "
            "those features on half-way.\n"
            f"{LABEL}: put the answers back (`git log -p {ANSWERS_FILE}` shows them), commit, "
            "and update again; or give them: " + " ".join(f"--data {key}=..." for key in missing)
        )
        return 1
    version_from = pep440(args.pep440_from)
    added = {
        key: value
        for key, (release, value) in ADDED_QUESTIONS.items()
        if key in now
        and key not in answers
        and key not in data
        and version_from is not None
        and version_from < Version(release)
    }
    if not added:
        return 0
    if args.skip_answered == "True":
        given = " ".join(f"--data {key}={json.dumps(value)}" for key, value in added.items())
        say(
            f"NOT UPDATING: this release asks {', '.join(added)}, which the project predates; "
            "--skip-answered would give them the defaults for new projects. Run again "
            f"without --skip-answered, or keep the project as it was with: {given}"
        )
        return 1
    # Copier reads the answers file again after this stage (an answers migration).
    answers.update(added)
    header = (project / ANSWERS_FILE).read_text(encoding="utf-8").split("\n", 1)[0]
    body = yaml.safe_dump(answers, default_flow_style=False, allow_unicode=True, sort_keys=True)
    (project / ANSWERS_FILE).write_text(f"{header}\n{body}", encoding="utf-8")
    kept = ", ".join(f"{key}={json.dumps(value)}" for key, value in added.items())
    say(f"new questions answered as the project was before them: {kept}")
    return 0


def refuse_package_rename(answers: dict[str, object], data: dict[str, object]) -> bool:
    """Copier renders a new package_name as a new package beside the old one: the
    team's code would stay behind, no longer set up by the new factory. A rename
    is the team's own commit (git mv and the imports); updates then merge into it."""
    old, new = answers.get("package_name"), data.get("package_name")
    if not isinstance(old, str) or not isinstance(new, str) or old == new:
        return False
    say(
        f"NOT UPDATING: --data package_name={new} renames the package src/{old}/, which "
        f"Copier cannot do: it would generate a fresh src/{new}/ without your code "
        f"(features.py, settings.py, your blueprints) and leave src/{old}/ behind, broken.\n"
        f"{LABEL}: rename it in a commit of your own, then update without the --data: "
        f"`git mv src/{old} src/{new}`, then replace {old} with {new} wherever it names the "
        f"package (`git grep -nw {old}` lists the places: imports, .flaskenv, Dockerfile, "
        f"pyproject.toml, package_name in {ANSWERS_FILE}...), run the tests and commit."
    )
    return True


# After Copier's merge.


@dataclass
class Report:
    """What the update did, for people (printed) and tools (JSON in the git dir)."""

    project: str
    version: int = 1
    from_: str = ""
    to: str = ""
    answers_changed: dict[str, list[object]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    left_in_removed_folders: list[str] = field(default_factory=list)
    carried: list[dict[str, str]] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    migrations: dict[str, list[str]] = field(
        default_factory=lambda: {"restored": [], "written": []}
    )
    warnings: list[str] = field(default_factory=list)
    check: dict[str, object] = field(default_factory=lambda: {"ran": False})

    def as_json(self) -> str:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return json.dumps(data, indent=2)


class Renders:
    """The template rendered at a version with given answers, once each."""

    def __init__(self, template: str, scratch: Path) -> None:
        self.template = template
        self.scratch = scratch
        self.done: dict[str, Path] = {}

    def get(self, version: str, answers: dict[str, object]) -> Path:
        data = {key: value for key, value in answers.items() if not key.startswith("_")}
        key = json.dumps([version, data], sort_keys=True, default=str)
        if key not in self.done:
            import copier  # only now: importing Copier takes a good part of a second

            destination = self.scratch / f"render-{len(self.done)}"
            copier.run_copy(
                self.template,
                destination,
                data=data,
                vcs_ref=version,
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=True,
                skip_tasks=True,
            )
            self.done[key] = destination
        return self.done[key]


def read(folder: Path, path: str) -> bytes | None:
    try:
        return (folder / path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def rendered_files(render: Path) -> set[str]:
    """A rendered project's files, relative to it."""
    return {
        path.relative_to(render).as_posix()
        for path in render.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(render).parts
    }


def renamed_to(path: str, content: bytes, candidates: list[str]) -> str | None:
    """Where a team's rename of the generated file `path` went: the candidate of
    its kind most like its content, if it is mostly alike (as git's rename
    detection would pair them)."""
    lines = content.decode(errors="replace").splitlines()
    best, best_ratio = None, 0.6
    for candidate in candidates:
        if Path(candidate).suffix != Path(path).suffix:
            continue
        other = Path(candidate).read_bytes().decode(errors="replace").splitlines()
        matcher = difflib.SequenceMatcher(None, lines, other, autojunk=False)
        if matcher.real_quick_ratio() > best_ratio and matcher.ratio() > best_ratio:
            best, best_ratio = candidate, matcher.ratio()
    return best


def folders(render: Path) -> set[str]:
    """The folders holding a rendered project's files, relative to it."""
    return {str(Path(path).parent) for path in rendered_files(render)}


def merge_file(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes, bool]:
    """`git merge-file` of three versions: the result and whether it conflicts."""
    with tempfile.TemporaryDirectory(prefix="update-guard-merge-") as scratch:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            Path(scratch, name).write_bytes(content)
            paths.append(str(Path(scratch, name)))
        labels = [option for label in MERGE_LABELS for option in ("-L", label)]
        result = subprocess.run(
            ["git", "merge-file", "--stdout", *labels, *paths], capture_output=True, check=False
        )
    if not 0 <= result.returncode <= 127:
        raise RuntimeError(f"git merge-file failed: {result.stderr.decode().strip()}")
    return result.stdout, result.returncode > 0


def patch(path: str, base: bytes, ours: bytes) -> str:
    """The project's changes to a file, as a patch to apply by hand (a .rej file)."""
    return "".join(
        difflib.unified_diff(
            base.decode(errors="replace").splitlines(keepends=True),
            ours.decode(errors="replace").splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


def has_markers(path: Path) -> bool:
    try:
        content = path.read_bytes()
    except OSError:
        return False
    return b"\0" not in content[:8192] and bool(CONFLICT_MARKER.search(content))


def find_conflicts(project: Path) -> list[str]:
    """Files left to resolve: unmerged in git's index, with conflict markers, or .rej."""
    git = Git(project)
    try:
        unmerged = git.paths("ls-files", "--unmerged")
        listed = git.paths("ls-files", "--cached", "--others", "--exclude-standard")
        # .rej files count even where the project's .gitignore hides them.
        rejects = git.paths("ls-files", "--others", "--", "*.rej")
    except (RuntimeError, FileNotFoundError):
        unmerged, rejects = [], []
        listed = walked_paths(project)
    unmerged = [line.split("\t", 1)[-1] for line in unmerged]
    found = set(unmerged) | set(rejects) | {path for path in listed if path.endswith(".rej")}
    found |= {path for path in listed if path not in found and has_markers(project / path)}
    # With --conflict rej a file is the release's version and its .rej holds the
    # project's changes: the .rej is the one to act on.
    found -= {path for path in found if f"{path}.rej" in found and not has_markers(project / path)}
    return sorted(path for path in found if (project / path).exists())


def walked_paths(project: Path) -> list[str]:
    found = []
    for folder, subfolders, files in os.walk(project):
        subfolders[:] = [name for name in subfolders if name not in {".git", VENV}]
        found += [Path(folder, name).relative_to(project).as_posix() for name in files]
    return sorted(found)


class Update:
    """One `copier update`, after Copier's merge: the checks and repairs above."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.project = Path.cwd()
        self.git = Git(self.project)
        self.renders = Renders(args.template, scratch)
        self.new_answers = read_answers((self.project / ANSWERS_FILE).read_bytes())
        # An answer the project never recorded (a question its release did not ask,
        # or one given back with --data) was not changed: it had the value it has now.
        self.old_answers = {
            **self.new_answers,
            **read_answers(self.git.head(ANSWERS_FILE)),
        }
        self.package = str(self.new_answers.get("package_name", ""))
        self.report = Report(project=str(self.project), from_=args.pep440_from, to=args.pep440_to)
        self.report.answers_changed = {
            key: [self.old_answers.get(key), self.new_answers.get(key)]
            for key in sorted(set(self.old_answers) | set(self.new_answers))
            if not key.startswith("_") and self.old_answers.get(key) != self.new_answers.get(key)
        }
        self.committed = self.git.paths("ls-tree", "-r", "--name-only", "HEAD", "--", ".")
        self.deleted = [path for path in self.committed if not os.path.lexists(path)]

    # The project as it was, as the release renders it, and in between.
    def old(self) -> Path:
        return self.renders.get(self.args.version_from, self.old_answers)

    def new(self) -> Path:
        return self.renders.get(self.args.version_to, self.new_answers)

    def old_release_new_answers(self) -> Path:
        return self.renders.get(self.args.version_from, self.new_answers)

    def run(self) -> Report:
        self.carry_moved_files()
        self.keep_migrations()
        self.keep_edited_files()
        self.carry_into_renamed_files()
        self.remerge_conflicts()
        self.report.conflicts = find_conflicts(self.project)
        self.mark_listed_conflicts()
        self.extend_migrations()
        self.warn_about_data()
        self.warn_about_renamed_kubernetes_objects()
        return self.report

    def crossed(self, release: str) -> bool:
        start, end = pep440(self.args.pep440_from), pep440(self.args.pep440_to)
        return bool(start and end and start < Version(release) <= end)

    def carry_moved_files(self) -> None:
        for release, old_pattern, new_pattern in MOVED_FILES:
            old_path = old_pattern.format(package=self.package)
            new_path = new_pattern.format(package=self.package)
            if not self.crossed(release) or old_path not in self.deleted:
                continue
            self.deleted.remove(old_path)
            ours = self.git.head(old_path) or b""
            base = read(self.old(), old_path)
            if ours == base:
                continue
            theirs = read(self.project, new_path)
            if theirs is None:
                self.git.restore(old_path)
                self.report.kept.append(
                    {"path": old_path, "why": f"you edited it; {new_path} is not there to take it"}
                )
                continue
            merged, conflicted = merge_file(ours, base or b"", theirs)
            if conflicted and self.args.conflict == "rej":
                Path(new_path + ".rej").write_text(patch(new_path, base or b"", ours))
            else:
                Path(new_path).write_bytes(merged)
            if conflicted:
                self.git.mark_conflicted(new_path, base, ours, theirs)
            self.report.carried.append(
                {"from": old_path, "to": new_path, "conflicts": "yes" if conflicted else "no"}
            )
            # Copier's own patch for the old file has nowhere to go: it is done here.
            Path(old_path + ".rej").unlink(missing_ok=True)

    def keep_migrations(self) -> None:
        """A migration a database may have applied is history: never rewrite it."""
        for path in self.committed:
            if not path.startswith(MIGRATIONS) or not path.endswith(".py"):
                continue
            if read(self.project, path) != self.git.head(path):
                self.git.restore(path)
                Path(path + ".rej").unlink(missing_ok=True)
                self.report.migrations["restored"].append(path)
                if path in self.deleted:
                    self.deleted.remove(path)

    def keep_edited_files(self) -> None:
        """Keep the files the update removed that the team had edited; name the
        team's own files left in folders the template no longer has."""
        if not self.deleted:
            return
        old = self.old()
        kept_packages = set()
        for path in self.deleted:
            ours, base = self.git.head(path), read(old, path)
            if base is None or ours != base:
                self.git.restore(path)
                # Copier's patch for it, in rej mode, has nothing left to apply to.
                Path(path + ".rej").unlink(missing_ok=True)
                cause = (
                    "the new answers no longer produce it"
                    if self.report.answers_changed
                    else "the release no longer has it"
                )
                why = (
                    f"you edited it, and {cause}"
                    if base is not None
                    else f"the template did not generate it, and {cause}"
                )
                self.report.kept.append({"path": path, "why": why})
                if path.endswith(".py"):
                    kept_packages.add(str(Path(path).parent))
            else:
                self.report.removed.append(path)
        for package in sorted(kept_packages):
            init = f"{package}/__init__.py"
            if init in self.report.removed:
                self.git.restore(init)
                self.report.removed.remove(init)
                self.report.kept.append({"path": init, "why": "its package holds kept files"})
        # Folders the template generated before and no longer does: what is left
        # in them is the team's own.
        gone = folders(old) - folders(self.new())
        present = self.git.paths("ls-files", "--cached", "--others", "--exclude-standard")
        kept = {entry["path"] for entry in self.report.kept}
        self.report.left_in_removed_folders = sorted(
            path
            for path in present
            if str(Path(path).parent) in gone and path not in kept and os.path.exists(path)
        )

    def carry_into_renamed_files(self) -> None:
        """Copier keeps a file the team deleted deleted, and drops the release's
        changes to it without a word: a file the team renamed (`git mv
        tests/test_logs.py tests/test_logging.py`) never gets them. Merge them into
        the file it was renamed to; name the others and keep their patch. A
        renamed file whose original the update removes is named too: it stays."""
        not_applied = self.git.git_dir_file(NOT_APPLIED_FILE)
        not_applied.unlink(missing_ok=True)  # an earlier update's
        if not self.report.answers_changed and not self.release_changes_missing_files():
            return
        old, new = self.old(), self.new()
        own = [path for path in self.committed if read(old, path) is None and Path(path).is_file()]
        patches = []
        for path in sorted(rendered_files(old)):
            base, theirs = read(old, path), read(new, path)
            if path in self.committed or path.startswith(MIGRATIONS) or os.path.lexists(path):
                continue
            if base is None or base == theirs:
                continue
            target = renamed_to(path, base, [p for p in own if read(new, p) is None])
            if theirs is None:
                if target is not None:
                    cause = (
                        "the new answers no longer produce"
                        if self.report.answers_changed
                        else "the release no longer has"
                    )
                    why = f"it is {path}, which you renamed, and {cause} that"
                    self.report.kept.append({"path": target, "why": why})
                continue
            if target is None:
                patches.append(patch(path, base, theirs))
                changes = (
                    "the new answers change"
                    if self.report.answers_changed
                    else "the release changes"
                )
                where = os.path.relpath(not_applied, self.project)
                self.report.warnings.append(
                    f"{path}: you deleted it, and {changes} it, which Copier does not apply to a "
                    f"deleted file: the change is in {where}; apply what you still need by hand"
                )
                continue
            ours = Path(target).read_bytes()
            merged, conflicted = merge_file(ours, base, theirs)
            Path(target).write_bytes(merged)
            if conflicted:
                self.git.mark_conflicted(target, base, ours, theirs)
            self.report.renamed.append(
                {"from": path, "to": target, "conflicts": "yes" if conflicted else "no"}
            )
        if patches:
            not_applied.write_text("".join(patches))

    def release_changes_missing_files(self) -> bool:
        """Whether the release changes or removes a template file whose name,
        rendered with the answers, the project lacks (only then are both
        releases rendered)."""
        versions = [self.args.version_from, self.args.version_to, "--", "template"]
        changed = subprocess.run(
            ["git", "diff", "--name-only", "--no-renames", "--diff-filter=MD", "-z", *versions],
            cwd=self.args.template,
            capture_output=True,
            check=False,
        )
        if changed.returncode != 0:
            return True
        import jinja2  # Copier's own dependency

        environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
        context = {**self.new_answers, "_copier_conf": {"answers_file": ANSWERS_FILE}}
        for source in filter(None, os.fsdecode(changed.stdout).split("\0")):
            try:
                names = [
                    environment.from_string(part).render(context).removesuffix(".jinja")
                    for part in source.split("/")[1:]
                ]
            except jinja2.TemplateError:
                return True
            name = "/".join(names)
            if all(names) and name not in self.committed and not name.startswith(MIGRATIONS):
                return True
        return False

    def remerge_conflicts(self) -> None:
        """Merge again, three ways, what Copier merged with the wrong base.

        `--conflict rej` applies the project's changes as a patch, which rejects a
        hunk whose context the release changed even where a three-way merge is
        clean; and a file that comes back with a changed answer is merged against
        an empty file. Here ours is the committed file, theirs the release's
        render, and base the template's file the project started from.
        """
        unmerged: dict[str, dict[str, str]] = {}
        for entry in self.git.paths("ls-files", "--unmerged"):
            info, path = entry.split("\t", 1)
            unmerged.setdefault(path, {})[info.split()[2]] = info.split()[1]
        # Copier merged a file that comes back against an empty base.
        returning = {path for path, stages in unmerged.items() if stages.get("1") == EMPTY_BLOB}
        rejected = {
            path.removesuffix(".rej")
            for path in self.git.paths("ls-files", "--others", "--", "*.rej")
            if path.removesuffix(".rej") in self.committed
        }
        for path in sorted((returning | rejected) - set(self.report.migrations["restored"])):
            ours, theirs = self.git.head(path), read(self.new(), path)
            if ours is None or theirs is None:
                continue
            base = read(self.old(), path)
            if base is None:
                # Its base is the template's version for these answers in the
                # project's release.
                base = read(self.old_release_new_answers(), path) or b""
            merged, conflicted = merge_file(ours, base, theirs)
            if not conflicted:
                Path(path).write_bytes(merged)
                Path(path + ".rej").unlink(missing_ok=True)
                self.git.run("reset", "--quiet", "--", path)
                continue
            if self.args.conflict == "rej":
                if not Path(path + ".rej").exists():
                    Path(path).write_bytes(theirs)
                    Path(path + ".rej").write_text(patch(path, base, ours))
            else:
                Path(path).write_bytes(merged)
            self.git.mark_conflicted(path, base, ours, theirs)

    def mark_listed_conflicts(self) -> None:
        """Put in git's index what Copier's rej mode and the markers leave out of it."""
        unmerged = {line.split("\t", 1)[-1] for line in self.git.paths("ls-files", "--unmerged")}
        for path in self.report.conflicts:
            target = path.removesuffix(".rej")
            if target in unmerged or not Path(target).is_file():
                continue
            ours = self.git.head(target)
            base = read(self.old(), target) if target in self.committed else None
            self.git.mark_conflicted(target, base, ours, read(self.new(), target))
            unmerged.add(target)

    def extend_migrations(self) -> None:
        """Keep `flask db upgrade` to one head, and write what changed answers need."""
        written = self.report.migrations["written"]
        heads = migration_history.heads(self.project)
        if len(heads) > 1:
            merge = migration_history.write_merge(self.project, self.args.pep440_to, heads)
            written.append(merge.relative_to(self.project).as_posix())
        if self.report.answers_changed:
            self.write_answer_change()
        for name, parent in migration_history.missing_parents(self.project):
            self.report.warnings.append(
                f"migrations/versions/{name} revises {parent}, which no migration declares: "
                "`flask db upgrade` will fail until it does"
            )

    def write_answer_change(self) -> None:
        """The template's migrations the database applied were rendered with the old
        answers; the new answers would have rendered some statements differently."""
        before_answers = self.renders.get(self.args.version_to, self.old_answers)
        template_migrations = {
            path.relative_to(self.new()).as_posix()
            for path in (self.new() / MIGRATIONS).glob("*.py")
        }
        # A release's new migrations, when the answers change in the same update,
        # take the old answers too: the release comes first, then the answer
        # change, whose migration follows them. (Rendered with the new answers, a
        # new migration could need a table that only the answer change creates.)
        for path in sorted(template_migrations - set(self.committed)):
            content = read(before_answers, path)
            if (self.project / path).is_file() and content is not None:
                (self.project / path).write_bytes(content)
        shipped = sorted(path for path in template_migrations if (self.project / path).is_file())
        if not shipped:
            return
        before = {path: (read(before_answers, path) or b"").decode() for path in shipped}
        after = {path: (read(self.new(), path) or b"").decode() for path in shipped}
        change = migration_history.answer_change_statements(shipped, before, after)
        if not change.upgrade and not change.downgrade:
            return
        changed = ", ".join(
            f"{key}={json.dumps(new)}" for key, (_, new) in self.report.answers_changed.items()
        )
        slug = "_".join(
            re.sub(r"\W+", "_", f"{key}_{new}").lower()
            for key, (_, new) in self.report.answers_changed.items()
        )[:60]
        heads = migration_history.heads(self.project)
        path = migration_history.write_migration(
            self.project,
            f"template_answers_{slug}",
            f"Bring the template's tables in line with the new answers: {changed}.",
            "Written by the template's update guard when the answers changed: the\n"
            "template's migrations this database applied were written for the old\n"
            "answers. Read it before `flask db upgrade`: removing a feature drops its\n"
            "tables and their rows (back them up first, or edit this file to keep them).",
            heads,
            change.upgrade,
            change.downgrade,
            change.imports,
        )
        self.report.migrations["written"].append(path.relative_to(self.project).as_posix())

    def warn_about_renamed_kubernetes_objects(self) -> None:
        """A new project_slug renames every Kubernetes object and the secret they
        read: `kubectl apply -k` adds the new ones beside the old, which keep
        running (and scaling), and the new pods wait for a secret nobody made."""
        old_slug, new_slug = (
            self.old_answers.get("project_slug"),
            self.new_answers.get("project_slug"),
        )
        manifests = self.project / KUBERNETES
        if old_slug == new_slug or not isinstance(old_slug, str) or not manifests.is_dir():
            return
        name = re.search(
            rb"app\.kubernetes\.io/name: (\S+)", self.git.head(KUBERNETES_SERVICE) or b""
        )
        label = name.group(1).decode() if name else old_slug
        self.report.warnings.append(
            f"project_slug changed from {old_slug} to {new_slug}, and {KUBERNETES} names every "
            f"object and the secret after it: create the secret {new_slug} as {old_slug} was "
            f"(README.md, Kubernetes), `kubectl apply -k {KUBERNETES}`, point your Ingress at "
            "the new Service, then delete the old objects, which would keep running: "
            "kubectl delete deployment,service,job,"
            f"horizontalpodautoscaler,poddisruptionbudget -l app.kubernetes.io/name={label}"
        )

    def warn_about_data(self) -> None:
        data = json.loads(self.args.data or "{}")
        known = questions((Path(self.args.template) / "copier.yml").read_text(encoding="utf-8"))
        for key in ignored_data_keys(data, known):
            self.report.warnings.append(IGNORED_DATA.format(key=key))


def print_report(report: Report) -> None:
    if report.answers_changed:
        changes = ", ".join(
            f"{key}: {json.dumps(old)} -> {json.dumps(new)}"
            for key, (old, new) in report.answers_changed.items()
        )
        say(f"answers changed: {changes}")
    for moved in report.carried:
        how = "WITH CONFLICTS to resolve" if moved["conflicts"] == "yes" else "merged"
        say(f"your edits of {moved['from']} are in {moved['to']}, {how}")
    for moved in report.renamed:
        how = "WITH CONFLICTS to resolve" if moved["conflicts"] == "yes" else "merged"
        say(f"the release's changes to {moved['from']} are in {moved['to']}, its new name, {how}")
    for entry in report.kept:
        say(f"KEPT {entry['path']}: {entry['why']}. Adapt it or delete it.")
    if report.left_in_removed_folders:
        say("your own files in folders the template no longer generates (move or delete them):")
        for path in report.left_in_removed_folders:
            print(f"    {path}")
    for path in report.migrations["restored"]:
        say(f"kept {path} as it was: a database may have applied it")
    for path in report.migrations["written"]:
        say(f"NEW MIGRATION {path}: read it, then `flask db upgrade`")
    for warning in report.warnings:
        say(f"WARNING: {warning}")
    if report.conflicts:
        say(f"CONFLICTS in {len(report.conflicts)} file(s), also marked in git's index:")
        for path in report.conflicts:
            print(f"    {path}")
        say(
            "in each file keep what you need and remove the markers (<<<<<<< before updating "
            "is yours, >>>>>>> after updating the release's); apply each .rej file by hand "
            "and delete it; then `git add` the files."
        )
    else:
        say("no conflicts.")


@contextmanager
def scratch_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="update-guard-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def after(args: argparse.Namespace) -> int:
    project = Path.cwd()
    with scratch_folder() as scratch:
        try:
            report = Update(args, scratch).run()
        except Exception as error:  # a merged update must never fail here
            say(f"could not check this update ({type(error).__name__}: {error})")
            report = Report(project=str(project), from_=args.pep440_from, to=args.pep440_to)
            report.conflicts = find_conflicts(project)
            report.warnings.append(f"the update guard failed: {error}")
    print_report(report)
    try:
        Git(project).git_dir_file(REPORT_FILE).write_text(report.as_json(), encoding="utf-8")
    except (RuntimeError, OSError) as error:
        say(f"could not write the update report: {error}")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["before", "after"], required=True)
    parser.add_argument("--template", required=True, help="Copier's clone of the template")
    parser.add_argument("--version-from", required=True, help="the release updated from (git)")
    parser.add_argument("--version-to", required=True, help="the release updated to (git)")
    parser.add_argument("--pep440-from", default="", help="the same as a PEP 440 version")
    parser.add_argument("--pep440-to", default="", help="the same as a PEP 440 version")
    parser.add_argument("--conflict", default="inline", help="Copier's --conflict mode")
    parser.add_argument("--data", default="{}", help="Copier's --data, as JSON")
    parser.add_argument("--skip-answered", default="False", help="Copier's --skip-answered")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    return before(args) if args.stage == "before" else after(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
