"""Liveness and readiness checks for load balancers and orchestrators."""

from .routes import bp

__all__ = ["bp"]
