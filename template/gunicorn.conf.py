"""Gunicorn settings, read from the working directory by `gunicorn`.

Gunicorn binds to 127.0.0.1:8000, or to 0.0.0.0:$PORT when PORT is set (as in
the container image); WEB_CONCURRENCY sets the number of workers.
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Access log lines go to stdout, where container platforms collect them.
accesslog = "-"
# On SIGTERM, give in-flight requests this long to finish.
graceful_timeout = 30
