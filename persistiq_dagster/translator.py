"""How dlt resources map to Dagster assets: ``persistiq/<resource>`` in group ``persistiq``."""

from dagster import AssetKey, AssetSpec
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from persistiq_dagster.catalog import LOADS_TAG, TABLES_BY_NAME
from persistiq_dagster.settings import ASSET_KEY_PREFIX, GROUP_NAME


class PersistIQTranslator(DagsterDltTranslator):
    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        name = data.resource.name
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=AssetKey([ASSET_KEY_PREFIX, name]),
                deps=[],  # the API is outside Dagster; no upstream asset to draw
                group_name=GROUP_NAME,
                description=TABLES_BY_NAME[name].description,
            )
            .merge_attributes(kinds={"api"}, tags={LOADS_TAG: TABLES_BY_NAME[name].loads})
        )
