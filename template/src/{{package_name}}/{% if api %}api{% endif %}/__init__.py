"""Versioned JSON API, mounted at /api/v1."""

from .routes import bp

__all__ = ["bp"]
