"""The PersistIQ assets: one ``@dlt_assets`` for users and campaigns, one for leads.

Leads has its own multi-asset and dlt pipeline so it can carry its own partitions and its
incremental state never collides with the other resources' runs. The source and pipeline
given to ``@dlt_assets`` only derive the asset specs at import time (no key needed); each run
builds the real ones from the resources.
"""

from collections.abc import Iterator

import dlt
from dagster import AssetExecutionContext, MaterializeResult
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.extract.source import DltSource

from persistiq_dagster import settings
from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse
from persistiq_dagster.source import persistiq_source
from persistiq_dagster.translator import PersistIQTranslator

CORE_RESOURCES = ("users", "campaigns")
LEADS_RESOURCES = ("leads",)


def _spec_pipeline(pipeline_name: str) -> dlt.Pipeline:
    """A pipeline used only to name the destination kind on the asset specs."""
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=settings.DEFAULT_DESTINATION,
        dataset_name=settings.DEFAULT_DATASET,
    )


translator = PersistIQTranslator()


def load_with_dlt(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    source: DltSource,
    warehouse: PersistIQWarehouse,
    pipeline_name: str,
) -> Iterator[MaterializeResult]:
    """Run one dlt pipeline and yield a materialisation per selected table.

    dagster-dlt names the table after the dlt schema; the table actually lives in the dataset,
    so ``dagster/table_name`` is set to where a user would query it.
    """
    events = dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=warehouse.build_pipeline(pipeline_name),
        dagster_dlt_translator=translator,
        loader_file_format=warehouse.loader_file_format,
    ).fetch_row_count()
    for event in events:
        table = warehouse.qualified_table_name(event.asset_key.path[-1])
        yield event._replace(metadata={**event.metadata, "dagster/table_name": table})


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
    source = persistiq.build_source(name=settings.CORE_PIPELINE_NAME, resources=CORE_RESOURCES)
    yield from load_with_dlt(context, dlt, source, warehouse, settings.CORE_PIPELINE_NAME)


@dlt_assets(
    dlt_source=persistiq_source(name=settings.LEADS_PIPELINE_NAME, resources=LEADS_RESOURCES),
    dlt_pipeline=_spec_pipeline(settings.LEADS_PIPELINE_NAME),
    name=settings.LEADS_PIPELINE_NAME,
    dagster_dlt_translator=translator,
    pool=settings.WAREHOUSE_POOL,
)
def persistiq_leads_assets(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
):
    """Leads updated since the last load (dlt incremental state on ``updated_at``)."""
    source = persistiq.build_source(name=settings.LEADS_PIPELINE_NAME, resources=LEADS_RESOURCES)
    yield from load_with_dlt(context, dlt, source, warehouse, settings.LEADS_PIPELINE_NAME)
