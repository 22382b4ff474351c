"""Daily partitions of the leads asset, by the day a lead was last updated."""

from dagster import DailyPartitionsDefinition

from persistiq_dagster.env import start_date_from_env, timezone_from_env


def leads_daily_partitions_from_env() -> DailyPartitionsDefinition:
    """One partition a day from ``PERSISTIQ_START_DATE``, today's included (``end_offset=1``)
    so a same-day load has a home; days are cut in ``PERSISTIQ_TIMEZONE``."""
    return DailyPartitionsDefinition(
        start_date=start_date_from_env(),
        timezone=timezone_from_env(),
        end_offset=1,
    )


leads_daily_partitions = leads_daily_partitions_from_env()

# The run tags with which Dagster runs one run over a range of partitions (a backfill). They
# are documented tags, but their constants live only in Dagster's private modules.
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the days ``first`` to ``last`` (a backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
