"""The names Dagster knows the project's objects by: asset keys, group, pool, metadata keys."""

from dagster import AssetKey

ASSET_KEY_PREFIX = "persistiq"
GROUP_NAME = "persistiq"
# The dbt models: keys persistiq_analytics/<model>, in a group of their own, so
# --select 'group:persistiq_analytics' builds them all.
ANALYTICS_GROUP_NAME = "persistiq_analytics"
# Every step that touches the warehouse is in this pool (dagster.yaml may limit it).
WAREHOUSE_POOL = "persistiq_warehouse"

# What each materialisation records beside dagster-dlt's own metadata.
PAGES_METADATA_KEY = "persistiq/pages"
ROWS_METADATA_KEY = "persistiq/rows"
REPEATS_METADATA_KEY = "persistiq/repeated_ids"
SKIPPED_METADATA_KEY = "persistiq/skipped_campaigns"
UNTIMED_METADATA_KEY = "persistiq/records_without_time"
LOAD_IDS_METADATA_KEY = "dlt/load_ids"
COLUMNS_ADDED_METADATA_KEY = "persistiq/columns_added"
COLUMNS_RETYPED_METADATA_KEY = "persistiq/columns_retyped"


def asset_key(table: str) -> AssetKey:
    """``persistiq/<table>``."""
    return AssetKey([ASSET_KEY_PREFIX, table])


def model_key(model: str) -> AssetKey:
    """``persistiq_analytics/<model>``: a dbt model or seed."""
    return AssetKey([ANALYTICS_GROUP_NAME, model])
