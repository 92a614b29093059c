"""Limits on login and registration attempts, counted in Redis or the database.

The counts are kept where every worker process and every instance of the
service shares them, so the limits hold exactly as configured however many of
them there are: in Redis when the service has one (LOGIN_LIMITS_REDIS_URL, by
default REDIS_URL; see redis_counts.py), which spares the database a write per
attempt, else in the database, with no other server to run. While that Redis is
unreachable, the database counts instead, so that the limits neither lapse nor
lock everyone out, and no attempt fails for it. Two limits apply to logging in:

- per client address (LOGIN_RATE_LIMIT), also for registering; an IPv6
  client counts as its /64, which it is given whole;
- per account (LOGIN_ACCOUNT_LIMIT), whatever addresses the attempts come from.
  It counts attempts at a username whether or not an account has it, so its
  answer reveals nothing about which usernames exist.

A refused attempt is answered 429 before any password is hashed. A successful
login clears its account's count. Counts are kept under a keyed hash of what
they count, so the table holds no typed username (people type passwords into
username fields).

The API's writes per user (API_WRITE_LIMIT, with the API) are counted here
too, by ``check``, in the same places.

Flask-Limiter would check its limits on every request, health checks included,
and cannot keep its counts in the database; these are the only places that
need limits, and one upsert (or one Redis transaction) per limit is all they take.
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
from .redis_counts import RedisCounts

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
    if not current_app.config["LOGIN_LIMITS_ENABLED"]:
        return
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
    if not current_app.config["LOGIN_LIMITS_ENABLED"]:
        return
    check("account", username_key(username), "LOGIN_ACCOUNT_LIMIT")


def forget_account(username: str) -> None:
    """Clear an account's count after a successful login."""
    if not current_app.config["LOGIN_LIMITS_ENABLED"]:
        return
    subjects = [
        subject_for("account", username_key(username), seconds)
        for seconds in windows("LOGIN_ACCOUNT_LIMIT")
    ]
    if counts := redis_counts():
        counts.forget(subjects)
    # Also what an outage of Redis may have left in the database.
    for subject in subjects:
        db.session.execute(FORGET, {"subject": subject})


def check(
    kind: str,
    value: str,
    setting: str,
    refusal: str = "Too many attempts. Please wait before trying again.",
) -> None:
    """Count one more of ``kind`` for ``value`` in each window of the limits
    that ``setting`` holds; 429 with ``refusal`` and Retry-After once over any."""
    limits = parse_rate_limits(current_app.config[setting])
    subjects = [(subject_for(kind, value, seconds), seconds) for _, seconds in limits]
    counts = redis_counts()
    counted = counts.count(subjects) if counts else None
    if counted is None:
        counted = count_in_database(subjects)
    waits = [
        seconds_left
        for (attempts, _), (so_far, seconds_left) in zip(limits, counted, strict=True)
        if so_far > attempts
    ]
    if waits:
        raise TooManyRequests(refusal, retry_after=max(1, math.ceil(max(waits))))


def redis_counts() -> RedisCounts | None:
    """The app's counts in Redis, or None if its login limits use no Redis."""
    url = current_app.config["LOGIN_LIMITS_REDIS_URL"]
    if not url:
        return None
    counts = current_app.extensions.get("login_limits_redis")
    if counts is None or counts.url != url:
        counts = current_app.extensions["login_limits_redis"] = RedisCounts(url)
    return counts


def count_in_database(subjects: list[tuple[str, int]]) -> list[tuple[int, float]]:
    """Count an attempt in each ``(subject, seconds)`` window: each one's
    attempts so far and the seconds it has left."""
    now = utcnow()
    counted = []
    for subject, seconds in subjects:
        window_ends = now + timedelta(seconds=seconds)
        db.session.execute(
            COUNT_ATTEMPT, {"subject": subject, "now": now, "window_ends": window_ends}
        )
        so_far, ends = db.session.execute(READ_ATTEMPTS, {"subject": subject}).one()
        if so_far == 1:
            # A new window: a good moment to drop the windows that have ended.
            db.session.execute(FORGET_EXPIRED, {"now": now})
        # SQLite gives back times without their zone; they are UTC.
        ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
        counted.append((so_far, (ends - now).total_seconds()))
    db.session.commit()
    return counted


def windows(setting: str) -> list[int]:
    return [seconds for _, seconds in parse_rate_limits(current_app.config[setting])]


def subject_for(kind: str, value: str, seconds: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{kind}:{seconds}:{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
