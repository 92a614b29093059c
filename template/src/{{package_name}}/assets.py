"""Static file URLs that carry a hash of the file's content (`?v=...`).

A proxy may then let browsers keep static files for a year (deploy/nginx.conf
does): a changed file gets a new URL, so nobody sees a stale stylesheet.
"""

import hashlib
import os
from functools import cache
from typing import Any

from flask import Flask, current_app
from werkzeug.security import safe_join


def init_app(app: Flask) -> None:
    app.url_defaults(add_content_version)


def add_content_version(endpoint: str, values: dict[str, Any]) -> None:
    """Give `url_for("static", filename=...)` the file's content version."""
    if endpoint != "static" or "v" in values or current_app.static_folder is None:
        return
    path = safe_join(current_app.static_folder, values.get("filename", ""))
    if path is None or not os.path.isfile(path):
        return
    values["v"] = content_version(path, os.stat(path).st_mtime_ns)


@cache
def content_version(path: str, modified: int) -> str:
    """A short hash of the file; `modified` makes an edited file hash again."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:12]
