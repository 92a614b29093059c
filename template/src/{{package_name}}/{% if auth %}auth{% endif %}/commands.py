"""Commands for the service's owners, under `flask auth`."""

import re

import click
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import User
from .forms import PASSWORD_LENGTH, USERNAME_HINT, USERNAME_LENGTH, USERNAME_PATTERN
from .routes import bp


@bp.cli.command("create-user")
@click.argument("username")
@click.password_option(help="Prompted for, hidden, when not given.")
def create_user(username: str, password: str) -> None:
    """Create a user who can log in as USERNAME."""
    low, high = USERNAME_LENGTH
    if not (low <= len(username) <= high and re.match(USERNAME_PATTERN, username)):
        raise click.BadParameter(
            f"{low} to {high} characters. {USERNAME_HINT}", param_hint="USERNAME"
        )
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise click.BadParameter(f"{low} to {high} characters.", param_hint="PASSWORD")
    user = User(username=username)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        raise click.ClickException(f"The username {username!r} is taken.") from None
    click.echo(f"Created user {username!r}.")
