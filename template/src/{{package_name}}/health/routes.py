from collections.abc import Callable

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from .checks import READINESS_CHECKS

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    # Answers without touching the database: a slow or absent database must
    # not make the orchestrator restart a healthy process.
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> tuple[dict[str, str], int]:
    """Whether this process can serve requests now: its database answers, and
    so do the service's own checks (checks.py)."""
    results = {"database": database_reachable()}
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


def database_reachable() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except DBAPIError as error:
        current_app.logger.warning("database unreachable: %s", error.orig)
        return "unreachable"
    return "ok"
