"""The column tables the Dagster UI shows, with each column's description.

Before any load, an asset's columns are the ones ``schema.py`` declares. After a load they are
the table's columns as dlt's schema has them (declared, evolved and dlt's own), each described:
dagster-dlt's own column table leaves descriptions out and lists every other hint a column has.
"""

from collections.abc import Mapping

from dagster import TableColumn, TableColumnConstraints, TableSchema
from dlt.common.schema import Schema
from dlt.common.schema.typing import TColumnSchema

from persistiq_dagster.source.columns import (
    DLT_COLUMN_DESCRIPTIONS,
    NESTED_COLUMN_DESCRIPTIONS,
    columns_for,
)

# Dagster's metadata keys for a table asset (the UI's column table, and where to query it).
COLUMN_SCHEMA_KEY = "dagster/column_schema"
TABLE_NAME_KEY = "dagster/table_name"
# Column hints worth naming in the column table's constraints, when a column has them.
NAMED_HINTS = ("primary_key", "merge_key", "dedup_sort", "row_key", "parent_key", "root_key")


def declared_column_schema(table: str, reply_bodies: bool) -> TableSchema:
    """The columns ``schema.py`` declares for ``table``, as the asset's definition shows them."""
    return _table_schema(columns_for(table, reply_bodies), {})


def loaded_column_schema(table: str, schema: Schema) -> TableSchema:
    """``table``'s columns in dlt's ``schema`` after a load, in the table's column order; a
    child table's that dlt cannot be told about (a list in a list) described from
    ``schema.py`` all the same."""
    return _table_schema(schema.get_table_columns(table), NESTED_COLUMN_DESCRIPTIONS.get(table, {}))


def _table_schema(
    columns: Mapping[str, TColumnSchema], descriptions: Mapping[str, str]
) -> TableSchema:
    """``descriptions`` stand in for columns whose hints have none."""
    return TableSchema(
        columns=[_column(name, column, descriptions.get(name)) for name, column in columns.items()]
    )


def _column(name: str, column: TColumnSchema, description: str | None) -> TableColumn:
    return TableColumn(
        name=name,
        type=column.get("data_type") or "unknown",
        description=column.get("description") or description or DLT_COLUMN_DESCRIPTIONS.get(name),
        constraints=TableColumnConstraints(
            nullable=column.get("nullable", True),
            unique=bool(column.get("unique", False)),
            other=[hint for hint in NAMED_HINTS if column.get(hint)],
        ),
    )
