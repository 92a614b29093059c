"""Tooling that ships with the Flask service template (see README.md)."""
