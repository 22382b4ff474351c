"""What each table holds, and the SQL that reads its current rows through dlt's own client.

Snapshot tables (users, campaigns, campaign leads, reference tables) keep history with dlt's
``scd2``: a row is current while its ``_dlt_valid_to`` is null. Leads, events and replies are
merged on ``id``: every row is current, but for leads PersistIQ deleted, which keep their row
with ``deleted_at`` set (``deleted_leads``).
"""

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase

from persistiq_dagster.source.catalog import is_snapshot

VALID_FROM_COLUMN = "_dlt_valid_from"
VALID_TO_COLUMN = "_dlt_valid_to"
DELETED_AT_COLUMN = "deleted_at"  # leads only


def rows(client: SqlClientBase, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
    return client.execute_sql(sql, *args) or []


def current_rows_condition(client: SqlClientBase, table: str) -> str:
    """A SQL condition true for the current rows of ``table``."""
    if is_snapshot(table):
        return f"{client.escape_column_name(VALID_TO_COLUMN)} is null"
    if table == "leads":
        return f"{client.escape_column_name(DELETED_AT_COLUMN)} is null"
    return "1 = 1"


def count_current_rows(client: SqlClientBase, table: str) -> int:
    """Current rows of ``table``; 0 when it was never loaded."""
    name = client.make_qualified_table_name(table)
    try:
        ((count,),) = rows(
            client, f"select count(*) from {name} where {current_rows_condition(client, table)}"
        )
    except DatabaseUndefinedRelation:
        return 0
    return int(count)


def retire_current_rows(client: SqlClientBase, table: str, at: datetime) -> None:
    """Close every current row of a snapshot that PersistIQ returned empty.

    dlt's scd2 retires the rows missing from a load, but writes nothing for a table that
    received no rows at all, so an empty snapshot would leave the old rows current.
    """
    valid_to = client.escape_column_name(VALID_TO_COLUMN)
    with suppress(DatabaseUndefinedRelation):  # never loaded: nothing to retire
        client.execute_sql(
            f"update {client.make_qualified_table_name(table)} set {valid_to} = %s "
            f"where {valid_to} is null",
            at,
        )


def lead_field_labels(client: SqlClientBase) -> dict[str, str]:
    """The account's lead fields as the warehouse holds them now (name -> label); none before
    ``lead_fields`` is loaded."""
    table = client.make_qualified_table_name("lead_fields")
    name, label = client.escape_column_name("name"), client.escape_column_name("label")
    valid_to = client.escape_column_name(VALID_TO_COLUMN)
    try:
        found = rows(
            client,
            f"select {name}, {label} from {table} where {valid_to} is null and {name} is not null",
        )
    except DatabaseUndefinedRelation:
        return {}
    return {str(field): str(text or field) for field, text in found}
