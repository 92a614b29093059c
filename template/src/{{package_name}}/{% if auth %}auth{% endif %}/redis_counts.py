"""Login attempt counts kept in Redis, for throttle.py, when the service has one.

Each window of each limit is one key that expires when the window ends: one
transaction creates it with the window's lifetime unless it exists, adds the
attempt, and reads how long the window has left. Every process of every
instance that uses the same Redis shares the counts, as it would the database's,
and the database writes nothing for a login attempt.

While Redis cannot be reached, ``count`` answers None (within about a second)
and throttle.py counts in the database instead, so that the limits neither
lapse nor lock everyone out. Each process warns once per outage, tries Redis
again every few seconds, and says when it is back. Counts made on one side are
not carried to the other: the switch starts a client's windows afresh at most
once each way.
"""

import time
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from redis import Redis

# Keys are this and a keyed hash of what they count (see throttle.subject_for).
KEY_PREFIX = "login-attempts:"
# Give up connecting to, or waiting for, Redis after this long.
TIMEOUT_SECONDS = 1.0
# After Redis failed, count in the database this long before trying it again,
# so an outage costs each login no wait.
RETRY_AFTER_FAILURE_SECONDS = 5.0


class RedisCounts:
    def __init__(self, url: str) -> None:
        # Imported here: redis-py takes a while to import, and only services
        # whose login limits use Redis need it.
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.client: Redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            # One immediate retry on a new connection: a pooled connection that
            # a restart of Redis closed fails once, and should not count as an
            # outage.
            retry=Retry(NoBackoff(), 1),
        )
        self.errors = redis.RedisError
        self.unreachable = False
        self.next_try = 0.0

    def count(self, windows: list[tuple[str, int]]) -> list[tuple[int, float]] | None:
        """Count an attempt in each ``(subject, seconds)`` window, and give each
        one's attempts so far and the seconds it has left; None while Redis
        cannot be reached."""
        if self.unreachable and time.monotonic() < self.next_try:
            return None
        try:
            with self.client.pipeline(transaction=True) as transaction:
                for subject, seconds in windows:
                    key = KEY_PREFIX + subject
                    transaction.set(key, 0, ex=seconds, nx=True)
                    transaction.incr(key)
                    transaction.pttl(key)
                replies = transaction.execute()
        except self.errors as error:
            self.failed(error)
            return None
        self.reached()
        # Per window: the SET's reply, the count, the milliseconds left.
        return [
            (int(replies[n + 1]), max(int(replies[n + 2]), 0) / 1000)
            for n in range(0, len(replies), 3)
        ]

    def forget(self, subjects: list[str]) -> None:
        """Drop these counts; while Redis is unreachable they end with their
        windows."""
        if self.unreachable and time.monotonic() < self.next_try:
            return
        try:
            self.client.delete(*(KEY_PREFIX + subject for subject in subjects))
        except self.errors as error:
            self.failed(error)
        else:
            self.reached()

    def failed(self, error: Exception) -> None:
        self.next_try = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
        if not self.unreachable:
            self.unreachable = True
            current_app.logger.warning(
                "Redis unreachable for login limits (%s): counting login attempts "
                "in the database until it is back",
                error,
            )

    def reached(self) -> None:
        if self.unreachable:
            self.unreachable = False
            current_app.logger.warning(
                "Redis reachable again: counting login attempts there"
            )
