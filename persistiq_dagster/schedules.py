"""Daily schedules: the snapshots refreshed, and the leads, events and replies of the day that
just closed.

Both are off until turned on in the UI (or with ``dagster schedule start``): a newcomer's
``dagster dev`` never calls PersistIQ on its own. Times are cron strings in
``PERSISTIQ_TIMEZONE``, the timezone the leads partitions are cut in.
"""

import os
from datetime import timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from persistiq_dagster import settings
from persistiq_dagster.env import timezone_from_env
from persistiq_dagster.jobs import activity_job, leads_job, users_campaigns_job
from persistiq_dagster.partitions import leads_daily_partitions

TIMEZONE = timezone_from_env()

users_campaigns_daily_schedule = ScheduleDefinition(
    name="persistiq_users_campaigns_daily",
    job=users_campaigns_job,
    cron_schedule=os.getenv(
        settings.USERS_CAMPAIGNS_CRON_ENV, settings.DEFAULT_USERS_CAMPAIGNS_CRON
    ),
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description=(
        "Refresh PersistIQ users, campaigns, the leads of each campaign and the reference "
        "tables once a day."
    ),
)


def closed_day_schedule(name: str, job, cron: str, what: str) -> ScheduleDefinition:
    """A daily schedule that runs ``job`` for the partition of the day before its tick."""

    @schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Load the {what} partition of the day that closed before this tick.",
    )
    def closed_day(context: ScheduleEvaluationContext) -> RunRequest:
        closed = context.scheduled_execution_time - timedelta(days=1)
        day = leads_daily_partitions.get_partition_key_for_timestamp(closed.timestamp())
        return RunRequest(run_key=f"{name}:{day}", partition_key=day)

    return closed_day


leads_daily_schedule = closed_day_schedule(
    "persistiq_leads_daily",
    leads_job,
    os.getenv(settings.LEADS_CRON_ENV, settings.DEFAULT_LEADS_CRON),
    "leads",
)
activity_daily_schedule = (
    closed_day_schedule(
        "persistiq_activity_daily",
        activity_job,
        os.getenv(settings.ACTIVITY_CRON_ENV, settings.DEFAULT_ACTIVITY_CRON),
        "events and replies",
    )
    if activity_job is not None
    else None
)
