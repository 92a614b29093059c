from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, current_app
from sqlalchemy.exc import DBAPIError

from ..errors import is_connection_failure
from ..extensions import MIGRATIONS_DIRECTORY, db
from .checks import READINESS_CHECKS

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    # Answers without touching the database: a slow or absent database must
    # not make the orchestrator restart a healthy process.
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> tuple[dict[str, str], int]:
    """Whether this process can serve requests now: its database answers and
    has every migration applied, and the service's own checks (checks.py) pass."""
    results = {"database": database_state()}
    for name, check in READINESS_CHECKS.items():
        results[name] = run_check(name, check)
    problems = {name: outcome for name, outcome in results.items() if outcome != "ok"}
    if problems:
        current_app.logger.warning("not ready: %s", problems)
        return {"status": "unavailable", **results}, 503
    return {"status": "ok", **results}, 200


def run_check(name: str, check: Callable[[], str | None]) -> str:
    try:
        return check() or "ok"
    except Exception:
        # A check that breaks says "not ready", as a probe needs, not 500.
        current_app.logger.exception("readiness check %r failed", name)
        return "check failed"


def database_state() -> str:
    """ "ok" when the database answers and is at the migrations' head, or why not."""
    # Alembic is imported on the first check, not at every start-up.
    from alembic.runtime.migration import MigrationContext

    try:
        with db.engine.connect() as connection:
            applied = set(MigrationContext.configure(connection).get_current_heads())
    except DBAPIError as error:
        if is_connection_failure(error):
            current_app.logger.warning("database unreachable: %s", error.orig)
            return "unreachable"
        current_app.logger.exception("database check failed")
        return "error"
    if not Path(MIGRATIONS_DIRECTORY).is_dir():
        # The migrations are read from the working directory, as `flask db`
        # does. Which one goes to the log, not to whoever asks.
        folder = Path.cwd() / MIGRATIONS_DIRECTORY
        current_app.logger.warning("no migrations folder at %s", folder)
        return f"no {MIGRATIONS_DIRECTORY} folder in the working directory"
    heads, known = migrations()
    if applied == heads or (applied and not applied <= known):
        # At the head, or at a newer revision from a later deploy than this
        # process's code: rolling deploys migrate before the old code stops.
        return "ok"
    if not applied:
        return "not migrated: run flask db upgrade"
    return "behind the migrations: run flask db upgrade"


def migrations() -> tuple[set[str], set[str]]:
    """The head revisions of the migrations folder, and every revision in it;
    read once per process."""
    found: tuple[set[str], set[str]] | None = current_app.extensions.get("migrations")
    if found is None:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory(str(Path(MIGRATIONS_DIRECTORY).resolve()))
        found = (
            set(script.get_heads()),
            {revision.revision for revision in script.walk_revisions()},
        )
        current_app.extensions["migrations"] = found
    return found
