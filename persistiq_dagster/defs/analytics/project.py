"""The dbt project and its manifest, prepared the way Dagster recommends: parsed at build time
(``make``, the Dockerfile: ``python -m persistiq_dagster.cli.prepare_analytics``), not on every
code load. A load parses again only when the manifest is missing or older than a file of the
project: under ``dagster dev`` an edited model shows at the next reload, and the processes that
load the code for each run read the manifest as it is. Where the installed package cannot be
written (an image run by a user that is not root), that parse goes to a folder of the user's own
under the system's temporary folder, with a one-line warning that names the fix."""

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from filelock import FileLock

from persistiq_dagster import config

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# dbt's own output inside the project folder, not part of the project.
GENERATED = ("target", "logs", "dbt_packages")


def dbt_vars(dataset: str, timezone: str) -> dict[str, str]:
    """dbt_project.yml's vars, from the settings: where the loaded tables are, and the
    timezone days are cut in."""
    return {"persistiq_dataset": dataset, "timezone": timezone}


# The manifest is parsed with the default settings' vars: a run with the same vars reuses the
# parse (dbt parses again when they change).
DEFAULT_VARS = dbt_vars(config.DEFAULT_DATASET, config.DEFAULT_TIMEZONE)


def dbt_executable() -> str:
    """The dbt installed beside this Python (a virtual environment that is not activated has
    it off the PATH), else the one on the PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def analytics_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    """The project, with a manifest no older than any of its files."""
    project = DbtProject(project_dir=project_dir)
    if not is_stale(project):
        return project
    target = project.project_dir / project.target_path
    if not is_writable(target):
        fallback = user_target(project.project_dir)
        logger.warning(
            "The dbt manifest in %s is missing or older than the models, and this user cannot "
            "write there: using a parse of its own in %s instead. Fix: after "
            "installing the package, run `python -m persistiq_dagster.cli.prepare_analytics` "
            "from a folder other than the source's (the Dockerfile does).",
            target,
            fallback,
        )
        project, target = DbtProject(project_dir=project_dir, target_path=fallback), fallback
        target.mkdir(parents=True, exist_ok=True)
    with FileLock(target / ".prepare.lock"):
        if is_stale(project):  # another process may have parsed it while we waited
            prepare(project)
    return project


def is_writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be made, and this user can write a file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def user_target(project_dir: Path) -> Path:
    """A target folder of this user's own for ``project_dir``, under the temporary folder."""
    installed = hashlib.sha256(str(project_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"persistiq_dbt_{os.getuid()}_{installed}" / "target"


def is_stale(project: DbtProject) -> bool:
    """Whether the manifest is missing or older than a file of the project."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    parsed = manifest.stat().st_mtime
    return any(path.stat().st_mtime > parsed for path in project_files(project.project_dir))


def project_files(folder: Path) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).parts[0] not in GENERATED
    ]


def prepare(project: DbtProject | None = None) -> Path:
    """Parse the project into its manifest (``target/manifest.json``), as dagster-dbt's own
    preparer does, with ``dbt_executable()``; returns the manifest's path."""
    project = project or DbtProject(project_dir=DBT_PROJECT_DIR)
    dbt = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
    args = ["parse", "--quiet", "--vars", json.dumps(DEFAULT_VARS)]
    dbt.cli(args, target_path=project.target_path).wait()
    return project.manifest_path
