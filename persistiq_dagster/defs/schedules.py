"""Daily schedules: the snapshots refreshed, and the leads, events and replies of the day that
just closed.

All are off until turned on in the UI (or with ``dagster schedule start``): a newcomer's
``dagster dev`` never calls PersistIQ on its own. Times are cron strings in the settings'
timezone, the timezone the daily partitions are cut in.
"""

from datetime import timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    TimeWindowPartitionsDefinition,
    schedule,
)

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.jobs import Job, LoadJobs


def closed_day_schedule(
    name: str, job: Job, cron: str, partitions: TimeWindowPartitionsDefinition, what: str
) -> ScheduleDefinition:
    """A daily schedule that runs ``job`` for the partition of the day before its tick."""

    @schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=partitions.timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Load the {what} partition of the day that closed before this tick.",
    )
    def closed_day(context: ScheduleEvaluationContext) -> RunRequest:
        closed = context.scheduled_execution_time - timedelta(days=1)
        day = partitions.get_partition_key_for_timestamp(closed.timestamp())
        return RunRequest(run_key=f"{name}:{day}", partition_key=day)

    return closed_day


def build_schedules(
    settings: Settings, jobs: LoadJobs, partitions: TimeWindowPartitionsDefinition
) -> list[ScheduleDefinition]:
    schedules = [
        ScheduleDefinition(
            name="persistiq_users_campaigns_daily",
            job=jobs.users_campaigns,
            cron_schedule=settings.users_campaigns_cron,
            execution_timezone=settings.timezone,
            default_status=DefaultScheduleStatus.STOPPED,
            description=(
                "Refresh PersistIQ users, campaigns, the leads of each campaign and the "
                "reference tables once a day."
            ),
        ),
        closed_day_schedule(
            "persistiq_leads_daily", jobs.leads, settings.leads_cron, partitions, "leads"
        ),
    ]
    if jobs.activity is not None:
        schedules.append(
            closed_day_schedule(
                "persistiq_activity_daily",
                jobs.activity,
                settings.activity_cron,
                partitions,
                "events and replies",
            )
        )
    return schedules
