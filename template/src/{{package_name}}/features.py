"""This service's own blueprints, extensions and app set-up.

This file is yours: template releases never change it. ``create_app()`` calls
``init_app()`` last, once the template's config, extensions, blueprints and
error handlers are in place, so everything here can rely on them.

Import your models from here too (directly or through your blueprints):
``flask db migrate`` sees a model only once ``create_app()`` has imported it.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this service's blueprints, extensions, CLI commands and hooks.

    For a blueprint package ``widgets/`` that defines ``bp`` (as ``main/`` does)::

        from . import widgets

        app.register_blueprint(widgets.bp, url_prefix="/widgets")
    """
