"""Time API calls in-process in a generated project (default answers), with its
own Python: benchmarks/api_overhead.py runs it in each project it compares.

    .venv/bin/python api_calls.py [--calls 2000] [--token]

Prints, on its last line, the median microseconds of each call as JSON. With
--token the calls carry a personal access token instead of the session cookie
(releases that have tokens only).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from flask_service import create_app, models
from flask_service.extensions import db

PASSWORD = "a benchmark password"
WARM_UP = 200


def timed(call: Callable[[], Any], expected: int, calls: int) -> float:
    """Median microseconds of ``call``, which must answer ``expected``."""
    for _ in range(WARM_UP):
        response = call()
        assert response.status_code == expected, (response.status_code, response.data)
    timings = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        call()
        timings.append(time.perf_counter_ns() - started)
    return statistics.median(timings) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--token", action="store_true")
    options = parser.parse_args()

    app = create_app("testing")
    # One log line per request is the same work in every release; keep it off
    # the terminal.
    logging.disable(logging.INFO)
    with app.app_context():
        db.create_all()
        user = models.User(username="bench")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        headers = {}
        if options.token:
            _, secret = models.ApiToken.issue(user, name="bench", scope="read-write", days=1)
            db.session.commit()
            headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    if not options.token:
        login = client.post("/auth/login", data={"username": "bench", "password": PASSWORD})
        assert login.status_code == 302, login.status_code

    body = {"name": "Widget", "description": "Blue"}
    created = client.post("/api/v1/items", json=body, headers=headers)
    assert created.status_code == 201, created.data
    item = f"/api/v1/items/{created.json['id']}"
    figures = {
        "GET /api/v1/items/<id>": timed(
            lambda: client.get(item, headers=headers), 200, options.calls
        ),
        "PATCH /api/v1/items/<id>": timed(
            lambda: client.patch(item, json={"description": "Green"}, headers=headers),
            200,
            options.calls,
        ),
        "POST /api/v1/items": timed(
            lambda: client.post("/api/v1/items", json=body, headers=headers), 201, options.calls
        ),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
