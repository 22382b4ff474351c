"""Another process that holds the warehouse lock, as another run would."""

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from persistiq_dagster_tests.dagster_cli import PROJECT_DIR

HOLDER = "run 0f3a step persistiq_leads"


def hold_lock(lock_path: Path, seconds: float) -> subprocess.Popen:
    """Another process that holds ``lock_path`` for ``seconds``; returns once it holds it."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from persistiq_dagster.defs.resources.warehouse_lock import warehouse_lock
        lock_path = Path({str(lock_path)!r})
        with warehouse_lock(lock_path, {HOLDER!r}, timeout=5):
            print("held", flush=True)
            time.sleep({seconds})
            lock_path.with_suffix(".done").touch()  # the last thing done while holding it
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


@contextmanager
def lock_held_elsewhere(lock_path: Path) -> Iterator[subprocess.Popen]:
    """``lock_path`` held by another process while the block runs; that process is killed
    (its process group) after it, however the block ends."""
    holder = hold_lock(lock_path, seconds=60)
    try:
        yield holder
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
