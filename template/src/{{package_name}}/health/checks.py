"""This service's own readiness checks.

This file is yours: template releases never change it. ``GET /health/ready``
runs the template's checks (the database is reachable) and then each check
here, and answers 503 while any of them reports a problem.

A check takes no arguments and returns None when all is well, or a short reason
why the service cannot serve requests yet (it appears in the response and the
log). Probes call it every few seconds: keep it quick, with a short timeout on
anything it asks over the network. For example::

    def payments_api() -> str | None:
        return None if payments.ping(timeout=1) else "payments API unreachable"

    READINESS_CHECKS = {"payments": payments_api}
"""

from collections.abc import Callable

READINESS_CHECKS: dict[str, Callable[[], str | None]] = {}
