"""Docker for the image test: an engine, and a base image for the Dockerfile's ``BASE_IMAGE``.

The engine is the machine's when one answers; otherwise ``dockerd`` is started here, in a
process group of its own, with no bridge and no iptables rules (builds and containers use the
host's network: nothing travels but on loopback and to the package registries), and stopped by
its process id at the end, even when a test fails.

The base is ``python:3.11-slim`` where the engine has it or can pull it. Where Docker Hub cannot
be reached, one is made from Debian's packages (debootstrap's minbase, Debian's Python 3.11 and
its venv module, this machine's CA bundle for pip) and kept under a tag of its own, so it is made
once per machine (about a minute) and reused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_BASE = "python:3.11-slim"
# The tag names what is in it: a change to the recipe below wants a new tag.
DEBIAN_BASE = "persistiq-dagster-base:bookworm-python3.11-1"
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3.11-venv", "ca-certificates")
# This machine's CA bundle: pip inside the build trusts what the machine trusts (a registry
# reached through a proxy or mirror with a CA of its own).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

START_TIMEOUT = 60.0
STOP_GRACE = 30.0
PULL_TIMEOUT = 300.0
BASE_TIMEOUT = 900.0


class DockerUnavailable(RuntimeError):
    """No Docker engine can be had here; the message says why and what to install."""


def docker(
    *args: str, timeout: float = 120.0, check: bool = True, **options
) -> subprocess.CompletedProcess[str]:
    """``docker <args>``; raises with its output when it fails and ``check`` is set."""
    completed = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, **options
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args[:3])} failed ({completed.returncode}):\n"
            f"{(completed.stdout + completed.stderr)[-6000:]}"
        )
    return completed


def engine_answers() -> bool:
    try:
        return docker("info", check=False, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@contextlib.contextmanager
def running_docker() -> Iterator[None]:
    """A Docker engine for the duration: the machine's, or one started and stopped here."""
    if shutil.which("docker") is None:
        raise DockerUnavailable("no `docker` command: `apt-get install docker.io` (.ci/run does)")
    if engine_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DockerUnavailable(
            "no Docker engine answers and there is no `dockerd` to start one: "
            "`apt-get install docker.io` (.ci/run does)"
        )
    folder = Path(tempfile.mkdtemp(prefix="persistiq-dockerd-"))
    log = folder / "dockerd.log"
    with log.open("w") as output:
        engine = subprocess.Popen(
            [dockerd, "--bridge=none", "--iptables=false", "--pidfile", str(folder / "pid")],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not engine_answers():
            if engine.poll() is not None or time.monotonic() > deadline:
                raise DockerUnavailable(f"dockerd did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        stop(engine)
        shutil.rmtree(folder, ignore_errors=True)


def stop(engine: subprocess.Popen) -> None:
    """SIGTERM to dockerd (it stops its containerd), then SIGKILL to its group if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(engine.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        engine.wait(timeout=STOP_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(engine.pid, signal.SIGKILL)
    engine.wait(timeout=STOP_GRACE)


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def base_image() -> str:
    """``python:3.11-slim`` if the engine has it or can pull it, else the Debian-made base."""
    if image_exists(DEFAULT_BASE):
        return DEFAULT_BASE
    with contextlib.suppress(subprocess.TimeoutExpired):
        if docker("pull", DEFAULT_BASE, check=False, timeout=PULL_TIMEOUT).returncode == 0:
            return DEFAULT_BASE
    if not image_exists(DEBIAN_BASE):
        make_debian_base(DEBIAN_BASE)
    return DEBIAN_BASE


def make_debian_base(tag: str) -> None:
    """Debian's minbase with Python 3.11 and its venv module, imported into the engine."""
    for program in ("debootstrap", "chroot", "tar"):
        if shutil.which(program) is None:
            raise DockerUnavailable(
                f"no {program} to make a base image from Debian's packages (Docker Hub's "
                f"{DEFAULT_BASE} cannot be pulled here): `apt-get install debootstrap`"
            )
    folder = Path(tempfile.mkdtemp(prefix="persistiq-base-"))
    root = folder / "rootfs"
    try:
        run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(root)])
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        apt = ["chroot", str(root), "apt-get", "-q", "-y", "--no-install-recommends"]
        run([*apt, "install", *DEBIAN_PACKAGES])
        run(["chroot", str(root), "apt-get", "clean"])
        (root / "etc" / "resolv.conf").unlink()
        shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)
        if HOST_CA_BUNDLE.exists():
            shutil.copy(HOST_CA_BUNDLE, root / "etc" / "ssl" / "certs" / HOST_CA_BUNDLE.name)
            (root / "etc" / "pip.conf").write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n")
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            docker(
                "import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]',
                "-", tag, stdin=tar.stdout, timeout=BASE_TIMEOUT,
            )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(command: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=BASE_TIMEOUT, env=env
    )
    if completed.returncode != 0:
        raise DockerUnavailable(
            f"{' '.join(command[:3])} failed ({completed.returncode}):\n"
            f"{(completed.stdout + completed.stderr)[-3000:]}"
        )
