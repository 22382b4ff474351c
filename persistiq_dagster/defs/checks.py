"""Asset checks on the PersistIQ tables, run after each materialisation of their asset.

Built for the enabled tables, grouped by the dlt pipeline (and dlt schema) that loads each:

- ``id_unique_and_not_null`` on every table, among its current rows: blocking, severity ERROR.
- ``rows_match_last_load`` on every table, against ``persistiq/rows`` (the rows the latest
  materialisation loaded). Leads: the rows carrying that run's dlt load ids. Users and
  campaigns (snapshots): the current rows, which must be exactly what PersistIQ returned.
  Fewer is a WARN: PersistIQ sent an id twice in one run (paging a list that changed under
  it); the table keeps one row per id, the latest, and loses nothing. More is an ERROR: rows
  the run did not load are presented as current.
- ``owner_id_not_null`` on leads: severity WARN (the public docs' sample leads carry no owner).
- ``schema_unchanged`` on every table: severity WARN, naming the columns the latest
  materialisation added to the table, and those a value of another type split into a variant
  column (``persistiq/columns_added``, ``persistiq/columns_retyped``).

The checks of the tables one dlt pipeline loads run as one step (a ``multi_asset_check``,
subsettable): one warehouse lock, one connection, one step's overhead instead of one per check.
Queries go through dlt's SQL client of the pipeline, so they work on any SQL destination dlt
loads into, and hold the warehouse lock: DuckDB lets one process open the file at a time, and
dlt's DuckDB client opens it for writing even to read. A table dlt has not created yet (a first
load that found nothing) has no row that breaks a rule: its checks pass and say so.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    multi_asset_check,
)
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase

from persistiq_dagster.defs.names import (
    COLUMNS_ADDED_METADATA_KEY,
    COLUMNS_RETYPED_METADATA_KEY,
    LOAD_IDS_METADATA_KEY,
    ROWS_METADATA_KEY,
    WAREHOUSE_POOL,
    asset_key,
)
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse, step_holder
from persistiq_dagster.source.catalog import PIPELINES, TABLES_BY_NAME
from persistiq_dagster.source.current_rows import (
    VALID_TO_COLUMN,
    count_current_rows,
    current_rows_condition,
    is_snapshot,
    rows,
)

SAMPLE_SIZE = 5

ID_CHECK_NAME = "id_unique_and_not_null"
ROWS_CHECK_NAME = "rows_match_last_load"
OWNER_CHECK_NAME = "owner_id_not_null"
OWNER_CHECKED_TABLES = ("leads",)
SCHEMA_CHECK_NAME = "schema_unchanged"


@contextmanager
def held_sql_client(
    context: AssetCheckExecutionContext, warehouse: PersistIQWarehouse, pipeline_name: str
) -> Iterator[SqlClientBase]:
    """An open connection to the pipeline's dataset, through dlt's own client, with the
    warehouse held for these checks."""
    with (
        warehouse.lock(step_holder(context), log=context.log.info),
        warehouse.build_pipeline(pipeline_name).sql_client() as client,
    ):
        yield client


def _result(key: AssetCheckKey, **fields: Any) -> AssetCheckResult:
    return AssetCheckResult(asset_key=key.asset_key, check_name=key.name, **fields)


def _missing_table(key: AssetCheckKey, error: Exception) -> AssetCheckResult:
    table = key.asset_key.path[-1]
    return _result(
        key,
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description=f"Table {table} is not in the warehouse yet: {error}",
    )


def _no_rows_yet(key: AssetCheckKey) -> AssetCheckResult:
    """A table dlt has not created holds no rows, so no row breaks the rule. dlt creates a
    table with its first row: a first load of a day with no leads leaves none."""
    table = key.asset_key.path[-1]
    return _result(
        key,
        passed=True,
        description=f"Table {table} is not in the warehouse yet: no rows to check.",
        metadata={"rows": 0},
    )


def _check_ids(
    context: AssetCheckExecutionContext, client: SqlClientBase, key: AssetCheckKey
) -> AssetCheckResult:
    table = key.asset_key.path[-1]
    name, id_ = client.make_qualified_table_name(table), client.escape_column_name("id")
    where = current_rows_condition(client, table)
    duplicated = (
        f"select {id_}, count(*) as copies from {name} "
        f"where {id_} is not null and {where} group by {id_} having count(*) > 1"
    )
    ((total, null_ids),) = rows(
        client, f"select count(*), count(*) - count({id_}) from {name} where {where}"
    )
    ((duplicate_ids, duplicate_rows),) = rows(
        client, f"select count(*), sum(copies - 1) from ({duplicated}) duplicated"
    )
    with client.execute_query(f"{duplicated} order by copies desc, {id_}") as cursor:
        samples = [str(row[0]) for row in cursor.fetchmany(SAMPLE_SIZE)]
    return _result(
        key,
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


def _check_rows(
    context: AssetCheckExecutionContext, client: SqlClientBase, key: AssetCheckKey
) -> AssetCheckResult:
    table, asset_key = key.asset_key.path[-1], key.asset_key
    # Across partitions for leads: the asset record keeps the last materialisation of any.
    event = context.instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return _result(
            key, passed=False, description=f"{asset_key.to_user_string()} was never materialised."
        )
    materialization = event.asset_materialization
    about: dict[str, Any] = {
        "materialization_run_id": event.run_id,
        "materialization_partition": materialization.partition or "",
    }
    loaded = materialization.metadata.get(ROWS_METADATA_KEY)
    load_ids = materialization.metadata.get(LOAD_IDS_METADATA_KEY)
    if loaded is None or load_ids is None:
        return _result(
            key,
            passed=False,
            description=(
                f"The latest materialisation has no {ROWS_METADATA_KEY} or "
                f"{LOAD_IDS_METADATA_KEY} metadata."
            ),
            metadata=about,
        )
    expected = int(loaded.value)  # type: ignore[arg-type]
    ids = [str(load_id) for load_id in load_ids.value]  # type: ignore[union-attr]
    about.update({"persistiq_rows": expected, "load_ids": MetadataValue.json(ids)})
    try:
        later = _written_since(client, table, ids)
        found = (
            count_current_rows(client, table)
            if is_snapshot(table)
            else _rows_with_load_ids(client, table, ids)
        )
    except DatabaseUndefinedRelation as error:
        if expected == 0:
            return _result(key, passed=True, description="Nothing loaded yet.")
        return _missing_table(key, error)
    if later is not None:  # another run (another Dagster instance, say) loaded since
        return _result(
            key,
            passed=True,
            description=(
                f"Another load ({later}) has written {table} since this materialisation "
                "(another run, or another Dagster instance); its own checks cover it."
            ),
            metadata={**about, "later_load_id": later},
        )
    return _result(
        key,
        passed=found == expected,
        severity=AssetCheckSeverity.WARN if found < expected else AssetCheckSeverity.ERROR,
        description=None if found == expected else _mismatch(table, found, expected),
        metadata={**about, "rows_found": found},
    )


def _check_owners(
    context: AssetCheckExecutionContext, client: SqlClientBase, key: AssetCheckKey
) -> AssetCheckResult:
    table = key.asset_key.path[-1]
    owner_id = client.escape_column_name("owner_id")
    ((total, nulls),) = rows(
        client,
        f"select count(*), count(*) - count({owner_id}) "
        f"from {client.make_qualified_table_name(table)}",
    )
    return _result(
        key,
        passed=nulls == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rows": total,
            "null_owner_ids": nulls,
            "null_owner_id_share": float(nulls / total) if total else 0.0,
        },
    )


def _check_schema(
    context: AssetCheckExecutionContext, client: SqlClientBase, key: AssetCheckKey
) -> AssetCheckResult:
    event = context.instance.get_latest_materialization_event(key.asset_key)
    if event is None or event.asset_materialization is None:
        return _result(key, passed=True, description="Never materialised: nothing changed.")
    metadata = event.asset_materialization.metadata
    added, retyped = (
        list(metadata[name].value) if name in metadata else []  # type: ignore[arg-type]
        for name in (COLUMNS_ADDED_METADATA_KEY, COLUMNS_RETYPED_METADATA_KEY)
    )
    said = []
    if added:
        said.append(f"{len(added)} column(s) added: {', '.join(added[:20])}")
    if retyped:
        said.append(
            f"{len(retyped)} column(s) got values of another type, kept in variant columns: "
            f"{', '.join(retyped[:20])}"
        )
    return _result(
        key,
        passed=not said,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(said) + "." if said else "The latest load changed no column.",
        metadata={
            "materialization_run_id": event.run_id,
            "columns_added": MetadataValue.json(added),
            "columns_retyped": MetadataValue.json(retyped),
        },
    )


CheckFn = Callable[[AssetCheckExecutionContext, SqlClientBase, AssetCheckKey], AssetCheckResult]
RUN_CHECK: dict[str, CheckFn] = {
    ID_CHECK_NAME: _check_ids,
    ROWS_CHECK_NAME: _check_rows,
    OWNER_CHECK_NAME: _check_owners,
    SCHEMA_CHECK_NAME: _check_schema,
}


def check_specs(table: str) -> list[AssetCheckSpec]:
    """The checks of one table, as Dagster shows them."""
    key = asset_key(table)
    current = " among its current rows" if is_snapshot(table) else ""
    counted = (
        f"The current rows of {table} (_dlt_valid_to null) are exactly the records PersistIQ "
        "returned in the latest materialisation"
        if is_snapshot(table)
        else f"The rows of {table} carrying the dlt load ids of the latest materialisation "
        "number the rows it loaded"
    )
    specs = [
        AssetCheckSpec(
            ID_CHECK_NAME,
            asset=key,
            description=f"Every row of {table}{current} has an id, and no id is on two rows.",
            blocking=True,
        ),
        AssetCheckSpec(
            ROWS_CHECK_NAME,
            asset=key,
            description=(
                f"{counted} ({ROWS_METADATA_KEY}). Fewer (WARN): PersistIQ sent an id twice in "
                "one run; one row per id is kept. More (ERROR): rows the run did not load look "
                "current."
            ),
        ),
    ]
    specs.append(
        AssetCheckSpec(
            SCHEMA_CHECK_NAME,
            asset=key,
            description=(
                f"The latest load added no column to {table} and split none into a variant "
                "column for a value of another type. A warning, naming them: PersistIQ or the "
                "account changed a field (PERSISTIQ_SCHEMA_CONTRACT=freeze refuses such loads)."
            ),
        )
    )
    if table in OWNER_CHECKED_TABLES:
        specs.append(
            AssetCheckSpec(
                OWNER_CHECK_NAME,
                asset=key,
                description=(
                    f"Every row of {table} has an owner_id. A warning only: the public docs' "
                    "sample leads carry just id, status and data."
                ),
            )
        )
    return specs


def pipeline_checks(pipeline_name: str, tables: Sequence[str]) -> AssetChecksDefinition:
    """Every check of the tables one dlt pipeline loads, as one step: one warehouse lock,
    one connection, and no Python step start per check."""

    specs = [spec for table in tables for spec in check_specs(table)]

    @multi_asset_check(
        name=f"{pipeline_name}_checks",
        specs=specs,
        can_subset=True,  # a check, or an asset's checks, can run on their own
        pool=WAREHOUSE_POOL,
    )
    def checks(
        context: AssetCheckExecutionContext, warehouse: PersistIQWarehouse
    ) -> Iterator[AssetCheckResult]:
        selected = context.selected_asset_check_keys
        with held_sql_client(context, warehouse, pipeline_name) as client:
            for key in (spec.key for spec in specs if spec.key in selected):
                try:
                    yield RUN_CHECK[key.name](context, client, key)
                except DatabaseUndefinedRelation:
                    yield _no_rows_yet(key)

    return checks


def _mismatch(table: str, found: int, expected: int) -> str:
    said = f"{found} rows of {table} where the last load put {expected}: "
    if found < expected:
        return said + (
            "PersistIQ sent some ids more than once in that run (the table keeps one row per "
            "id, the latest), or rows were deleted since."
        )
    return said + "rows the run did not load are in the table as current."


def _written_since(client: SqlClientBase, table: str, load_ids: list[str]) -> str | None:
    """A load newer than ``load_ids`` that wrote ``table`` (new rows, or for a snapshot rows
    it retired), if any: then the table no longer shows this materialisation's load."""
    newest_own = max(load_ids, key=float, default=None)
    if newest_own is None:
        return None
    name = client.make_qualified_table_name(table)
    load_id = client.escape_column_name("_dlt_load_id")
    ((newer,),) = rows(
        client, f"select max({load_id}) from {name} where {load_id} > %s", newest_own
    )
    if newer is None and is_snapshot(table):
        valid_to = client.escape_column_name(VALID_TO_COLUMN)
        ((retired,),) = rows(
            client,
            f"select max({valid_to}) from {name} where {valid_to} > %s",
            datetime.fromtimestamp(float(newest_own), UTC),
        )
        newer = f"retirements at {retired}" if retired is not None else None
    return None if newer is None else str(newer)


def _rows_with_load_ids(client: SqlClientBase, table: str, load_ids: list[str]) -> int:
    if not load_ids:
        return 0
    placeholders = ", ".join(["%s"] * len(load_ids))
    ((count,),) = rows(
        client,
        f"select count(*) from {client.make_qualified_table_name(table)} "
        f"where {client.escape_column_name('_dlt_load_id')} in ({placeholders})",
        *load_ids,
    )
    return int(count)


def build_table_checks(enabled_tables: Sequence[str]) -> list[AssetChecksDefinition]:
    """The checks of ``enabled_tables``: one multi-check per dlt pipeline that loads any."""
    checks = []
    for pipeline in PIPELINES:
        tables = [table for table in enabled_tables if TABLES_BY_NAME[table].pipeline == pipeline]
        if tables:
            checks.append(pipeline_checks(pipeline, tables))
    return checks
