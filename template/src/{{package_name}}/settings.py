"""This service's own settings.

This file is yours: template releases never change it (config.py is the
template's). When the app is created, settings are applied in this order, each
step overriding the one before:

1. the template's defaults for the environment (config.py);
2. ``Settings`` here, then the class for the environment (``DevelopmentSettings``,
   ``TestingSettings`` or ``ProductionSettings``);
3. environment variables (and .env): the template's, and those in ``ENVIRONMENT``
   below. Tests read none of these, so they cannot pick up a real setting.

Only UPPERCASE class attributes become settings, as with Flask's ``from_object``.
"""

from collections.abc import Callable
from typing import Any


class Settings:
    """Settings for every environment, for example ``WIDGETS_PER_PAGE = 50``."""


class DevelopmentSettings(Settings):
    """Settings for ``flask run`` on a developer's machine."""


class TestingSettings(Settings):
    """Settings for the test suite."""


class ProductionSettings(Settings):
    """Settings for deployments."""


# Settings read from environment variables when the app is created:
# setting -> (variable, parser). The parser turns the variable's text into the
# setting's value and raises ValueError for a bad one, which stops the app with
# a message naming the variable. For example:
#     "WIDGETS_PER_PAGE": ("WIDGETS_PER_PAGE", int),
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {}
