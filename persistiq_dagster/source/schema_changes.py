"""Schema changes, shown rather than silent: what a load added to a table that was already
there, and the schema contract that may refuse it.

PersistIQ may add a field anywhere, and accounts add custom lead fields (``lead_fields``). dlt
evolves the tables to fit by default: a new field becomes a new column, and a value of another
type than its column lands in a variant column beside it (``sent_count__v_text``). A load
reports both (``load_changes``). ``PERSISTIQ_SCHEMA_CONTRACT=freeze`` makes dlt refuse them
instead, while it extracts: the load fails and nothing is written (``explain_refusal``).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dlt.common.pipeline import LoadInfo
from dlt.common.schema.exceptions import DataValidationError

from persistiq_dagster.config import SCHEMA_CONTRACT_ENV

# PERSISTIQ_SCHEMA_CONTRACT -> dlt's schema contract. New tables stay allowed under freeze: dlt
# creates child tables (a list inside a record) with their first rows.
SCHEMA_CONTRACTS: Mapping[str, Any] = {
    "evolve": "evolve",
    "freeze": {"tables": "evolve", "columns": "freeze", "data_type": "freeze"},
}
DLT_COLUMN_PREFIX = "_dlt_"
VARIANT_MARK = "__v_"


@dataclass(frozen=True)
class SchemaChanges:
    """Columns a load added to existing tables, as ``table.column``, and those split by a
    value of another type (``table.column -> variant column``)."""

    added: list[str] = field(default_factory=list)
    retyped: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.retyped)


def load_changes(load_info: LoadInfo, table: str) -> SchemaChanges:
    """What the loads of ``load_info`` changed in ``table`` and its child tables. A table the
    load created is the schema's start, not a change."""
    added, retyped = [], []
    for name, update in _updates(load_info, table):
        columns = update.get("columns", {})
        if any(column.startswith(DLT_COLUMN_PREFIX) for column in columns):
            continue  # dlt adds its own columns only when it creates the table
        for column, spec in columns.items():
            if spec.get("variant") or VARIANT_MARK in column:
                retyped.append(f"{name}.{column.split(VARIANT_MARK)[0]} -> {column}")
            else:
                added.append(f"{name}.{column}")
    return SchemaChanges(sorted(added), sorted(retyped))


def _updates(load_info: LoadInfo, table: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for package in load_info.load_packages:
        for name, update in (package.schema_update or {}).items():
            if name == table or name.startswith(f"{table}__"):
                yield name, update


def explain_refusal(error: BaseException) -> str | None:
    """One line for a load the schema contract refused; None for any other error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DataValidationError):
            what = (
                f"a new column {current.column_name!r}"
                if current.schema_entity == "columns"
                else f"a value of another type in column {current.column_name!r}"
                if current.column_name
                else "a new table"
            )
            return (
                f"PersistIQ sent {what} for table {current.table_name}, and "
                f"{SCHEMA_CONTRACT_ENV}=freeze refuses schema changes: nothing was written. "
                f"Set {SCHEMA_CONTRACT_ENV}=evolve to let it in."
            )
        current = current.__cause__ or current.__context__
    return None
