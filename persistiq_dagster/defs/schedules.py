"""Daily schedules: the snapshots refreshed, the leads of the day that just closed, and the
events and replies of the days that closed lately (``PERSISTIQ_ACTIVITY_LOOKBACK_DAYS``, the
day that closed included): PersistIQ may show an event or reply after its day was loaded, and a
day read again merges on id.

All are off until turned on in the UI (or with ``dagster schedule start``): a newcomer's
``dagster dev`` never calls PersistIQ on its own. Times are cron strings in the settings'
timezone, the timezone the daily partitions are cut in.
"""

from datetime import date, timedelta

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
from persistiq_dagster.defs.partitions import partition_range_tags


def closed_day_schedule(
    name: str,
    job: Job,
    cron: str,
    partitions: TimeWindowPartitionsDefinition,
    what: str,
    days: int = 1,
) -> ScheduleDefinition:
    """A daily schedule that runs ``job`` for the day that closed before its tick, or for the
    ``days`` days ending with it, in one run (as a backfill of that range runs)."""
    which = "day" if days == 1 else f"{days} days ending with the day"

    @schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=partitions.timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Load the {what} of the {which} that closed before this tick.",
    )
    def closed_days(context: ScheduleEvaluationContext) -> RunRequest:
        closed = context.scheduled_execution_time - timedelta(days=1)
        last = partitions.get_partition_key_for_timestamp(closed.timestamp())
        first = first_of_window(partitions, last, days)
        if first == last:
            return RunRequest(run_key=f"{name}:{last}", partition_key=last)
        return RunRequest(
            run_key=f"{name}:{first}...{last}", tags=partition_range_tags(first, last)
        )

    return closed_days


def first_of_window(partitions: TimeWindowPartitionsDefinition, last: str, days: int) -> str:
    """The first of the ``days`` daily partitions ending with ``last``, not before the first
    partition (keys are dates, YYYY-MM-DD)."""
    first = date.fromisoformat(last) - timedelta(days=days - 1)
    earliest = partitions.get_first_partition_key()
    return max(first.isoformat(), earliest) if earliest else first.isoformat()


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
                days=settings.activity_lookback_days,
            )
        )
    return schedules
