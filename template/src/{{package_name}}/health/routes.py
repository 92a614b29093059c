from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ..extensions import db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    # Answers without touching the database: a slow or absent database must
    # not make the orchestrator restart a healthy process.
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> tuple[dict[str, str], int]:
    """Whether this process can serve requests now: its database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except DBAPIError as error:
        current_app.logger.warning("not ready: database unreachable: %s", error.orig)
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}, 200
