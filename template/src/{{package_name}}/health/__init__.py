"""Liveness check for load balancers and orchestrators."""

from .routes import bp

__all__ = ["bp"]
