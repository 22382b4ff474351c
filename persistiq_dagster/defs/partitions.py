"""Daily partitions of leads, events and replies, and the run tags of a backfill."""

from dagster import DailyPartitionsDefinition

from persistiq_dagster.config import Settings


def daily_partitions(settings: Settings) -> DailyPartitionsDefinition:
    """One partition a day from the start date, today's included (``end_offset=1``) so a
    same-day load has a home; days are cut in the settings' timezone."""
    return DailyPartitionsDefinition(
        start_date=settings.start_date, timezone=settings.timezone, end_offset=1
    )


# The run tags with which Dagster runs one run over a range of partitions (a backfill). They
# are documented tags, but their constants live only in Dagster's private modules.
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the days ``first`` to ``last`` (a backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
