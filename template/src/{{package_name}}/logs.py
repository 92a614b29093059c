"""Logging: one line per request, each tagged with a request id; JSON in production."""

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.wrappers import Response

# An id from the load balancer is kept if it looks like one, so a request can
# be followed across services; anything else is replaced.
INCOMING_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if has_request_context() and "request_id" in g:
            line += f" request_id={g.request_id}"
        return line


def init_app(app: Flask) -> None:
    """Call before anything else registers request hooks: every later hook, and
    every error response, can then rely on the request id."""
    handler = logging.StreamHandler(sys.stdout)
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    app.logger.handlers = [handler]
    app.logger.setLevel(logging.INFO)
    app.before_request(start_request)
    app.after_request(log_request)


def start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if INCOMING_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


def log_request(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.request_id
    milliseconds = round((time.perf_counter() - g.started) * 1000, 1)
    current_app.logger.info(
        "%s %s %s %.1fms",
        request.method,
        request.path,
        response.status_code,
        milliseconds,
        extra={
            "fields": {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": milliseconds,
                "remote_addr": request.remote_addr,
            }
        },
    )
    return response
