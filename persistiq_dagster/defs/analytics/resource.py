"""The dbt command line, pointed at the warehouse: a resource built from the settings."""

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource
from dagster_dbt import DbtCliResource
from pydantic import Field

from persistiq_dagster import config
from persistiq_dagster.config import Settings
from persistiq_dagster.defs.analytics.profile import write_profile
from persistiq_dagster.defs.analytics.project import DBT_PROJECT_DIR, dbt_executable, dbt_vars
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse


class PersistIQAnalytics(ConfigurableResource):
    """Runs dbt on the models: into ``schema``, reading the tables of ``dataset``, with days
    cut in ``timezone``."""

    schema_name: str = Field(default=config.DEFAULT_ANALYTICS_SCHEMA)
    dataset_name: str = Field(default=config.DEFAULT_DATASET)
    timezone: str = Field(default=config.DEFAULT_TIMEZONE)
    project_dir: str = Field(default=str(DBT_PROJECT_DIR))
    runs_dir: str | None = Field(
        default=None,
        description="Where each dbt run keeps its profile and artifacts while it runs; the "
        "system's temporary folder when unset.",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "PersistIQAnalytics":
        return cls(
            schema_name=settings.analytics_schema,
            dataset_name=settings.dataset,
            timezone=settings.timezone,
        )

    def dbt_vars(self) -> dict[str, str]:
        return dbt_vars(self.dataset_name, self.timezone)

    def run(
        self,
        args: Sequence[str],
        warehouse: PersistIQWarehouse,
        context: AssetExecutionContext | None = None,
    ) -> Iterator[Any]:
        """``dbt <args>`` on ``warehouse``; its Dagster events (materialisations, check
        results) when ``context`` is an ``@dbt_assets`` step's.

        The profile and dbt's artifacts go to a folder of the run's own under the system's
        temporary folder (the project's may be read-only, in an image): removed when dbt
        succeeds; when it fails, only the profile is removed, and dbt's log stays where the
        error says.
        """
        folder = Path(tempfile.mkdtemp(prefix="persistiq_dbt_", dir=self.runs_dir))
        succeeded = False
        try:
            write_profile(folder, warehouse, self.schema_name)
            dbt = DbtCliResource(
                project_dir=self.project_dir,
                profiles_dir=str(folder),
                dbt_executable=dbt_executable(),
            )
            invocation = dbt.cli(
                [*args, "--vars", json.dumps(self.dbt_vars())],
                context=context,
                target_path=folder / "target",
            )
            yield from invocation.stream()
            succeeded = True
        finally:
            (folder / "profiles.yml").unlink(missing_ok=True)
            if succeeded:
                shutil.rmtree(folder, ignore_errors=True)
