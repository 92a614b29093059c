"""Print the generated service's home page throughput next to cookiecutter-flask's
comparable page (/about/), both under the same gunicorn, in one run.

    uv run python benchmarks/peer.py PATH [--rounds 3] [--seconds 5]

PATH is a clone of cookiecutter-flask (its git folder or a checkout); nothing of
it is kept in this repository. The script renders it with Cookiecutter from PyPI,
installs its pinned production requirements, and serves both apps with gunicorn
(2 sync workers) in their production configs, alternating rounds. The peer's
page renders its layout with a login form, as ours renders its layout; it
writes no log line and sets no security header, where ours does both.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from throughput import PRODUCTION, WORKERS, serve_and_measure, served_command, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import UV, Project, free_port, render, snapshot_template

PEER_ANSWERS = {
    "full_name": "Peer",
    "email": "peer@example.com",
    "github_username": "peer",
    "project_name": "Peer",
    "app_name": "peer",
    "project_short_description": "The peer",
    "use_pipenv": "False",
    "python_version": "3.11",
    "node_version": "20",
    "use_heroku": "False",
}


def peer_source(path: Path, work: Path) -> Path:
    """The peer's files: exported from a git folder, or copied from a checkout."""
    source = work / "peer-source"
    if (path / "HEAD").is_file() and not (path / "cookiecutter.json").exists():
        source.mkdir()
        archive = subprocess.run(
            ["git", "archive", "HEAD"], cwd=path, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    else:
        shutil.copytree(path, source, ignore=shutil.ignore_patterns(".git", "node_modules"))
    return source


def render_peer(source: Path, work: Path) -> Path:
    tools = work / "cookiecutter-venv"
    subprocess.run([UV, "venv", "--quiet", str(tools)], check=True)
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(tools / "bin/python"), "cookiecutter"],
        check=True,
    )
    answers = [f"{name}={value}" for name, value in PEER_ANSWERS.items()]
    subprocess.run(
        [str(tools / "bin/cookiecutter"), "--no-input", "-o", str(work), str(source), *answers],
        check=True,
    )
    peer = work / "peer"
    subprocess.run([UV, "venv", "--quiet", str(peer / ".venv")], check=True)
    subprocess.run(
        [
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(peer / ".venv/bin/python"),
            "-r",
            "requirements/prod.txt",
        ],
        cwd=peer,
        check=True,
    )
    return peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", type=Path, help="a clone of cookiecutter-flask")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="peer-"))
    peer = render_peer(peer_source(options.peer.resolve(), work), work)
    template = snapshot_template(work / "template")
    project = Project(render(template, work / "svc")).install()
    env = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{work}/production.sqlite"}
    project.run("flask", "db", "upgrade", env=env)
    peer_env = {
        **env,
        "FLASK_ENV": "production",
        "SEND_FILE_MAX_AGE_DEFAULT": "31556926",
        "DATABASE_URL": f"sqlite:///{work}/peer.sqlite",
    }

    servers = {
        "cookiecutter-flask /about/": (peer, "autoapp:app", peer_env, "/about/", peer),
        "generated /": (project.path, f"{project.package}:create_app()", env, "/", None),
    }
    rates: dict[str, list[float]] = {}
    memory: dict[str, list[dict[str, float]]] = {}
    for _ in range(options.rounds):
        for name, (cwd, target, server_env, path, venv_owner) in servers.items():
            port = free_port()
            # Both with the generated project's gunicorn.conf.py, each with
            # its own gunicorn.
            command = served_command(project, port, target)
            if venv_owner is not None:
                command[0] = str(venv_owner / ".venv/bin/gunicorn")
            results, sizes = serve_and_measure(
                command, cwd, server_env, port, [path], options.seconds, options.concurrency
            )
            rates.setdefault(name, []).append(results[path]["requests_per_second"])
            memory.setdefault(name, []).append(sizes)

    peer_rate = statistics.median(rates["cookiecutter-flask /about/"])
    ours = statistics.median(rates["generated /"])
    print(
        f"gunicorn, {WORKERS} sync workers, {options.concurrency} connections for "
        f"{options.seconds:g} s, medians of {options.rounds} alternating rounds\n"
    )
    table(
        [
            (
                "requests per second",
                f"{peer_rate:.0f}",
                f"{ours:.0f}",
                f"{ours / peer_rate:.2f}",
            ),
            *(
                (
                    label,
                    *(
                        f"{statistics.median(sizes[kind] for sizes in memory[name]):.0f} MiB"
                        for name in servers
                    ),
                    "",
                )
                for kind, label in (
                    ("rss", "memory per worker (RSS)"),
                    ("private", "  of which its own"),
                )
            ),
        ],
        ("", "cookiecutter-flask /about/", "generated /", "ratio"),
    )
    rounds = {name: [round(rate) for rate in found] for name, found in rates.items()}
    print("\nEvery round:", rounds)


if __name__ == "__main__":
    main()
