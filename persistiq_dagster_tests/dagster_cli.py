"""Running the ``dagster`` command line in tests: the binary, a DAGSTER_HOME, an environment."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DAGSTER = Path(sys.executable).parent / "dagster"
MODULE = "persistiq_dagster.definitions"


def make_dagster_home(path: Path) -> Path:
    """A fresh, empty DAGSTER_HOME: Dagster's default instance, as a user's own would be."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_project_dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME with the project's instance settings (pools), as ``make dev`` makes."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text((PROJECT_DIR / "dagster.yaml").read_text())
    return path


def project_env(dagster_home: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any PERSISTIQ_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSISTIQ_")}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        PATH=f"{DAGSTER.parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH")) if p),
        PYTHONUNBUFFERED="1",
        RUNTIME__DLTHUB_TELEMETRY="false",  # no calls home from dlt in tests
        **settings,
    )
    return env


def python_in_project(
    code: str, dagster_home: Path, **settings: str
) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter in the project folder, with only ``settings``: they are
    read when the Definitions load, so a setting needs a process of its own."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=project_env(dagster_home, **settings),
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
