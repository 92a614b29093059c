"""Background jobs: Celery, with Redis as its broker, bound to the Flask app.

A job is a function decorated with Celery's ``@shared_task``. ``enqueue(job,
...)`` queues it; a worker process (worker.py) takes it from Redis and runs it
inside an app context, with the app's config, database and extensions, as a
request would. Celery's settings come from the app's config: every setting
named ``CELERY_`` and Celery's own name in capitals, from config.py, settings.py
or the environment. The tests run jobs at once, in the calling process.
"""

import contextlib
from typing import Any

from celery import Celery, Task
from flask import Flask, current_app, has_app_context
from kombu.exceptions import OperationalError
from werkzeug.exceptions import ServiceUnavailable

from ..extensions import db

# How long a client refused while the broker is unreachable should wait.
RETRY_AFTER_SECONDS = 30


def celery_init_app(app: Flask) -> Celery:
    """Create the app's Celery, as Flask's documentation does, and make it the
    one that ``@shared_task`` jobs are queued with and run by."""

    class FlaskTask(Task):  # type: ignore[type-arg]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            # A fresh app context, so the job has a database session of its own:
            # of the app that queued it when run at once (tests, which make many
            # apps), of the worker's app otherwise.
            job_app = current_app if has_app_context() else app
            with job_app.app_context():
                return self.run(*args, **kwargs)

    celery: Celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(app.config, namespace="CELERY")
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


class JobsUnavailable(ServiceUnavailable):
    description = "Jobs cannot be queued right now. Please try again soon."


def enqueue(job: Task, *args: Any) -> None:  # type: ignore[type-arg]
    """Queue ``job`` with these arguments; raise JobsUnavailable (503, with
    Retry-After) when the broker cannot be reached, rather than fail the
    request with a 500 or keep it waiting."""
    try:
        job.apply_async(args)
    except OperationalError as error:
        current_app.logger.error(
            "job %s not queued, broker unreachable: %s", job.name, error
        )
        raise JobsUnavailable(retry_after=RETRY_AFTER_SECONDS) from None


def discard_interrupted_query() -> None:
    """Make the database session usable again after an exception raised in the
    middle of one of its queries: Celery's SoftTimeLimitExceeded, at
    CELERY_TASK_SOFT_TIME_LIMIT, interrupts a job waiting for a lock, say.

    The connection still awaits that query's result, so rolling back fails
    ("another command is already in progress") and the job could not record
    that it failed. Ask the server to cancel the query, so that it stops too,
    then discard the connection; the session goes on with a new one.
    """
    connection = db.session.connection()
    # psycopg's. A SQLite query has ended by the time Python raises, and its
    # connection rolls back as usual (discarded, an in-memory database would
    # be lost with it).
    cancel = getattr(connection.connection.dbapi_connection, "cancel_safe", None)
    if cancel is not None:
        # Whatever its outcome, the connection is discarded.
        with contextlib.suppress(Exception):
            cancel(timeout=5)
        connection.invalidate()
    db.session.rollback()
