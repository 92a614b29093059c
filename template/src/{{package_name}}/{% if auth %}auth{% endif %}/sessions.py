"""Who is logged in: the login token kept in the session and remember-me cookies.

A token names the user, the user's session generation, when the login happened
and a random part, so it differs on every login. It opens the account only while
the generation matches, which logging out, changing the password and an
operator's `flask auth set-password` end by raising it, and only for
REMEMBER_COOKIE_DURATION after the login, however long a browser keeps the
cookie. Flask signs both cookies with SECRET_KEY, so a token cannot be forged.
"""

import re
import secrets
import time

from flask import current_app, request, session
from flask_login import login_user

from ..extensions import db, login_manager
from ..models import User
from ..parsing import LARGEST_INTEGER

TOKEN = re.compile(r"^(\d{1,19}):(\d{1,19}):(\d{1,12}):([A-Za-z0-9_-]{11})$")


def log_in(user: User, *, remember: bool) -> None:
    """Start a session for ``user``, with a token of its own.

    Nothing the session held before carries over, its CSRF secret included:
    a session planted in the browser before the login (a page on a sibling
    subdomain may set this site's cookies) would otherwise bring a CSRF token
    its planter knows into the logged-in session.
    """
    issued = int(time.time())
    user.session_token = (
        f"{user.id}:{user.session_generation}:{issued}:{secrets.token_urlsafe(8)}"
    )
    session.clear()
    login_user(user, remember=remember)


def end_every_session(user: User) -> None:
    """Sign ``user`` out everywhere: no earlier token opens the account again."""
    user.end_sessions()
    db.session.commit()


def remembered() -> bool:
    """Whether this browser holds a remember-me cookie."""
    name = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    return name in request.cookies


def treat_as_anonymous() -> None:
    """Show the rest of this request's pages as to a visitor, without ending
    the session: for an error page when the user cannot be loaded."""
    login_manager._update_request_context_with_user(None)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user a session or remember-me token opens, or None if it no longer does."""
    parts = TOKEN.fullmatch(token)
    if parts is None:
        # Includes the bare user ids of sessions from before tokens existed.
        return None
    user_id, generation, issued = (int(part) for part in parts.groups()[:3])
    age = time.time() - issued
    lifetime = current_app.config["REMEMBER_COOKIE_DURATION"].total_seconds()
    if user_id > LARGEST_INTEGER or not -60 < age < lifetime:
        return None
    user = db.session.get(User, user_id)
    if user is None or user.session_generation != generation:
        return None
    user.session_token = token
    return user
