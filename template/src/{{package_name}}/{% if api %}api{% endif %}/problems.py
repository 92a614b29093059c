"""API errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers, from a missing item to an unreachable database,
has this shape; a 422 adds one entry per invalid field.
"""

import json
from typing import Any

from flask import Response, current_app
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, UnprocessableEntity

from .schemas import Query

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


class FieldError(BaseModel):
    """What is wrong with one field: of the JSON body (``pointer``, a JSON
    Pointer such as "/name") or of the query string (``parameter``)."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None


class ValidationProblem(Problem):
    """A request whose fields are invalid: each wrong field, and why."""

    errors: list[FieldError]


class InvalidFields(UnprocessableEntity):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("Some fields are invalid: see `errors`.")
        self.errors = errors


def refuse_invalid_request(
    request: Any,
    response: Any,
    error: Exception | None,
    instance: Any,
    model_adapter: Any,
) -> None:
    """Spectree's hook after it validated a request: turn its validation error
    into a 422 problem."""
    if not isinstance(error, ValidationError):
        return
    in_query = error.title in {model.__name__ for model in Query.__subclasses__()}
    raise InvalidFields([field_error(entry, in_query) for entry in error.errors()])


def field_error(entry: Any, in_query: bool) -> dict[str, str]:
    location = [str(part) for part in entry["loc"]]
    if in_query:
        return {"parameter": ".".join(location), "detail": entry["msg"]}
    pointer = "".join(
        "/" + part.replace("~", "~0").replace("/", "~1") for part in location
    )
    return {"pointer": pointer, "detail": entry["msg"]}


def problem_response(error: HTTPException) -> Response:
    status = error.code or 500
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.name,
        "status": status,
        "detail": error.description or error.name,
    }
    if isinstance(error, InvalidFields):
        body["errors"] = error.errors
    response = current_app.response_class(
        json.dumps(body), status=status, mimetype=MEDIA_TYPE
    )
    # The exception's own headers: Allow for a 405, WWW-Authenticate for a
    # 401, Retry-After where known.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers.add(name, value)
    return response
