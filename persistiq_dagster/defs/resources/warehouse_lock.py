"""One writer at a time per warehouse, whatever the Dagster instance: a lock file.

DuckDB lets one process open a file for writing, and two runs of one dlt pipeline in one
working folder spoil each other's state. Dagster's pools keep such steps apart only when the
instance sets a pool limit; this lock holds in code, in any instance, the CLI's included.
A step waits for the lock up to a bound, then fails naming what holds it. The operating system
releases the lock when its holder dies, so a killed run never leaves it held.
"""

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from persistiq_dagster.config import WAREHOUSE_LOCK_TIMEOUT_ENV

POLL_SECONDS = 0.2


class WarehouseBusyError(RuntimeError):
    """The warehouse stayed locked by another run for longer than the bound."""


def _holder_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".holder")


def describe_holder(lock_path: Path) -> str:
    """Who holds the lock, as its holder wrote it down; "unknown" if it could not be read."""
    try:
        holder = json.loads(_holder_file(lock_path).read_text())
        return (
            f"{holder['what']} (pid {holder['pid']} on {holder['host']}, since {holder['since']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"


@contextmanager
def warehouse_lock(
    lock_path: Path,
    what: str,
    timeout: float,
    log: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold ``lock_path`` while the block runs; ``what`` says who holds it (run, step)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if log is not None:
            log(f"Waiting up to {timeout:g} s for {lock_path}: {describe_holder(lock_path)} has it")
        started = time.monotonic()
        try:
            lock.acquire(timeout=timeout, poll_interval=POLL_SECONDS)
        except Timeout:
            raise WarehouseBusyError(
                f"The warehouse is still in use after {timeout:g} s: {lock_path} is held by "
                f"{describe_holder(lock_path)}. Wait for that run to end, or allow a longer "
                f"wait with {WAREHOUSE_LOCK_TIMEOUT_ENV}."
            ) from None
        if log is not None:
            log(f"Got {lock_path} after {time.monotonic() - started:.1f} s")
    holder = _holder_file(lock_path)
    try:
        holder.write_text(
            json.dumps(
                {
                    "what": what,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        )
        yield
    finally:
        holder.unlink(missing_ok=True)  # before the release: the next holder writes its own
        lock.release()
