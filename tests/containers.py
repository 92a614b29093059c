"""Podman plumbing for the tests that build and run the generated image.

No image registry is reachable here, so the images a generated project names
(`python:3.11-slim`, compose's `nginx`) are stood in by images made from
Debian's packages with mmdebstrap and tagged with the official names; builds
use `--pull=never` semantics (the tags are present), so the generated
Dockerfile and compose.yaml run unchanged. What each stand-in emulates, and
what it does not, is said below and in README.md. The sandbox's needs (runc,
chroot isolation, lower ulimits) go in a containers.conf of our own, which
podman-compose's podman calls read too. See shared/notes/containers.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

# Bump when a stand-in's recipe changes: images made by an older recipe are rebuilt.
STANDIN_RECIPE = "1"
STANDIN_LABEL = "flask-template-standin"
PYTHON_IMAGE = "docker.io/library/python:3.11-slim"
NGINX_IMAGE = "docker.io/library/nginx:1.28"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""

# What each stand-in adds on top of Debian's packages, to behave as the
# official image does where a generated project relies on it.
STANDINS = {
    PYTHON_IMAGE: {
        "packages": ["python3", "python3-venv", "python3-pip", "python-is-python3"],
        # The official image's pip installs into the system Python (no PEP 668
        # marker); pip and uv inside a build trust the machine's TLS proxy.
        "containerfile": """\
RUN rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
""",
    },
    NGINX_IMAGE: {
        "packages": ["nginx"],
        # The official image: conf.d/*.conf inside http {}, no other site, logs
        # to the container's output, nginx in the foreground.
        "containerfile": """\
RUN rm -f /etc/nginx/sites-enabled/default \\
    && ln -sf /dev/stdout /var/log/nginx/access.log \\
    && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
""",
    },
}


def podman_environment(conf: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CONTAINERS_CONF=str(conf),
        BUILDAH_ISOLATION="chroot",
        # Docker's format keeps HEALTHCHECK, which OCI images drop.
        BUILDAH_FORMAT="docker",
    )
    return env


class Podman:
    """Runs podman with this sandbox's settings; every call must succeed unless
    ``check=False``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF)
        self.env = podman_environment(self.conf)

    def __call__(
        self, *arguments: str, check: bool = True, timeout: float = 600, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=cwd,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(arguments)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def build(self, context: Path, tag: str, *extra: str) -> float:
        """Build the context's Dockerfile as it is; returns the seconds it took."""
        started = time.perf_counter()
        self(
            "build",
            "--network",
            "host",
            "--pull=never",
            "--tag",
            tag,
            *extra,
            str(context),
            timeout=900,
        )
        return time.perf_counter() - started

    def image_exists(self, tag: str, recipe: str | None = None) -> bool:
        inspected = self("image", "inspect", "--format", "{{json .Labels}}", tag, check=False)
        if inspected.returncode != 0:
            return False
        return recipe is None or f'"{STANDIN_LABEL}":"{recipe}"' in inspected.stdout

    def ensure_standins(self) -> None:
        """Make each stand-in image unless this recipe already made it."""
        missing = [tag for tag in STANDINS if not self.image_exists(tag, STANDIN_RECIPE)]
        # mmdebstrap spends its time waiting on downloads and dpkg: run them together.
        roots = {tag: self.folder / f"standin-{index}.tar" for index, tag in enumerate(missing)}
        processes = {
            tag: subprocess.Popen(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--variant=minbase",
                    f"--include={','.join(['ca-certificates', *STANDINS[tag]['packages']])}",
                    "bookworm",
                    str(roots[tag]),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for tag in missing
        }
        for tag, process in processes.items():
            output, _ = process.communicate(timeout=900)
            assert process.returncode == 0, f"mmdebstrap for {tag} failed:\n{output}"
            self.make_standin(tag, roots[tag])

    def make_standin(self, tag: str, root: Path) -> None:
        base = f"localhost/standin-root-{tag.rsplit('/', 1)[-1].replace(':', '-')}"
        self("import", str(root), base)
        root.unlink()
        context = Path(tempfile.mkdtemp(dir=self.folder))
        shutil.copy2(CA_BUNDLE, context / "ca-certificates.crt")
        (context / "Containerfile").write_text(
            f"FROM {base}\n"
            "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
            f"LABEL {STANDIN_LABEL}={STANDIN_RECIPE}\n" + STANDINS[tag]["containerfile"]
        )
        self.build(context, tag)
        shutil.rmtree(context)

    def run_detached(
        self, image: str, *command: str, env: Mapping[str, str], options: tuple[str, ...] = ()
    ) -> str:
        """Start a container on the host's network; returns its id."""
        variables = [f"--env={name}={value}" for name, value in env.items()]
        return self(
            "run", "--detach", "--network", "host", *variables, *options, image, *command
        ).stdout.strip()

    def run_once(
        self, image: str, *command: str, env: Mapping[str, str], options: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        variables = [f"--env={name}={value}" for name, value in env.items()]
        return self(
            "run", "--rm", "--network", "host", *variables, *options, image, *command, check=False
        )

    def remove(self, container: str) -> None:
        self("rm", "--force", "--time", "5", container, check=False)

    def host_pid(self, container: str) -> int:
        return int(self("inspect", "--format", "{{.State.Pid}}", container).stdout)


def image_size(podman: Podman, tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
