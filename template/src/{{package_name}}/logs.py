"""Logging: one line per request, each tagged with a request id; JSON in production.

The app's own messages go through the standard logging module (app.logger).
The access line, written for every request, is built here from the request's
few fields and written straight to stdout, in the same format: the logging
module's records, handlers and formatters would cost ten times as much, on
every request.
"""

import json
import logging
import os
import re
import sys
import threading
import time
from json.encoder import encode_basestring

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.wrappers import Response

# An id from the load balancer is kept if it looks like one, so a request can
# be followed across services; anything else is replaced.
INCOMING_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
JSON_TIME = "%Y-%m-%dT%H:%M:%S%z"
# The access line in JSON, as JsonFormatter would write it with the request's
# fields; its values are JSON already.
JSON_ACCESS_LINE = (
    '{"time": %s, "level": "INFO", "logger": %s, "message": %s, '
    '"request_id": %s, "method": %s, "path": %s, "status": %d, '
    '"duration_ms": %r, "remote_addr": %s}\n'
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, JSON_TIME),
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


class AccessLog:
    """Writes the access line of a request, as the app's formatter would."""

    def __init__(self, logger: str, json_lines: bool) -> None:
        self.logger = logger
        self.json_lines = json_lines
        self.lock = threading.Lock()
        self.second = -1
        self.stamp = ""

    def now(self) -> str:
        """The time, formatted once per second rather than once per line."""
        moment = time.time()
        second = int(moment)
        if second != self.second:
            local = time.localtime(second)
            pattern = JSON_TIME if self.json_lines else "%Y-%m-%d %H:%M:%S"
            self.second, self.stamp = second, time.strftime(pattern, local)
        if self.json_lines:
            return self.stamp
        return f"{self.stamp},{int((moment - second) * 1000):03d}"

    def write(self, response: Response, request_id: str, milliseconds: float) -> None:
        method, path, status = request.method, request.path, response.status_code
        message = f"{method} {path} {status} {milliseconds:.1f}ms"
        if self.json_lines:
            quote = encode_basestring  # a JSON string, as json.dumps writes it
            line = JSON_ACCESS_LINE % (
                quote(self.now()),
                quote(self.logger),
                quote(message),
                quote(request_id),
                quote(method),
                quote(path),
                status,
                milliseconds,
                json.dumps(request.remote_addr),
            )
        else:
            if not message.isprintable():
                # A path may hold any character, newlines too: escaped, it
                # cannot end the line and forge the next.
                message = message.encode("unicode_escape").decode("ascii")
            line = f"{self.now()} INFO {message} request_id={request_id}\n"
        stream = sys.stdout
        with self.lock:
            stream.write(line)
            stream.flush()


def init_app(app: Flask) -> None:
    """Call before anything else registers request hooks: every later hook, and
    every error response, can then rely on the request id."""
    json_lines = app.config["LOG_FORMAT"] == "json"
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    app.logger.handlers = [handler]
    app.logger.setLevel(logging.INFO)
    app.extensions["access_log"] = AccessLog(app.logger.name, json_lines)
    app.before_request(start_request)
    app.after_request(log_request)


def start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if INCOMING_REQUEST_ID.match(incoming) else new_id()
    g.started = time.perf_counter()


def new_id() -> str:
    # 128 random bits in hex, as uuid4().hex gives, in a fifth of the time.
    return os.urandom(16).hex()


def log_request(response: Response) -> Response:
    request_id = g.request_id
    response.headers["X-Request-ID"] = request_id
    milliseconds = round((time.perf_counter() - g.started) * 1000, 1)
    current_app.extensions["access_log"].write(response, request_id, milliseconds)
    return response
