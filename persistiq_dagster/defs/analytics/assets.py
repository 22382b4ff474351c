"""The dbt models and seed as one ``@dbt_assets`` step: ``dbt build`` of what the run selected
(models, seed, and their dbt tests as asset checks), holding the warehouse lock like every
step that touches the warehouse, so a model never reads a table a load is writing."""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition
from dagster_dbt import DbtProject, dbt_assets

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.analytics.resource import PersistIQAnalytics
from persistiq_dagster.defs.analytics.translator import AnalyticsTranslator, source_table
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, WAREHOUSE_POOL
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse, step_holder

SOURCE_NAME = "persistiq"  # the dbt source of the loaded tables (models/staging/_sources.yml)


def build_analytics_assets(settings: Settings, project: DbtProject) -> AssetsDefinition:
    """Every model and the seed; a model that reads a table ``PERSISTIQ_EXCLUDE_TABLES`` left
    out is left out too, with everything built on it."""
    manifest = json.loads(project.manifest_path.read_text())

    @dbt_assets(
        manifest=manifest,
        project=project,
        name=ANALYTICS_GROUP_NAME,
        exclude=excluded_models(settings.enabled_tables, source_tables(manifest)),
        dagster_dbt_translator=AnalyticsTranslator(settings.asset_owners, settings.asset_tags),
        pool=WAREHOUSE_POOL,
    )
    def persistiq_analytics(
        context: AssetExecutionContext,
        analytics: PersistIQAnalytics,
        warehouse: PersistIQWarehouse,
    ) -> Iterator[Any]:
        with warehouse.lock(step_holder(context), log=context.log.info):
            yield from analytics.run(["build"], warehouse, context=context)

    return persistiq_analytics


def source_tables(manifest: Mapping[str, Any]) -> set[str]:
    """The loaded tables the dbt project reads (its sources)."""
    return {
        source["name"]
        for source in manifest["sources"].values()
        if source["source_name"] == SOURCE_NAME
    }


def excluded_models(enabled_tables: Sequence[str], sources: set[str]) -> str | None:
    """dbt's selector of the models built on a table left out (``source:...+``), or None."""
    left_out = sorted(source for source in sources if source_table(source) not in enabled_tables)
    return " ".join(f"source:{SOURCE_NAME}.{source}+" for source in left_out) or None
