"""User accounts: register, log in, log out, change the password."""

from . import commands
from .routes import bp

__all__ = ["bp", "commands"]
