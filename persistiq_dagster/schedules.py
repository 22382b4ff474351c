"""Daily schedules: users and campaigns refreshed, and the leads day that just closed.

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
from persistiq_dagster.jobs import leads_job, users_campaigns_job
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
    description="Refresh PersistIQ users and campaigns once a day.",
)


@schedule(
    name="persistiq_leads_daily",
    job=leads_job,
    cron_schedule=os.getenv(settings.LEADS_CRON_ENV, settings.DEFAULT_LEADS_CRON),
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Load the leads partition of the day that closed before this tick.",
)
def leads_daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    closed = context.scheduled_execution_time - timedelta(days=1)
    day = leads_daily_partitions.get_partition_key_for_timestamp(closed.timestamp())
    return RunRequest(run_key=f"persistiq_leads_daily:{day}", partition_key=day)
