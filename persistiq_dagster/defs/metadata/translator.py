"""How dlt resources become Dagster assets: ``persistiq/<table>`` in group ``persistiq``.

Each asset says, before its first load, where to query it (``dagster/table_name``), which
columns it has and what they mean, who owns it and how it loads (tags); the tables read once
per campaign draw their lineage from campaigns.
"""

from collections.abc import Callable, Mapping, Sequence

from dagster import AssetSpec
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from persistiq_dagster.defs.metadata.column_tables import (
    COLUMN_SCHEMA_KEY,
    TABLE_NAME_KEY,
    declared_column_schema,
)
from persistiq_dagster.defs.names import GROUP_NAME, asset_key
from persistiq_dagster.source.catalog import LOADS_TAG, PARENT_TABLE, TABLES_BY_NAME


class PersistIQTranslator(DagsterDltTranslator):
    def __init__(
        self,
        table_name: Callable[[str], str],
        owners: Sequence[str],
        tags: Mapping[str, str],
        reply_bodies: bool,
    ):
        """``table_name`` gives where a table is queried; ``reply_bodies`` whether replies
        declare their body columns."""
        self.table_name = table_name
        self.owners = tuple(owners)
        self.tags = dict(tags)
        self.reply_bodies = reply_bodies

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        table = TABLES_BY_NAME[data.resource.name]
        # Read once per campaign from the campaigns list; the API itself is outside Dagster.
        deps = [asset_key(PARENT_TABLE)] if table.per_campaign else []
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=asset_key(table.name),
                deps=deps,
                group_name=GROUP_NAME,
                description=table.description,
                owners=self.owners,
            )
            .merge_attributes(
                kinds={"api"},
                tags={**self.tags, LOADS_TAG: table.loads},
                metadata={
                    TABLE_NAME_KEY: self.table_name(table.name),
                    COLUMN_SCHEMA_KEY: declared_column_schema(table.name, self.reply_bodies),
                },
            )
        )
