from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    # Answers without touching the database: a slow or absent database must
    # not make the orchestrator restart a healthy process.
    return {"status": "ok"}
