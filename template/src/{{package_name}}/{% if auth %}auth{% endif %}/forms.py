import unicodedata
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS
from flask_wtf.form import _Auto as READ_THE_REQUEST
from wtforms import BooleanField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from ..models import PASSWORD_LENGTH, USERNAME_LENGTH, normalize_username, username_key
from ..parsing import default_ignorable

USERNAME_HINT = "Use letters, digits, dots, hyphens and underscores only."
# Besides letters and digits of any script, and the marks that follow letters in
# many scripts (accents, vowel signs).
USERNAME_PUNCTUATION = frozenset("._-")


def username_problem(username: str) -> str | None:
    """Why ``username`` cannot name a new account, or None if it can.

    Checked after NFKC normalisation, as the name is stored: letters and digits
    of any script, dots, hyphens and underscores; no spaces, control or
    invisible characters anywhere (a trailing newline included), nor marks
    that show nothing (variation selectors, the combining grapheme joiner),
    which would let "bob" and "bob" followed by one of them look alike.
    """
    name = normalize_username(username)
    low, high = USERNAME_LENGTH
    # Case folding lengthens some names ("ß" folds to "ss"): the folded form
    # is stored too, and must fit its column.
    if not low <= len(name) <= high or len(username_key(name)) > high:
        return f"Use {low} to {high} characters. {USERNAME_HINT}"
    for position, char in enumerate(name):
        kind = unicodedata.category(char)[0]
        if default_ignorable(char) or not (
            kind in "LN" or char in USERNAME_PUNCTUATION or (kind == "M" and position)
        ):
            return USERNAME_HINT
    return None


class TextForm(FlaskForm):
    """A form of text fields, filled from the request's form fields only.

    Flask-WTF also fills a form from a JSON body, and from uploaded files (the
    multipart parts with a filename): fields then held numbers, lists or
    FileStorage objects, on which the validators failed with a 500, and text
    that skipped the checks parsing.py makes of form fields (NUL characters).
    A form with a FileField subclasses FlaskForm itself.
    """

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            if formdata is not READ_THE_REQUEST:
                # Given by the caller (formdata=None: a form left empty).
                return super().wrap_formdata(form, formdata)
            if request.method not in SUBMIT_METHODS:
                return None
            return request.form or None


def valid_username(form: TextForm, field: Field) -> None:
    if field.data and (problem := username_problem(field.data)):
        raise ValidationError(problem)


def password_field(label: str) -> PasswordField:
    return PasswordField(label, validators=[DataRequired(), Length(*PASSWORD_LENGTH)])


class RegisterForm(TextForm):
    username = StringField("Username", validators=[DataRequired(), valid_username])
    password = password_field("Password")
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )


class LoginForm(TextForm):
    username = StringField(
        "Username", validators=[DataRequired(), Length(max=USERNAME_LENGTH[1])]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=PASSWORD_LENGTH[1])]
    )
    remember = BooleanField("Keep me logged in")


class ChangePasswordForm(TextForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=PASSWORD_LENGTH[1])],
    )
    password = password_field("New password")
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )
