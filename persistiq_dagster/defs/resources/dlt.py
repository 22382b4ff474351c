"""dagster-dlt's resource, through its public hook for a materialisation's metadata.

Each materialisation also carries the run's dlt load ids: the checks count a run's rows by
them (``_dlt_load_id``) rather than guessing the load from timestamps. The column tables, the
table's own and its child tables', are rebuilt with each column's description. And it says
what the load changed in a table that was there before: columns added, and columns a value of
another type split into a variant column (``schema_changes``), for the schema check to name.
"""

from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    MetadataValue,
    OpExecutionContext,
    TableSchemaMetadataValue,
)
from dagster_dlt import DagsterDltResource
from dlt.common.pipeline import LoadInfo
from dlt.common.schema import Schema
from dlt.extract.resource import DltResource
from dlt.pipeline.pipeline import Pipeline

from persistiq_dagster.defs.metadata.column_tables import COLUMN_SCHEMA_KEY, loaded_column_schema
from persistiq_dagster.defs.names import (
    COLUMNS_ADDED_METADATA_KEY,
    COLUMNS_RETYPED_METADATA_KEY,
    LOAD_IDS_METADATA_KEY,
)
from persistiq_dagster.source.schema_changes import load_changes


class PersistIQDltResource(DagsterDltResource):
    def extract_resource_metadata(
        self,
        context: OpExecutionContext | AssetExecutionContext,
        resource: DltResource,
        load_info: LoadInfo,
        dlt_pipeline: Pipeline,
    ) -> Mapping[str, Any]:
        # Read first: dagster-dlt's own method pops each column's name and type out of dlt's
        # live schema as it builds its column tables, which leaves nothing to read after it.
        schema = dlt_pipeline.default_schema
        table = schema.naming.normalize_table_identifier(str(resource.table_name))
        column_schemas = _column_schemas(table, schema)
        changes = load_changes(load_info, table)
        metadata = {
            **super().extract_resource_metadata(context, resource, load_info, dlt_pipeline),
            LOAD_IDS_METADATA_KEY: MetadataValue.json(list(load_info.loads_ids)),
            COLUMNS_ADDED_METADATA_KEY: MetadataValue.json(changes.added),
            COLUMNS_RETYPED_METADATA_KEY: MetadataValue.json(changes.retyped),
            **column_schemas,
        }
        # dagster-dlt lists a declared child table before it has a row, and so a table the
        # warehouse does not have; such a one is left out.
        return {
            key: value
            for key, value in metadata.items()
            if not key.startswith(f"{table}__") or key in column_schemas
        }


def _column_schemas(table: str, schema: Schema) -> dict[str, TableSchemaMetadataValue]:
    """The table's column table, and each child table's with rows under the child table's
    name (as dagster-dlt names them); nothing before the table exists."""
    if table not in schema.tables:
        return {}
    children = [
        name
        for name in schema.data_table_names(seen_data_only=True)
        if name.startswith(f"{table}__")
    ]
    return {
        COLUMN_SCHEMA_KEY: MetadataValue.table_schema(loaded_column_schema(table, schema)),
        **{
            child: MetadataValue.table_schema(loaded_column_schema(child, schema))
            for child in children
        },
    }
