"""Background jobs: Celery, with Redis as its broker, bound to the Flask app.

A job is a function decorated with Celery's ``@shared_task``. ``enqueue(job,
...)`` queues it; a worker process (worker.py) takes it from Redis and runs it
inside an app context, with the app's config, database and extensions, as a
request would. Celery's settings come from the app's config: every setting
named ``CELERY_`` and Celery's own name in capitals, from config.py, settings.py
or the environment. The tests run jobs at once, in the calling process.
"""

from typing import Any

from celery import Celery, Task
from flask import Flask, current_app, has_app_context
from kombu.exceptions import OperationalError
from werkzeug.exceptions import ServiceUnavailable

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
