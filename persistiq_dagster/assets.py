"""The PersistIQ assets: one ``@dlt_assets`` for users and campaigns, one for leads.

Leads has its own multi-asset and dlt pipeline so it can carry its daily partitions. The
source and pipeline given to ``@dlt_assets`` only derive the asset specs at import time (no key
needed); each run builds the real ones from the resources and, for leads, the partition window.
"""

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import dlt
from dagster import AssetExecutionContext, Failure, MaterializeResult
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.extract.source import DltSource

from persistiq_dagster import settings
from persistiq_dagster.env import warehouse_from_env
from persistiq_dagster.errors import explain_failure
from persistiq_dagster.partitions import leads_daily_partitions
from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse, to_iso_timestamp
from persistiq_dagster.source import persistiq_source, server_lower_bound
from persistiq_dagster.translator import PersistIQTranslator

CORE_RESOURCES = ("users", "campaigns")
LEADS_RESOURCES = ("leads",)

translator = PersistIQTranslator()


def _spec_pipeline(pipeline_name: str) -> dlt.Pipeline:
    """A pipeline used only to name the destination kind on the asset specs."""
    warehouse = warehouse_from_env()
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=warehouse.destination,
        dataset_name=warehouse.dataset_name,
    )


def load_with_dlt(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    source: DltSource,
    warehouse: PersistIQWarehouse,
    pipeline_name: str,
    pages: Counter[str],
    run_metadata: Mapping[str, Any] | None = None,
) -> Iterator[MaterializeResult]:
    """Run one dlt pipeline and yield a materialisation per selected table.

    dagster-dlt names the table after the dlt schema; the table actually lives in the dataset,
    so ``dagster/table_name`` is set to where a user would query it. Each materialisation also
    records the pages read and the rows loaded (0 included, which dagster-dlt leaves out).
    A failure to talk to PersistIQ becomes a ``Failure`` that says what happened and what to
    change, with the full error chain below it.
    """
    events = dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=warehouse.build_pipeline(pipeline_name),
        dagster_dlt_translator=translator,
        loader_file_format=warehouse.loader_file_format,
    ).fetch_row_count()
    try:
        yield from _with_table_metadata(events, warehouse, pages, run_metadata)
    except Exception as error:
        explanation = explain_failure(error, persistiq.base_url, persistiq.max_retries)
        if explanation is None:
            raise
        raise Failure(description=explanation, metadata={"pages read": dict(pages)}) from error


def _with_table_metadata(
    events: Iterator[MaterializeResult],
    warehouse: PersistIQWarehouse,
    pages: Counter[str],
    run_metadata: Mapping[str, Any] | None,
) -> Iterator[MaterializeResult]:
    for event in events:
        table = event.asset_key.path[-1]
        rows_loaded = event.metadata.get("rows_loaded")
        yield event._replace(
            metadata={
                **event.metadata,
                **(run_metadata or {}),
                "dagster/table_name": warehouse.qualified_table_name(table),
                "persistiq/pages": pages[table],
                "persistiq/rows": rows_loaded.value if rows_loaded is not None else 0,
            }
        )


@dlt_assets(
    dlt_source=persistiq_source(name=settings.CORE_PIPELINE_NAME, resources=CORE_RESOURCES),
    dlt_pipeline=_spec_pipeline(settings.CORE_PIPELINE_NAME),
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
    """Users and campaigns: every record on each run, merged on id."""
    pages: Counter[str] = Counter()
    source = persistiq.build_source(
        name=settings.CORE_PIPELINE_NAME, resources=CORE_RESOURCES, pages=pages
    )
    yield from load_with_dlt(
        context, dlt, persistiq, source, warehouse, settings.CORE_PIPELINE_NAME, pages
    )


@dlt_assets(
    dlt_source=persistiq_source(name=settings.LEADS_PIPELINE_NAME, resources=LEADS_RESOURCES),
    dlt_pipeline=_spec_pipeline(settings.LEADS_PIPELINE_NAME),
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
        window_metadata,
    )
