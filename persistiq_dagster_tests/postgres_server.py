"""A throwaway PostgreSQL server for the tests: Debian's server binaries, a data folder in /tmp,
a free loopback port, a password (dlt insists on one), stopped at the end even on failure.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the
``postgres`` system user that Debian's package creates.
"""

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"
DATABASE = "postgres"
ROLE = "persistiq"
START_TIMEOUT_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the message says why (tests are skipped with it)."""


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


def server_binaries() -> Path:
    """The folder with initdb and pg_ctl: Debian's /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise PostgresUnavailable(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; "
        "`apt-get install postgresql` (.ci/run does it) to run these tests"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
        ) from None
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _run(command: list[str], log: Path) -> None:
    completed = subprocess.run(
        _as_server_user(command), capture_output=True, text=True, timeout=120
    )
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr)[-2000:]
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PostgresUnavailable(f"{' '.join(command[:2])} failed: {tail}\n{server_log}")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a server, yield how to reach it, stop it and delete its folder afterwards."""
    binaries = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="persistiq-postgres-"))
    data, log = root / "data", root / "server.log"
    password = secrets.token_hex(12)
    port = _free_port()
    (root / "password").write_text(password)
    if os.geteuid() == 0:
        server_user = pwd.getpwnam(SERVER_USER)
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
        os.chown(root / "password", server_user.pw_uid, server_user.pw_gid)
    started = False
    try:
        _run(
            [
                str(binaries / "initdb"), "-D", str(data), "-U", ROLE,
                f"--pwfile={root / 'password'}", "--auth=scram-sha-256",
                "--encoding=UTF8", "--locale=C",
            ],
            log,
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
        _run(
            [
                str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                "-w", "-t", str(START_TIMEOUT_SECONDS), "start",
            ],
            log,
        )  # fmt: skip
        started = True
        yield PostgresServer("127.0.0.1", port, ROLE, password, DATABASE)
    finally:
        if started:
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], log)
        shutil.rmtree(root, ignore_errors=True)
