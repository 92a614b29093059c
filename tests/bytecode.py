"""Bytecode compiled once per run, shared by every project the tests install.

A new `.venv` compiles each module its first command imports: 4 to 6 s of CPU
for a generated project, and a run makes about 85 of them (a sixth of the
suite's CPU). uv installs a package by hard-linking the files of its unpacked
wheel from its cache into the `.venv`, `__pycache__` folders included. So the
run gets a uv cache of its own, whose packages are compiled once, up front, and
every `.venv` links their bytecode too. The bytecode is "unchecked-hash" (PEP
552): files in uv's cache never change, so it needs no check against the source.

The run's cache is a copy of the user's made of hard links, so nothing is
downloaded twice and the user's cache is never written to; where the two cannot
share a file system, it starts empty.
"""

from __future__ import annotations

import py_compile
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from helpers import UV


def private_uv_cache(folder: Path) -> Path:
    """A uv cache for this run: hard links to the user's uv cache where the file
    system allows, else empty."""
    cache = folder / "uv-cache"
    located = subprocess.run([UV, "cache", "dir"], capture_output=True, text=True, check=True)
    users = Path(located.stdout.strip())
    if users.is_dir():
        linked = subprocess.run(
            ["cp", "--archive", "--link", str(users), str(cache)], capture_output=True, check=False
        )
        if linked.returncode == 0:
            # uv locks the cache through this file: the run's lock is its own.
            (cache / ".lock").unlink(missing_ok=True)
            return cache
        shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    return cache


def compile_installed_packages(cache: Path, site_packages: Path) -> None:
    """Compile, inside ``cache``, the unpacked wheels of the packages installed in
    ``site_packages`` (a `.venv` that uv filled from that cache)."""
    wheels = {
        archive.parent
        for installed in site_packages.glob("*.dist-info")
        for archive in cache.glob(f"archive-v*/*/{installed.name}")
    }
    modules = [module for wheel in sorted(wheels) for module in wheel.rglob("*.py")]
    with ProcessPoolExecutor() as pool:
        list(pool.map(compile_module, modules, chunksize=64))


def compile_module(module: Path) -> None:
    py_compile.compile(
        str(module),
        # Some packages ship modules for other Python versions: leave them be.
        doraise=False,
        quiet=2,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
