"""Jobs that schedules and sensors launch: one per multi-asset, with every check of its assets
(``checks.py``, and ``freshness.py``'s, which pass right after a load)."""

from dataclasses import dataclass
from typing import Any

from dagster import AssetSelection, define_asset_job

from persistiq_dagster.defs.assets import LoadAssets

# What define_asset_job returns; its class is not part of Dagster's public API.
Job = Any


@dataclass(frozen=True)
class LoadJobs:
    """The load jobs; ``activity`` is None when both events and replies are excluded."""

    users_campaigns: Job
    leads: Job
    activity: Job | None

    @property
    def all(self) -> list[Job]:
        return [job for job in (self.users_campaigns, self.leads, self.activity) if job]


def build_load_jobs(assets: LoadAssets) -> LoadJobs:
    """One job per multi-asset; the daily ones take their partitions from their assets."""
    return LoadJobs(
        users_campaigns=define_asset_job(
            "persistiq_users_campaigns_job",
            selection=AssetSelection.assets(assets.core),
            description=(
                "Refresh PersistIQ users and campaigns, the leads of each campaign and the "
                "reference tables."
            ),
        ),
        leads=define_asset_job(
            "persistiq_leads_job",
            selection=AssetSelection.assets(assets.leads),
            description="Load the PersistIQ leads updated in the selected days.",
        ),
        activity=define_asset_job(
            "persistiq_activity_job",
            selection=AssetSelection.assets(assets.activity),
            description="Load the PersistIQ events and replies of the selected days.",
        )
        if assets.activity is not None
        else None,
    )
