"""The PersistIQ assets: one ``@dlt_assets`` for users and campaigns, one for leads.

Leads has its own multi-asset and dlt pipeline so it can carry its daily partitions. The
source and pipeline given to ``@dlt_assets`` only derive the asset specs at import time (no key
needed); each run builds the real ones from the resources and, for leads, the partition window.
Each run holds the warehouse lock from first request to last row: in any Dagster instance, two
runs writing one warehouse wait for each other.
"""

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.destinations.sql_client import SqlClientBase
from dlt.extract.source import DltSource

from persistiq_dagster import settings
from persistiq_dagster.env import warehouse_from_env
from persistiq_dagster.errors import explain_failure
from persistiq_dagster.partitions import leads_daily_partitions
from persistiq_dagster.resources import (
    PersistIQResource,
    PersistIQWarehouse,
    step_holder,
    to_iso_timestamp,
)
from persistiq_dagster.source import persistiq_source, server_lower_bound
from persistiq_dagster.tables import count_current_rows, is_snapshot, retire_current_rows
from persistiq_dagster.translator import PersistIQTranslator

CORE_RESOURCES = ("users", "campaigns")
LEADS_RESOURCES = ("leads",)
PAGES_METADATA_KEY = "persistiq/pages"
ROWS_METADATA_KEY = "persistiq/rows"
REPEATS_METADATA_KEY = "persistiq/repeated_ids"

translator = PersistIQTranslator()


def load_with_dlt(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    source: DltSource,
    warehouse: PersistIQWarehouse,
    pipeline_name: str,
    pages: Counter[str],
    repeats: Counter[str],
    run_metadata: Mapping[str, Any] | None = None,
) -> Iterator[MaterializeResult]:
    """Run one dlt pipeline, holding the warehouse, and yield a materialisation per table.

    Each materialisation carries dagster-dlt's metadata, the run's dlt load ids, the pages
    read, the rows loaded (0 included, which dagster-dlt leaves out), for snapshots the ids
    PersistIQ sent twice (the first copy is loaded), the current row count,
    and the table name where a user would query it (dagster-dlt names the dlt schema instead).
    A failure to talk to PersistIQ becomes a ``Failure`` that says what happened and what to
    change, with the full error chain below it.
    """
    with warehouse.lock(step_holder(context), log=context.log.info):
        pipeline = warehouse.build_pipeline(pipeline_name)
        try:  # dagster-dlt yields its events once the whole load is done
            events = list(
                dlt.run(
                    context=context,
                    dlt_source=source,
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=translator,
                    loader_file_format=warehouse.loader_file_format,
                )
            )
        except Exception as error:
            explanation = explain_failure(
                error, persistiq.base_url, persistiq.max_retries
            ) or warehouse.explain_failure(error)
            if explanation is None:
                raise
            raise Failure(description=explanation, metadata={"pages read": dict(pages)}) from error
        with pipeline.sql_client() as client:  # one connection for every table of the run
            for event in events:
                table = event.asset_key.path[-1]
                rows_loaded = event.metadata.get("rows_loaded")  # left out when 0
                loaded = int(rows_loaded.value) if rows_loaded else 0  # type: ignore[arg-type]
                counts = {"dagster/row_count": _current_rows(client, table, loaded)}
                if context.has_partition_key:
                    counts["dagster/partition_row_count"] = loaded
                if is_snapshot(table):
                    counts[REPEATS_METADATA_KEY] = repeats[table]
                yield MaterializeResult(
                    asset_key=event.asset_key,
                    metadata={
                        **event.metadata,
                        **(run_metadata or {}),
                        **counts,
                        "dagster/table_name": warehouse.qualified_table_name(table),
                        PAGES_METADATA_KEY: pages[table],
                        ROWS_METADATA_KEY: loaded,
                    },
                )


def _current_rows(client: SqlClientBase, table: str, loaded: int) -> int:
    """The table's current rows after a load of ``loaded`` rows (scd2 history left out)."""
    if is_snapshot(table) and loaded == 0:
        retire_current_rows(client, table, datetime.now(UTC))
    return count_current_rows(client, table)


# The warehouse as the environment names it, for the asset specs' destination kind only.
spec_warehouse = warehouse_from_env()


@dlt_assets(
    dlt_source=persistiq_source(name=settings.CORE_PIPELINE_NAME, resources=CORE_RESOURCES),
    dlt_pipeline=spec_warehouse.spec_pipeline(settings.CORE_PIPELINE_NAME),
    name=settings.CORE_PIPELINE_NAME,
    dagster_dlt_translator=translator,
    pool=settings.WAREHOUSE_POOL,
)
def persistiq_core_assets(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
):
    """Users and campaigns: every record on each run, kept with history (scd2)."""
    pages: Counter[str] = Counter()
    repeats: Counter[str] = Counter()
    source = persistiq.build_source(
        name=settings.CORE_PIPELINE_NAME, resources=CORE_RESOURCES, pages=pages, repeats=repeats
    )
    yield from load_with_dlt(
        context, dlt, persistiq, source, warehouse, settings.CORE_PIPELINE_NAME, pages, repeats
    )


@dlt_assets(
    dlt_source=persistiq_source(name=settings.LEADS_PIPELINE_NAME, resources=LEADS_RESOURCES),
    dlt_pipeline=spec_warehouse.spec_pipeline(settings.LEADS_PIPELINE_NAME),
    name=settings.LEADS_PIPELINE_NAME,
    dagster_dlt_translator=translator,
    partitions_def=leads_daily_partitions,  # dagster-dlt defaults to single-run backfills
    pool=settings.WAREHOUSE_POOL,
)
def persistiq_leads_assets(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
):
    """Leads updated in the partition window ``[start, end)``, merged on id.

    A backfill of many days is one run over one window: one pass over the API, not one a day.
    """
    window = context.partition_time_window
    start, end = to_iso_timestamp(window.start), to_iso_timestamp(window.end)
    pages: Counter[str] = Counter()
    repeats: Counter[str] = Counter()  # stays empty: leads are not a snapshot
    source = persistiq.build_source(
        name=settings.LEADS_PIPELINE_NAME,
        resources=LEADS_RESOURCES,
        leads_start=start,
        leads_end=end,
        pages=pages,
    )
    window_metadata = {
        "persistiq/window_start": start,
        "persistiq/window_end": end,
        "persistiq/updated_after": server_lower_bound(start),
    }
    yield from load_with_dlt(
        context,
        dlt,
        persistiq,
        source,
        warehouse,
        settings.LEADS_PIPELINE_NAME,
        pages,
        repeats,
        run_metadata=window_metadata,
    )
