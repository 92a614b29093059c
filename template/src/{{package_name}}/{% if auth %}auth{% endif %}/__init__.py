"""User accounts: register, log in, log out."""

from . import commands
from .routes import bp

__all__ = ["bp", "commands"]
