"""Interactive API docs at /api/docs: Swagger UI, served from the
swagger-ui-bundle-v2 package, so the page needs no other host and works
offline under the service's Content-Security-Policy."""

from flask import Blueprint, Response, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

# The files docs.html loads. The package holds a whole Swagger UI distribution
# besides (a demo page that loads a public sample spec, an OAuth redirect page,
# source maps): none of it is the service's to serve.
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})

bp = Blueprint("api_docs", __name__)


@bp.get("")
def docs() -> str:
    return render_template("api/docs.html")


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, name)
