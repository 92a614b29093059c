"""Gunicorn settings, read from the working directory by `gunicorn`.

Gunicorn binds to 127.0.0.1:8000, or to 0.0.0.0:$PORT when PORT is set (as in
the container image); WEB_CONCURRENCY sets the number of workers.
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# The app itself writes the access log to stdout, one line per request with its
# request id (JSON in production); gunicorn's own would repeat every line.
accesslog = None
# On SIGTERM, give in-flight requests this long to finish.
graceful_timeout = 30
