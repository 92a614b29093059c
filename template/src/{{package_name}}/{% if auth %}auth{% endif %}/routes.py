from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import User, authenticate
from . import throttle
from .forms import ChangePasswordForm, LoginForm, RegisterForm
from .redirects import is_safe_redirect
from .sessions import end_every_session, log_in, remembered

bp = Blueprint("auth", __name__)


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    if request.method == "POST":
        throttle.check_address()
    form = RegisterForm()
    # DataRequired guarantees the fields' data once the form validates.
    if form.validate_on_submit() and form.username.data and form.password.data:
        user = User(form.username.data)
        user.set_password(form.password.data)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # Taken: answered exactly like a success, so that registering
            # cannot be used to learn which usernames exist.
            db.session.rollback()
        flash("If that username was free, your account is ready: log in.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    if request.method == "POST":
        throttle.check_address()
    form = LoginForm()
    if form.validate_on_submit() and form.username.data and form.password.data:
        throttle.check_account(form.username.data)
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            # One message for unknown users and wrong passwords alike.
            flash("Invalid username or password.", "error")
        else:
            throttle.forget_account(form.username.data)
            # Also keeps the password's hash if it was just upgraded.
            db.session.commit()
            log_in(user, remember=form.remember.data)
            target = request.args.get("next", "")
            if not is_safe_redirect(target):
                target = url_for("main.index")
            return redirect(target)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    # Ends every session of the account, so a copy of this one's cookies,
    # wherever it is, opens nothing any more.
    end_every_session(current_user._get_current_object())
    # Nor does anything of the session outlive the login, its CSRF secret
    # included (logout_user drops only Flask-Login's own keys).
    session.clear()
    logout_user()
    flash("You have been logged out on every device.", "info")
    return redirect(url_for("main.index"))


@bp.get("/account")
@login_required
def account() -> str:
    return render_template("auth/account.html", form=ChangePasswordForm())


@bp.post("/account/password")
@login_required
def change_password() -> Response | tuple[str, int]:
    user: User = current_user._get_current_object()
    form = ChangePasswordForm()
    if form.validate_on_submit() and form.current.data and form.password.data:
        # Guessing the current password from a stolen session is an attack
        # on the account like any other: the same limit applies.
        throttle.check_account(user.username)
        if user.check_password(form.current.data):
            user.change_password(form.password.data)
            db.session.commit()
            # Every other session ends; this one goes on with a new token.
            log_in(user, remember=remembered())
            flash("Password changed. Every other session has been logged out.", "info")
            return redirect(url_for("auth.account"))
        form.current.errors = ["That is not your current password."]
    return render_template("auth/account.html", form=form), 400
