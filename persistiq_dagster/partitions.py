"""Daily partitions of the leads asset, by the day a lead was last updated."""

import os

from dagster import DailyPartitionsDefinition
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from persistiq_dagster import settings


def leads_daily_partitions_from_env() -> DailyPartitionsDefinition:
    """One partition a day from ``PERSISTIQ_START_DATE``, today's included (``end_offset=1``)
    so a same-day load has a home; days are cut in ``PERSISTIQ_TIMEZONE``."""
    return DailyPartitionsDefinition(
        start_date=os.getenv(settings.START_DATE_ENV, settings.DEFAULT_START_DATE),
        timezone=os.getenv(settings.TIMEZONE_ENV, settings.DEFAULT_TIMEZONE),
        end_offset=1,
    )


leads_daily_partitions = leads_daily_partitions_from_env()


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the days ``first`` to ``last`` (a backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
