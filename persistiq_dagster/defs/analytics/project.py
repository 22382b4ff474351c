"""The dbt project and its manifest, prepared the way Dagster recommends: parsed at build time
(``make``, the Dockerfile: ``python -m persistiq_dagster.cli.prepare_analytics``), not on every
code load. A load parses again only when the manifest is missing or older than a file of the
project: under ``dagster dev`` an edited model shows at the next reload, and the processes that
load the code for each run read the manifest as it is."""

import json
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from filelock import FileLock

from persistiq_dagster import config

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


def analytics_project() -> DbtProject:
    """The project, with a manifest no older than any of its files."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    if is_stale(project):
        target = project.project_dir / project.target_path
        target.mkdir(parents=True, exist_ok=True)
        with FileLock(target / ".prepare.lock"):
            if is_stale(project):  # another process may have parsed it while we waited
                prepare(project)
    return project


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
