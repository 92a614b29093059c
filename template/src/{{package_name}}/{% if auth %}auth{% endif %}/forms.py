from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
USERNAME_HINT = "Use letters, digits, dots, hyphens and underscores only."
USERNAME_LENGTH = (3, 80)
# The upper bound keeps a huge password from costing a huge hash.
PASSWORD_LENGTH = (8, 128)


class RegisterForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(*USERNAME_LENGTH),
            Regexp(USERNAME_PATTERN, message=USERNAME_HINT),
        ],
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(*PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember = BooleanField("Keep me logged in")
