"""Interactive API docs at /api/docs: Swagger UI, served from the
swagger-ui-bundle-v2 package, so the page needs no other host and works
offline under the service's Content-Security-Policy."""

from flask import Blueprint, render_template
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

bp = Blueprint(
    "api_docs", __name__, static_folder=str(swagger_ui_path), static_url_path="/assets"
)


@bp.get("")
def docs() -> str:
    return render_template("api/docs.html")
