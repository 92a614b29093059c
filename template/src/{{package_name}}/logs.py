"""Logging: one line per request, each tagged with a request id; JSON in production.

The app's own messages go through the standard logging module (app.logger).
The access line, written for every request, and the request id are the work
of a WSGI middleware below Flask, working on the WSGI environ and header list:
they cost a few dictionary lookups per request, where Flask's request hooks,
header objects and the logging module would cost ten times as much.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from flask import Flask, has_request_context, request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# An id from the load balancer is kept if it looks like one, so a request can
# be followed across services; anything else is replaced.
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The WSGI environ's key (request.environ) for the request's id.
REQUEST_ID = f"{__name__}.request_id"
JSON_TIME = "%Y-%m-%dT%H:%M:%S%z"
# The access line in JSON, as JsonFormatter would write it with the request's
# fields; its values are JSON already.
JSON_ACCESS_LINE = (
    '{"time": %s, "level": "INFO", "logger": %s, "message": %s, '
    '"request_id": %s, "method": %s, "path": %s, "status": %d, '
    '"duration_ms": %r, "remote_addr": %s}\n'
)


def current_request_id() -> str | None:
    """The id of the request being handled (sent back in X-Request-ID), or None
    outside a request: pass it on to the services this one calls."""
    if not has_request_context():
        return None
    found: str | None = request.environ.get(REQUEST_ID)
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, JSON_TIME),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (request_id := current_request_id()) is not None:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def __init__(self, encoding: str | None = "utf-8") -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        # That of the stream the lines go to.
        self.encoding = encoding

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if not message.isprintable():
            # Messages carry what clients sent too (Flask logs a failed
            # request as "Exception on <path>"): escaped, as the access line
            # is, a line break cannot end the line and forge the next, nor an
            # escape sequence restyle a terminal. A traceback still spans lines.
            fields = {**record.__dict__, "msg": escaped(message), "args": None}
            record = logging.makeLogRecord(fields)
        line = super().format(record)
        if (request_id := current_request_id()) is not None:
            line += f" request_id={request_id}"
        return writable(line, self.encoding)


class AccessLog:
    """WSGI middleware: gives each request its id (in the environ and the
    X-Request-ID response header) and writes its access line, in the app's
    log format, once the response's status is known."""

    def __init__(self, app: WSGIApplication, logger: str, json_lines: bool) -> None:
        self.app = app
        self.logger = logger
        self.json_lines = json_lines
        self.lock = threading.Lock()
        self.second = -1
        self.stamp = ""

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if INCOMING_REQUEST_ID.fullmatch(incoming) else new_id()
        environ[REQUEST_ID] = request_id

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            headers.append(("X-Request-ID", request_id))
            milliseconds = round((time.perf_counter() - started) * 1000, 1)
            self.write(environ, int(status[:3]), milliseconds)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

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

    def write(self, environ: WSGIEnvironment, status: int, duration: float) -> None:
        request_id = environ[REQUEST_ID]
        method = environ.get("REQUEST_METHOD", "GET").upper()
        # The path as request.path reads it: WSGI gives its bytes as latin-1.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode(errors="replace")
        path = "/" + path.lstrip("/")
        message = f"{method} {path} {status} {duration:.1f}ms"
        if self.json_lines:
            # A JSON string in ASCII, as json.dumps writes the app's own lines:
            # every stdout takes it (see writable).
            quote = encode_basestring_ascii
            address = environ.get("REMOTE_ADDR")
            line = JSON_ACCESS_LINE % (
                quote(self.now()),
                quote(self.logger),
                quote(message),
                quote(request_id),
                quote(method),
                quote(path),
                status,
                duration,
                "null" if address is None else quote(address),
            )
        else:
            if not message.isprintable():
                # A path may hold any character, newlines too: escaped, it
                # cannot end the line and forge the next.
                message = escaped(message)
            line = f"{self.now()} INFO {message} request_id={request_id}\n"
        stream = sys.stdout
        if not self.json_lines:
            line = writable(line, getattr(stream, "encoding", None))
        with self.lock:
            stream.write(line)
            stream.flush()


def init_app(app: Flask) -> None:
    """Call before other middleware wraps the app: they see the request id."""
    json_lines = app.config["LOG_FORMAT"] == "json"
    handler = logging.StreamHandler(sys.stdout)
    encoding = getattr(sys.stdout, "encoding", None)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(encoding))
    app.logger.handlers = [handler]
    app.logger.setLevel(logging.INFO)
    app.wsgi_app = AccessLog(app.wsgi_app, app.logger.name, json_lines)  # type: ignore[method-assign]


def escaped(text: str) -> str:
    """``text`` on one line of printable ASCII: "\\n" for a line break."""
    return text.encode("unicode_escape").decode("ascii")


def writable(text: str, encoding: str | None) -> str:
    """``text`` as a stream in ``encoding`` can write it: the characters the
    encoding lacks as backslash escapes ("\\u2603").

    A stdout in ASCII (PYTHONIOENCODING=ascii) or Latin-1 (such a locale)
    raised UnicodeEncodeError on a path such as "/caf%C3%A9": for the access
    line, a 500 for the request; for the app's messages, a traceback.
    """
    if text.isascii():
        return text
    encoding = encoding or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def new_id() -> str:
    # 128 random bits in hex, as uuid4().hex gives, in a fifth of the time.
    return os.urandom(16).hex()
