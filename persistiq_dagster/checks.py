"""Asset checks on the PersistIQ tables, run after each materialisation of their asset.

Generated from ``CHECKED_TABLES`` (table -> the dlt pipeline, and dlt schema, that loads it):

- ``id_unique_and_not_null`` on every table: blocking, severity ERROR.
- ``rows_match_last_load`` on every table: the rows of the table that carry the load id of the
  run that materialised the asset, against ``persistiq/rows`` of that materialisation. Severity
  ERROR, not blocking.
- ``owner_id_not_null`` on leads: severity WARN (the public docs' sample leads carry no owner).

Queries go through dlt's SQL client of the pipeline, so they work on any SQL destination dlt
loads into. The checks share the warehouse's concurrency pool: DuckDB lets one process open
the file for writing, and dlt's DuckDB client opens it that way even to read.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase

from persistiq_dagster import settings
from persistiq_dagster.resources import PersistIQWarehouse

# Each table and the dlt pipeline that loads it; the pipeline's dlt schema has the same name.
CHECKED_TABLES: dict[str, str] = {
    "users": settings.CORE_PIPELINE_NAME,
    "campaigns": settings.CORE_PIPELINE_NAME,
    "leads": settings.LEADS_PIPELINE_NAME,
}
ROWS_METADATA_KEY = "persistiq/rows"
SAMPLE_SIZE = 5

ID_CHECK_NAME = "id_unique_and_not_null"
ROWS_CHECK_NAME = "rows_match_last_load"
OWNER_CHECK_NAME = "owner_id_not_null"


def asset_key_for(table: str) -> AssetKey:
    return AssetKey([settings.ASSET_KEY_PREFIX, table])


@contextmanager
def _sql_client(warehouse: PersistIQWarehouse, pipeline_name: str) -> Iterator[SqlClientBase]:
    """An open connection to the pipeline's dataset, through dlt's own client."""
    with warehouse.build_pipeline(pipeline_name).sql_client() as client:
        yield client


def _rows(client: SqlClientBase, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
    return client.execute_sql(sql, *args) or []


def _missing_table(
    table: str, error: Exception, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR
) -> AssetCheckResult:
    return AssetCheckResult(
        passed=False,
        severity=severity,
        description=f"Table {table} is not in the warehouse yet: {error}",
    )


def _id_check(table: str, pipeline_name: str) -> AssetChecksDefinition:
    @asset_check(
        asset=asset_key_for(table),
        name=ID_CHECK_NAME,
        description=f"Every row of {table} has an id, and no id is on two rows.",
        blocking=True,
        pool=settings.WAREHOUSE_POOL,
    )
    def check(warehouse: PersistIQWarehouse) -> AssetCheckResult:
        try:
            with _sql_client(warehouse, pipeline_name) as client:
                name, id_ = client.make_qualified_table_name(table), client.escape_column_name("id")
                duplicated = (
                    f"select {id_}, count(*) as copies from {name} where {id_} is not null "
                    f"group by {id_} having count(*) > 1"
                )
                ((total, null_ids),) = _rows(
                    client, f"select count(*), count(*) - count({id_}) from {name}"
                )
                ((duplicate_ids, duplicate_rows),) = _rows(
                    client, f"select count(*), sum(copies - 1) from ({duplicated}) duplicated"
                )
                with client.execute_query(f"{duplicated} order by copies desc, {id_}") as cursor:
                    samples = [str(row[0]) for row in cursor.fetchmany(SAMPLE_SIZE)]
        except DatabaseUndefinedRelation as error:
            return _missing_table(table, error)
        return AssetCheckResult(
            passed=null_ids == 0 and duplicate_ids == 0,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "rows": total,
                "null_ids": null_ids,
                "duplicate_ids": duplicate_ids,  # ids on more than one row
                "duplicate_rows": int(duplicate_rows or 0),  # rows beyond the first of each id
                "sample_duplicate_ids": MetadataValue.json(samples),
            },
        )

    return check


def _rows_check(table: str, pipeline_name: str) -> AssetChecksDefinition:
    asset_key = asset_key_for(table)

    @asset_check(
        asset=asset_key,
        name=ROWS_CHECK_NAME,
        description=(
            f"The rows of {table} loaded by the run of the latest materialisation (rows whose "
            f"_dlt_load_id is that run's dlt load) number {ROWS_METADATA_KEY}. Fewer means the "
            "run loaded an id twice (the merge on id keeps one row) or rows were lost."
        ),
        pool=settings.WAREHOUSE_POOL,
    )
    def check(
        context: AssetCheckExecutionContext, warehouse: PersistIQWarehouse
    ) -> AssetCheckResult:
        # Across partitions for leads: the asset record keeps the last materialisation of any.
        event = context.instance.get_latest_materialization_event(asset_key)
        if event is None or event.asset_materialization is None:
            return AssetCheckResult(
                passed=False, description=f"{asset_key.to_user_string()} was never materialised."
            )
        materialization = event.asset_materialization
        about: dict[str, Any] = {
            "materialization_run_id": event.run_id,
            "materialization_partition": materialization.partition or "",
        }
        loaded = materialization.metadata.get(ROWS_METADATA_KEY)
        if loaded is None:
            return AssetCheckResult(
                passed=False,
                description=f"The latest materialisation has no {ROWS_METADATA_KEY} metadata.",
                metadata=about,
            )
        expected = int(loaded.value)  # type: ignore[arg-type]
        about["persistiq_rows"] = expected
        if expected == 0:
            return AssetCheckResult(
                passed=True,
                description="The latest materialisation loaded 0 rows: nothing to compare.",
                metadata=about,
            )
        try:
            with _sql_client(warehouse, pipeline_name) as client:
                load_id = _run_load_id(client, pipeline_name, event.timestamp)
                rows = _rows_with_load_id(client, table, load_id) if load_id else 0
        except DatabaseUndefinedRelation as error:
            return _missing_table(table, error)
        if load_id is None:
            return AssetCheckResult(
                passed=False,
                description=f"No successful dlt load of schema {pipeline_name} was found.",
                metadata=about,
            )
        return AssetCheckResult(
            passed=rows == expected,
            severity=AssetCheckSeverity.ERROR,
            description=None if rows == expected else _mismatch(table, load_id, rows, expected),
            metadata={**about, "load_id": load_id, "rows_with_load_id": rows},
        )

    return check


def _mismatch(table: str, load_id: str, rows: int, expected: int) -> str:
    said = f"{rows} rows of {table} carry load id {load_id}, but its run loaded {expected}: "
    if rows < expected:
        return said + (
            "the run loaded some ids more than once (the merge on id keeps one row each), "
            "or rows were deleted since."
        )
    return said + "rows with that load id were added to the table outside the load."


def _run_load_id(client: SqlClientBase, schema_name: str, materialized_at: float) -> str | None:
    """The latest successful load of ``schema_name`` that started before the materialisation
    was recorded: the run's own load. dlt load ids are the Unix time the load package was made
    (same clock as Dagster's event time: both are taken in the run's process), and a later run
    that loads only some of the schema's tables (say users, not campaigns) is left out."""
    loads = client.make_qualified_table_name("_dlt_loads")
    load_id, schema, status = (
        client.escape_column_name(column) for column in ("load_id", "schema_name", "status")
    )
    rows = _rows(
        client,
        f"select max({load_id}) from {loads} "
        f"where {schema} = %s and {status} = 0 and {load_id} <= %s",
        schema_name,
        repr(materialized_at),
    )
    return rows[0][0] if rows and rows[0][0] is not None else None


def _rows_with_load_id(client: SqlClientBase, table: str, load_id: str) -> int:
    ((rows,),) = _rows(
        client,
        f"select count(*) from {client.make_qualified_table_name(table)} "
        f"where {client.escape_column_name('_dlt_load_id')} = %s",
        load_id,
    )
    return int(rows)


def _owner_check(table: str, pipeline_name: str) -> AssetChecksDefinition:
    @asset_check(
        asset=asset_key_for(table),
        name=OWNER_CHECK_NAME,
        description=(
            f"Every row of {table} has an owner_id. A warning only: the public docs' sample "
            "leads carry just id, status and data."
        ),
        pool=settings.WAREHOUSE_POOL,
    )
    def check(warehouse: PersistIQWarehouse) -> AssetCheckResult:
        try:
            with _sql_client(warehouse, pipeline_name) as client:
                owner_id = client.escape_column_name("owner_id")
                ((total, nulls),) = _rows(
                    client,
                    f"select count(*), count(*) - count({owner_id}) "
                    f"from {client.make_qualified_table_name(table)}",
                )
        except DatabaseUndefinedRelation as error:
            return _missing_table(table, error, AssetCheckSeverity.WARN)
        return AssetCheckResult(
            passed=nulls == 0,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "rows": total,
                "null_owner_ids": nulls,
                "null_owner_id_share": float(nulls / total) if total else 0.0,
            },
        )

    return check


id_checks = [_id_check(table, pipeline) for table, pipeline in CHECKED_TABLES.items()]
rows_checks = [_rows_check(table, pipeline) for table, pipeline in CHECKED_TABLES.items()]
owner_id_checks = [_owner_check("leads", CHECKED_TABLES["leads"])]

# Register these in Definitions(asset_checks=...).
persistiq_asset_checks: list[AssetChecksDefinition] = [*id_checks, *rows_checks, *owner_id_checks]
