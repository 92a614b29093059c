"""The API's blueprint, and what every request to it goes through."""

from flask import Blueprint, request
from werkzeug.exceptions import UnsupportedMediaType

from ..extensions import csrf
from .authentication import authenticate
from .problems import InvalidFields

bp = Blueprint("api", __name__)
# Token requests need no CSRF token: a browser never attaches a bearer token by
# itself. Requests that a session cookie authenticates are checked in
# authentication.py instead.
csrf.exempt(bp)
# First who is calling (a bad token is refused before anything else), then
# the body.
bp.before_request(authenticate)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@bp.before_request
def read_json_body() -> None:
    """Parse the JSON body once, so that a malformed one is a clear 400 (see
    parsing.py: not JSON, nested too deeply, or holding text no database can
    store), not a validation error about fields; validation happens in each
    view."""
    if request.method not in BODY_METHODS:
        return
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send a JSON body with Content-Type: application/json."
        )
    body = request.get_json()
    if not body and not isinstance(body, dict):
        # Spectree would read null, false, 0, "" and [] as {}.
        raise InvalidFields([{"pointer": "", "detail": "Input should be an object"}])
