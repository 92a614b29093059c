"""Commands for the service's owners, under `flask auth`."""

import click
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import PASSWORD_LENGTH, User
from .forms import username_problem
from .routes import bp
from .sessions import end_every_session


def checked_password(password: str) -> str:
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise click.BadParameter(f"{low} to {high} characters.", param_hint="PASSWORD")
    return password


@bp.cli.command("create-user")
@click.argument("username")
@click.password_option(help="Prompted for, hidden, when not given.")
def create_user(username: str, password: str) -> None:
    """Create a user who can log in as USERNAME."""
    if problem := username_problem(username):
        raise click.BadParameter(problem, param_hint="USERNAME")
    user = User(username)
    user.set_password(checked_password(password))
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        raise click.ClickException(
            f"The username {user.username!r} is taken."
        ) from None
    click.echo(f"Created user {user.username!r}.")


@bp.cli.command("set-password")
@click.argument("username")
@click.password_option(help="Prompted for, hidden, when not given.")
def set_password(username: str, password: str) -> None:
    """Set USERNAME's password, and sign the user out everywhere."""
    user = User.named(username)
    if user is None:
        raise click.ClickException(f"No user is named {username!r}.")
    user.set_password(checked_password(password))
    end_every_session(user)
    click.echo(f"Set the password of {user.username!r}; every session was logged out.")
