"""Limits on login and registration attempts, counted in the database.

Every worker process and every instance of the service shares the database, so
the limits hold exactly as configured however many of them there are, with no
other server to run. Two limits apply to logging in:

- per client address (LOGIN_RATE_LIMIT), also for registering; an IPv6
  client counts as its /64, which it is given whole;
- per account (LOGIN_ACCOUNT_LIMIT), whatever addresses the attempts come from.
  It counts attempts at a username whether or not an account has it, so its
  answer reveals nothing about which usernames exist.

A refused attempt is answered 429 before any password is hashed. A successful
login clears its account's count. Counts are kept under a keyed hash of what
they count, so the table holds no typed username (people type passwords into
username fields).

Flask-Limiter would check its limits on every request, health checks included,
and cannot keep its counts in the database; these are the only two places that
need limits, and one upsert per limit is all they take.
"""

import hashlib
import hmac
import ipaddress
import math
from datetime import UTC, timedelta

from flask import current_app, request
from sqlalchemy import DateTime, Integer, bindparam, text
from werkzeug.exceptions import TooManyRequests

from ..config import parse_rate_limits
from ..extensions import db
from ..models import username_key, utcnow

# One statement counts an attempt: it starts a new window, or adds to the
# current one. SQLite (3.24 and later) and PostgreSQL both read it this way.
# Times are bound as the model's column type, so both databases compare them
# as they store them.
MOMENTS = (
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("window_ends", type_=DateTime(timezone=True)),
)
COUNT_ATTEMPT = text(
    """
    INSERT INTO login_attempts (subject, attempts, window_ends)
    VALUES (:subject, 1, :window_ends)
    ON CONFLICT (subject) DO UPDATE SET
        attempts = CASE WHEN login_attempts.window_ends > :now
            THEN login_attempts.attempts + 1 ELSE 1 END,
        window_ends = CASE WHEN login_attempts.window_ends > :now
            THEN login_attempts.window_ends ELSE excluded.window_ends END
    """
).bindparams(*MOMENTS)
READ_ATTEMPTS = text(
    "SELECT attempts, window_ends FROM login_attempts WHERE subject = :subject"
).columns(attempts=Integer, window_ends=DateTime(timezone=True))
FORGET_EXPIRED = text(
    "DELETE FROM login_attempts WHERE window_ends <= :now"
).bindparams(MOMENTS[0])
FORGET = text("DELETE FROM login_attempts WHERE subject = :subject")


def check_address() -> None:
    """Count an attempt from this client address; 429 once over its limit."""
    check("address", client_network(request.remote_addr or ""), "LOGIN_RATE_LIMIT")


def client_network(address: str) -> str:
    """What one client controls: its IPv4 address, or its IPv6 /64 (a home or a
    server is given a whole /64, so counting single IPv6 addresses would let
    one client make billions of attempts)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def check_account(username: str) -> None:
    """Count an attempt at this username; 429 once over its limit."""
    check("account", username_key(username), "LOGIN_ACCOUNT_LIMIT")


def forget_account(username: str) -> None:
    """Clear an account's count after a successful login."""
    for seconds in windows("LOGIN_ACCOUNT_LIMIT"):
        subject = subject_for("account", username_key(username), seconds)
        db.session.execute(FORGET, {"subject": subject})


def check(kind: str, value: str, setting: str) -> None:
    if not current_app.config["LOGIN_LIMITS_ENABLED"]:
        return
    now = utcnow()
    wait = 0.0
    for attempts, seconds in parse_rate_limits(current_app.config[setting]):
        subject = subject_for(kind, value, seconds)
        window_ends = now + timedelta(seconds=seconds)
        db.session.execute(
            COUNT_ATTEMPT, {"subject": subject, "now": now, "window_ends": window_ends}
        )
        counted, ends = db.session.execute(READ_ATTEMPTS, {"subject": subject}).one()
        if counted == 1:
            # A new window: a good moment to drop the windows that have ended.
            db.session.execute(FORGET_EXPIRED, {"now": now})
        if counted > attempts:
            # SQLite gives back times without their zone; they are UTC.
            ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
            wait = max(wait, (ends - now).total_seconds())
    db.session.commit()
    if wait:
        raise TooManyRequests(
            "Too many attempts. Please wait before trying again.",
            retry_after=max(1, math.ceil(wait)),
        )


def windows(setting: str) -> list[int]:
    return [seconds for _, seconds in parse_rate_limits(current_app.config[setting])]


def subject_for(kind: str, value: str, seconds: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{kind}:{seconds}:{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
