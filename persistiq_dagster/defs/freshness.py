"""Freshness checks: a PersistIQ table that was not loaded when it should have been is a warning.

One check, ``freshness_check``, on every asset the Definitions offer, built with Dagster's own
``build_last_update_freshness_checks``; severity WARN, never blocking:

- Snapshots (users, campaigns, campaign leads, reference tables): overdue when not loaded for
  ``PERSISTIQ_FRESHNESS_HOURS`` hours (26: the daily refresh, with two hours to spare).
- Leads, events and replies: overdue when, at ``PERSISTIQ_FRESHNESS_DEADLINE`` (09:00) in
  ``PERSISTIQ_TIMEZONE``, they have not been loaded since midnight, when the day that closed
  became due (the daily schedules load it at 00:15 and 00:30 by default).

Not ``build_time_partition_freshness_checks`` for the daily ones: it asks for the partition
that holds the deadline, and these partitions include today (``end_offset=1``), so at 09:00 it
would ask for today's partition, which the nightly loads never write.

``persistiq_freshness_sensor`` (Dagster's ``build_sensor_for_freshness_checks``) launches a run
of the checks that may have become overdue: one that passed, once its fresh-until time is past;
one that failed, only after its asset is loaded again. It is **on by default**, unlike the
schedules and the leads sensor, which are off so that a fresh ``dagster dev`` never calls
PersistIQ: the checks read only Dagster's own records of materialisations, never PersistIQ or
the warehouse, and a freshness alert one has to remember to switch on would be off exactly
when loads stop unnoticed. On a fresh instance its first run says every table was never loaded.

Like every check of an asset, they also run with each load of it (the jobs, the UI, ``dagster
asset materialize``), where they pass, the asset having just been loaded; the sensor is what
notices that loads stopped.
"""

import warnings
from collections.abc import Sequence
from datetime import time, timedelta

from dagster import (
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetsDefinition,
    DefaultSensorStatus,
    SupersessionWarning,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)

FRESHNESS_SENSOR_INTERVAL_SECONDS = 300
FRESHNESS_CHECK_NAME = "freshness_check"  # the name Dagster's factory gives every check
SEVERITY = AssetCheckSeverity.WARN


def daily_deadline_cron(deadline: time) -> str:
    return f"{deadline.minute} {deadline.hour} * * *"


def build_freshness_checks(
    assets: Sequence[AssetsDefinition], hours: int, deadline: time, timezone: str
) -> list[AssetChecksDefinition]:
    """A freshness check on every asset of ``assets``: the unpartitioned ones overdue after
    ``hours`` without a load, the partitioned ones when not loaded since midnight by
    ``deadline`` (in ``timezone``)."""
    snapshots = [each for each in assets if each.partitions_def is None]
    daily = [each for each in assets if each.partitions_def is not None]
    checks: list[AssetChecksDefinition] = []
    # Dagster marks these factories superseded by FreshnessPolicy. Checks are chosen on purpose
    # (they show beside the other checks of each asset), so the warning is not repeated at
    # every load of the code location.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        if snapshots:
            checks += build_last_update_freshness_checks(
                assets=snapshots,
                lower_bound_delta=timedelta(hours=hours),
                timezone=timezone,
                severity=SEVERITY,
            )
        if daily:
            checks += build_last_update_freshness_checks(
                assets=daily,
                deadline_cron=daily_deadline_cron(deadline),
                # From the deadline back to the midnight before it: loaded since the day closed.
                lower_bound_delta=timedelta(hours=deadline.hour, minutes=deadline.minute),
                timezone=timezone,
                severity=SEVERITY,
            )
    return checks


def build_freshness_sensor(checks: Sequence[AssetChecksDefinition]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        return build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name="persistiq_freshness_sensor",
            minimum_interval_seconds=FRESHNESS_SENSOR_INTERVAL_SECONDS,
            default_status=DefaultSensorStatus.RUNNING,
        )
