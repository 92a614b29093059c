"""gunicorn.conf.py, the production server's settings, read as gunicorn reads them."""

import gc
import runpy
import weakref
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def settings() -> dict[str, Any]:
    return runpy.run_path(str(Path(__file__).parents[1] / "gunicorn.conf.py"))


def test_gunicorn_believes_no_forwarded_header(settings: dict[str, Any]) -> None:
    """gunicorn.conf.py leaves forwarded headers to PROXY_COUNT: gunicorn's own
    default would take X-Forwarded-Proto (and a SCRIPT_NAME header) from any
    client on 127.0.0.1, whatever PROXY_COUNT says."""
    assert settings["forwarded_allow_ips"] == ""


class Node:
    """An object that can hold itself in a cycle, and be watched."""

    def __init__(self) -> None:
        self.itself = self


def test_the_preloaded_app_is_frozen_before_each_fork(settings: dict[str, Any]) -> None:
    assert settings["preload_app"] is True
    garbage = Node()
    watched = weakref.ref(garbage)
    del garbage  # a cycle: only the collector can free it
    try:
        settings["pre_fork"](None, None)
        # What the master holds is out of the workers' collectors' reach, and
        # its garbage was freed first rather than frozen with it.
        assert gc.get_freeze_count() > 0
        assert watched() is None
    finally:
        gc.unfreeze()
