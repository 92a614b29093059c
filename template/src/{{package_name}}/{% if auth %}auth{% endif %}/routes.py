from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from ..extensions import db, limiter
from ..models import User, authenticate
from .forms import LoginForm, RegisterForm
from .redirects import is_safe_redirect

bp = Blueprint("auth", __name__)


def login_rate_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(login_rate_limit, methods=["POST"])
def register() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    # DataRequired guarantees the fields' data once the form validates.
    if form.validate_on_submit() and form.username.data and form.password.data:
        user = User(username=form.username.data)
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
@limiter.limit(login_rate_limit, methods=["POST"])
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit() and form.username.data and form.password.data:
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            # One message for unknown users and wrong passwords alike.
            flash("Invalid username or password.", "error")
        else:
            login_user(user, remember=form.remember.data)
            target = request.args.get("next", "")
            if not is_safe_redirect(target):
                target = url_for("main.index")
            return redirect(target)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("main.index"))


@bp.get("/account")
@login_required
def account() -> str:
    return render_template("auth/account.html")
