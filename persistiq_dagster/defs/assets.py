"""The PersistIQ assets: one ``@dlt_assets`` per dlt pipeline of ``catalog``.

The snapshots (users, campaigns, campaign leads, reference tables) are one multi-asset; leads,
and events with replies, have their own, each with its daily partitions. The tables the
settings exclude are not offered. The source and pipeline given to ``@dlt_assets`` only derive
the asset specs when the Definitions are built (no key needed); each run builds the real ones
from the resources and, for the partitioned ones, the partition window.
Each run holds the warehouse lock from first request to last row: in any Dagster instance, two
runs writing one warehouse wait for each other.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dlt.destinations.sql_client import SqlClientBase
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.metadata.asset_pages import for_asset_pages
from persistiq_dagster.defs.metadata.column_tables import TABLE_NAME_KEY
from persistiq_dagster.defs.metadata.translator import PersistIQTranslator
from persistiq_dagster.defs.names import (
    PAGES_METADATA_KEY,
    REPEATS_METADATA_KEY,
    ROWS_METADATA_KEY,
    SKIPPED_METADATA_KEY,
    UNTIMED_METADATA_KEY,
    WAREHOUSE_POOL,
)
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse, step_holder
from persistiq_dagster.source.catalog import (
    ACTIVITY_PIPELINE,
    BY_DAY,
    BY_UPDATE_DAY,
    CORE_PIPELINE,
    LEADS_PIPELINE,
    TABLES_BY_NAME,
    pipeline_tables,
)
from persistiq_dagster.source.columns import custom_field_columns
from persistiq_dagster.source.current_rows import (
    count_current_rows,
    is_snapshot,
    lead_field_labels,
    retire_current_rows,
)
from persistiq_dagster.source.http.errors import explain_failure
from persistiq_dagster.source.list_reader import ReadTally
from persistiq_dagster.source.persistiq import persistiq_source
from persistiq_dagster.source.schema_changes import explain_refusal
from persistiq_dagster.source.windows import server_lower_bound, to_iso_timestamp, window_params


def load_with_dlt(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    source: DltSource,
    warehouse: PersistIQWarehouse,
    pipeline_name: str,
    tally: ReadTally,
    translator: DagsterDltTranslator,
    run_metadata: Mapping[str, Any] | None = None,
) -> Iterator[MaterializeResult]:
    """Run one dlt pipeline, holding the warehouse, and yield a materialisation per table.

    Each materialisation carries dagster-dlt's metadata, the run's dlt load ids, the pages
    read, the rows loaded (0 included, which dagster-dlt leaves out), for snapshots the ids
    PersistIQ sent twice (the first copy is loaded), for lists read per campaign the
    campaigns skipped because PersistIQ no longer had them, the current row count,
    and the table name where a user would query it (dagster-dlt names the dlt schema instead).
    A failure to talk to PersistIQ becomes a ``Failure`` that says what happened and what to
    change, with the full error chain below it.
    """
    with warehouse.lock(step_holder(context), log=context.log.info):
        pipeline = warehouse.build_pipeline(pipeline_name)
        if "leads" in source.resources:
            describe_custom_fields(source, pipeline)
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
            explanation = (
                explain_failure(error, persistiq.base_url, persistiq.max_retries)
                or explain_refusal(error)
                or warehouse.explain_failure(error)
            )
            if explanation is None:
                raise
            raise Failure(
                description=explanation, metadata={"pages read": dict(tally.pages)}
            ) from error
        loaded_at = load_time(pipeline)
        with pipeline.sql_client() as client:  # one connection for every table of the run
            for event in events:
                table = event.asset_key.path[-1]
                rows_loaded = event.metadata.get("rows_loaded")  # left out when 0
                loaded = int(rows_loaded.value) if rows_loaded else 0  # type: ignore[arg-type]
                counts = {"dagster/row_count": _current_rows(client, table, loaded, loaded_at)}
                if context.has_partition_key:
                    counts["dagster/partition_row_count"] = loaded
                if is_snapshot(table):
                    counts[REPEATS_METADATA_KEY] = tally.repeats[table]
                if TABLES_BY_NAME[table].per_campaign:
                    counts[SKIPPED_METADATA_KEY] = MetadataValue.json(tally.skipped[table])
                    _warn_skipped(context, table, tally.skipped[table])
                if TABLES_BY_NAME[table].loads in (BY_DAY, BY_UPDATE_DAY):
                    counts[UNTIMED_METADATA_KEY] = tally.untimed[table]
                    _warn_untimed(context, table, tally.untimed[table])
                yield MaterializeResult(
                    asset_key=event.asset_key,
                    metadata={
                        **event.metadata,
                        **(run_metadata or {}),
                        **counts,
                        TABLE_NAME_KEY: warehouse.qualified_table_name(table),
                        PAGES_METADATA_KEY: tally.pages[table],
                        ROWS_METADATA_KEY: loaded,
                    },
                )


def describe_custom_fields(source: DltSource, pipeline: Pipeline) -> None:
    """Describe the columns of the account's custom lead fields by their labels in
    ``lead_fields`` (loaded with the snapshots), so the asset page shows them."""
    with pipeline.sql_client() as client:
        labels = lead_field_labels(client)
    columns = custom_field_columns(labels, source.schema.naming.normalize_identifier)
    if columns:
        source.resources["leads"].apply_hints(columns=columns)


def load_time(pipeline: Pipeline) -> datetime:
    """When the run's dlt load package was made: the time dlt's scd2 stamps on the rows a load
    retires (``_dlt_valid_to``) and adds (``_dlt_valid_from``)."""
    trace = pipeline.last_trace
    load_ids = trace.last_load_info.loads_ids if trace and trace.last_load_info else []
    return min(
        (pipeline.get_load_package_state(load_id)["created_at"] for load_id in load_ids),
        default=datetime.now(UTC),
    )


def _current_rows(client: SqlClientBase, table: str, loaded: int, loaded_at: datetime) -> int:
    """The table's current rows after a load of ``loaded`` rows (scd2 history left out); an
    empty snapshot's rows are retired at ``loaded_at``."""
    if is_snapshot(table) and loaded == 0:
        retire_current_rows(client, table, loaded_at)
    return count_current_rows(client, table)


def load_partition_window(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
    pipeline_name: str,
    tables: tuple[str, ...],
    translator: DagsterDltTranslator,
    sent: Callable[[str, str], Mapping[str, str]],
) -> Iterator[MaterializeResult]:
    """``load_with_dlt`` for the run's partition window ``[start, end)``; each
    materialisation records the window and what was ``sent`` to PersistIQ for it."""
    window = context.partition_time_window
    start, end = to_iso_timestamp(window.start), to_iso_timestamp(window.end)
    tally = ReadTally()
    source = persistiq.build_source(
        name=pipeline_name, resources=tables, start=start, end=end, tally=tally
    )
    window_metadata = {
        "persistiq/window_start": start,
        "persistiq/window_end": end,
        **sent(start, end),
    }
    yield from load_with_dlt(
        context,
        dlt,
        persistiq,
        source,
        warehouse,
        pipeline_name,
        tally,
        translator,
        window_metadata,
    )


def _warn_skipped(context: AssetExecutionContext, table: str, campaigns: list[str]) -> None:
    if campaigns:
        context.log.warning(
            f"{len(campaigns)} campaign(s) were gone when their {table} were read (PersistIQ "
            f"answered 404), so {table} holds nothing for them from this run: "
            f"{', '.join(campaigns[:20])}"
        )


def _warn_untimed(context: AssetExecutionContext, table: str, count: int) -> None:
    if count:
        context.log.warning(
            f"{count} {table} record(s) had no time, or one that is not ISO 8601: they cannot "
            f"be placed in a day, so this run kept them with its window (rows merge on id: a "
            f"window read again never doubles them). Counted in {UNTIMED_METADATA_KEY}."
        )


@dataclass(frozen=True)
class LoadAssets:
    """The multi-assets the settings offer; ``activity`` is None when both events and replies
    are excluded."""

    core: AssetsDefinition
    leads: AssetsDefinition
    activity: AssetsDefinition | None

    @property
    def all(self) -> list[AssetsDefinition]:
        return [each for each in (self.core, self.leads, self.activity) if each is not None]


def build_load_assets(settings: Settings, partitions: PartitionsDefinition) -> LoadAssets:
    """The assets of the enabled tables, as the UI shows them (links to this code,
    dagster-dlt's objects described in words); leads, events and replies on ``partitions``."""
    enabled = settings.enabled_tables
    spec_warehouse = PersistIQWarehouse.from_settings(settings)  # the destination's kind only
    translator = PersistIQTranslator(
        table_name=spec_warehouse.qualified_table_name,
        owners=settings.asset_owners,
        tags=settings.asset_tags,
        reply_bodies=settings.load_reply_bodies,
    )

    def spec_source(pipeline_name: str, tables: tuple[str, ...]) -> DltSource:
        """The source the asset specs are derived from (no key, no window)."""
        return persistiq_source(
            name=pipeline_name, resources=tables, reply_bodies=settings.load_reply_bodies
        )

    core_tables = pipeline_tables(CORE_PIPELINE, enabled)
    leads_tables = pipeline_tables(LEADS_PIPELINE, enabled)
    activity_tables = pipeline_tables(ACTIVITY_PIPELINE, enabled)

    @dlt_assets(
        dlt_source=spec_source(CORE_PIPELINE, core_tables),
        dlt_pipeline=spec_warehouse.spec_pipeline(CORE_PIPELINE),
        name=CORE_PIPELINE,
        dagster_dlt_translator=translator,
        pool=WAREHOUSE_POOL,
    )
    def persistiq_core_assets(
        context: AssetExecutionContext,
        dlt: DagsterDltResource,
        persistiq: PersistIQResource,
        warehouse: PersistIQWarehouse,
    ):
        """Users, campaigns, the leads of each campaign, and the reference tables: every record
        on each run, kept with history (scd2)."""
        tally = ReadTally()
        source = persistiq.build_source(name=CORE_PIPELINE, resources=core_tables, tally=tally)
        yield from load_with_dlt(
            context, dlt, persistiq, source, warehouse, CORE_PIPELINE, tally, translator
        )

    @dlt_assets(
        dlt_source=spec_source(LEADS_PIPELINE, leads_tables),
        dlt_pipeline=spec_warehouse.spec_pipeline(LEADS_PIPELINE),
        name=LEADS_PIPELINE,
        dagster_dlt_translator=translator,
        partitions_def=partitions,  # dagster-dlt defaults to single-run backfills
        pool=WAREHOUSE_POOL,
    )
    def persistiq_leads_assets(
        context: AssetExecutionContext,
        dlt: DagsterDltResource,
        persistiq: PersistIQResource,
        warehouse: PersistIQWarehouse,
    ):
        """Leads updated in the partition window ``[start, end)``, merged on id.

        A backfill of many days is one run over one window: one pass over the API, not one a
        day.
        """
        yield from load_partition_window(
            context,
            dlt,
            persistiq,
            warehouse,
            LEADS_PIPELINE,
            leads_tables,
            translator,
            lambda start, end: {"persistiq/updated_after": server_lower_bound(start)},
        )

    activity = None
    if activity_tables:

        @dlt_assets(
            dlt_source=spec_source(ACTIVITY_PIPELINE, activity_tables),
            dlt_pipeline=spec_warehouse.spec_pipeline(ACTIVITY_PIPELINE),
            name=ACTIVITY_PIPELINE,
            dagster_dlt_translator=translator,
            partitions_def=partitions,
            pool=WAREHOUSE_POOL,
        )
        def persistiq_activity_assets(
            context: AssetExecutionContext,
            dlt: DagsterDltResource,
            persistiq: PersistIQResource,
            warehouse: PersistIQWarehouse,
        ):
            """Events and replies that happened in the partition window ``[start, end)``,
            merged on id; PersistIQ is asked for a second more on each side (``start_at``,
            ``end_at``) and each record is placed by its own time. A backfill is one run."""
            yield from load_partition_window(
                context,
                dlt,
                persistiq,
                warehouse,
                ACTIVITY_PIPELINE,
                activity_tables,
                translator,
                lambda start, end: {
                    f"persistiq/{key}": value for key, value in window_params(start, end).items()
                },
            )

        activity = persistiq_activity_assets

    core, leads, *rest = for_asset_pages(
        [persistiq_core_assets, persistiq_leads_assets, *([activity] if activity else [])],
        settings.code_repository_url,
        settings.code_repository_branch,
    )
    return LoadAssets(core, leads, rest[0] if rest else None)
