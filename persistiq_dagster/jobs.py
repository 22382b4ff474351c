"""Jobs that schedules and sensors launch: one per multi-asset, with every check of its assets
(``checks.py``, and ``freshness.py``'s, which pass right after a load)."""

from dagster import AssetSelection, define_asset_job

from persistiq_dagster.assets import (
    persistiq_activity_assets,
    persistiq_core_assets,
    persistiq_leads_assets,
)
from persistiq_dagster.partitions import leads_daily_partitions

users_campaigns_job = define_asset_job(
    "persistiq_users_campaigns_job",
    selection=AssetSelection.assets(persistiq_core_assets),
    description=(
        "Refresh PersistIQ users and campaigns, the leads of each campaign and the reference "
        "tables."
    ),
)

leads_job = define_asset_job(
    "persistiq_leads_job",
    selection=AssetSelection.assets(persistiq_leads_assets),
    partitions_def=leads_daily_partitions,
    description="Load the PersistIQ leads updated in the selected days.",
)

# None when PERSISTIQ_EXCLUDE_TABLES leaves out both events and replies.
activity_job = (
    define_asset_job(
        "persistiq_activity_job",
        selection=AssetSelection.assets(persistiq_activity_assets),
        partitions_def=leads_daily_partitions,
        description="Load the PersistIQ events and replies of the selected days.",
    )
    if persistiq_activity_assets is not None
    else None
)
