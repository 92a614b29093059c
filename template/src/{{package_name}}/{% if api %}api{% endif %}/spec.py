"""The API's contract: spectree validates each route's request and response
against its pydantic schemas, and builds the OpenAPI 3.1 document from them.

Spectree decorates views and leaves Flask's app and blueprint classes as they
are; the README says why it was chosen over the alternatives.
"""

import copy
from typing import Any

from flask import Response, current_app, jsonify
from spectree import SpecTree

from .authentication import SECURITY_SCHEMES
from .blueprint import bp
from .problems import MEDIA_TYPE, Problem, ValidationProblem, refuse_invalid_request

spec = SpecTree(
    "flask",
    # Only routes decorated with spec.validate belong in the document.
    mode="strict",
    version="1",
    before=refuse_invalid_request,
    validation_error_status=422,
    validation_error_model=ValidationProblem,
)

# Errors any operation may answer, besides those it declares itself.
COMMON_ERRORS = {
    "400": "The path or the query string holds a NUL character.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "500": "An unexpected error; the log has its request id.",
    "503": "The database is briefly unreachable.",
}
# ... and those of operations that take a JSON body.
BODY_ERRORS = {
    "400": "The body is not valid JSON, is nested too deeply, has an object with "
    "a key twice or holds text no database can store (NUL, unpaired surrogates); "
    "the path or the query string holds a NUL character; or a session's CSRF "
    "token is missing.",
    "413": "The body is larger than the service accepts.",
    "415": "The body is not sent as application/json.",
}
# ... and those the HTTP server answers before the request reaches the service,
# with a page of its own.
SERVER_ERRORS = {
    "414": "The path and query string are longer than the HTTP server reads "
    "(4,094 bytes under gunicorn).",
}
# What operations answer other than JSON, which spectree cannot declare:
# operation id -> status -> the response's OpenAPI content (media types).
OTHER_CONTENT: dict[str, dict[str, dict[str, Any]]] = {}


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document, public like the docs that read it."""
    return jsonify(openapi_document())


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the current app's API, built once per app."""
    cache: dict[str, Any] = current_app.extensions.setdefault("openapi", {})
    if "document" not in cache:
        cache["document"] = complete(copy.deepcopy(spec.spec))
    document: dict[str, Any] = cache["document"]
    return document


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add to spectree's document what it cannot know: the service's name, the
    security schemes, and errors as problem details."""
    document["info"]["title"] = f"{current_app.config['APP_NAME']} API"
    schemes = copy.deepcopy(SECURITY_SCHEMES)
    if "sessionCookie" in schemes:
        # The cookie's name in this app's config, which only production
        # prefixes with __Host-.
        schemes["sessionCookie"]["name"] = current_app.config["SESSION_COOKIE_NAME"]
    document["components"]["securitySchemes"] = schemes
    document["components"]["schemas"].setdefault("Problem", problem_schema())
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            other = OTHER_CONTENT.get(operation["operationId"], {})
            for code, content in other.items():
                responses[code]["content"] = content
            errors = dict(COMMON_ERRORS)
            if "requestBody" in operation:
                errors |= BODY_ERRORS
            for code, description in errors.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    as_problem(response)
            for code, description in SERVER_ERRORS.items():
                responses.setdefault(
                    code, {"description": description, "content": {"text/html": {}}}
                )
    return document


def problem_schema() -> dict[str, Any]:
    schema: dict[str, Any] = Problem.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    return schema


def as_problem(response: dict[str, Any]) -> None:
    """Declare an error response as a problem document."""
    content = response.pop("content", {})
    schema = content.get("application/json", {}).get(
        "schema", {"$ref": "#/components/schemas/Problem"}
    )
    response["content"] = {MEDIA_TYPE: {"schema": schema}}
