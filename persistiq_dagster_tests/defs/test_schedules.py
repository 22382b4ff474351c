"""The schedules: what each tick asks for, and that the leads tick's run loads its day."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dagster import DefaultScheduleStatus, build_schedule_context

from persistiq_dagster import config
from persistiq_dagster.config import Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.partitions import partition_range_tags
from persistiq_dagster.defs.schedules import build_schedules
from persistiq_dagster_tests.support import (
    DEFAULT_DEFS,
    DEFAULT_SETTINGS,
    LOAD_JOBS,
    PARTITIONS,
    count_rows,
    query,
    run_assets,
)

SCHEDULES = {
    schedule.name: schedule for schedule in build_schedules(DEFAULT_SETTINGS, LOAD_JOBS, PARTITIONS)
}
users_campaigns_daily_schedule = SCHEDULES["persistiq_users_campaigns_daily"]
leads_daily_schedule = SCHEDULES["persistiq_leads_daily"]
activity_daily_schedule = SCHEDULES["persistiq_activity_daily"]


def test_the_schedules_are_off_until_turned_on_and_share_the_partitions_timezone():
    assert sorted(schedule.name for schedule in DEFAULT_DEFS.schedules) == sorted(
        [*SCHEDULES, "persistiq_leads_reconcile_weekly"]
    )
    for schedule in (*SCHEDULES.values(), *DEFAULT_DEFS.schedules):
        assert schedule.default_status == DefaultScheduleStatus.STOPPED
        assert schedule.execution_timezone == PARTITIONS.timezone


def test_users_campaigns_tick_requests_its_job():
    context = build_schedule_context(scheduled_execution_time=datetime(2024, 3, 2, 6, tzinfo=UTC))

    (request,) = users_campaigns_daily_schedule.evaluate_tick(context).run_requests

    assert users_campaigns_daily_schedule.job_name == "persistiq_users_campaigns_job"
    assert request.partition_key is None


def test_leads_tick_requests_the_day_that_just_closed_and_its_run_loads_that_day(
    emulator, store, persistiq, warehouse
):
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 1, 6, 0, 15, tzinfo=UTC),
        repository_def=DEFAULT_DEFS.get_repository_def(),  # validates the partition key
    )

    (request,) = leads_daily_schedule.evaluate_tick(context).run_requests
    again = leads_daily_schedule.evaluate_tick(context).run_requests[0]

    assert request.partition_key == "2024-01-05"
    assert request.run_key == again.run_key  # a repeated tick never doubles the run
    run_assets(persistiq, warehouse, select=["leads"], partition_key=request.partition_key)
    expected = [lead for lead in store.leads if lead["updated_at"].startswith("2024-01-05")]
    assert count_rows(warehouse, "leads") == len(expected)
    days = query(warehouse, "select distinct strftime(updated_at, '%Y-%m-%d') from persistiq.leads")
    assert days == [("2024-01-05",)]


def test_activity_tick_requests_the_day_that_just_closed_and_the_two_before():
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 2, 11, 0, 30, tzinfo=UTC),
        repository_def=DEFAULT_DEFS.get_repository_def(),
    )

    (request,) = activity_daily_schedule.evaluate_tick(context).run_requests

    assert activity_daily_schedule.job_name == "persistiq_activity_job"
    assert request.partition_key is None  # one run over the range, as a backfill
    assert partition_range_tags("2024-02-08", "2024-02-10").items() <= request.tags.items()
    assert request.run_key == "persistiq_activity_daily:2024-02-08...2024-02-10"


def test_the_lookback_is_a_setting_and_stops_at_the_first_day():
    one_day = Settings.from_env({config.ACTIVITY_LOOKBACK_DAYS_ENV: "1"})
    defs = build_defs(one_day)
    schedule = next(s for s in defs.schedules if s.name == "persistiq_activity_daily")
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 2, 11, 0, 30, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-02-10"
    assert request.run_key == "persistiq_activity_daily:2024-02-10"
    # The day after the first partition: the window starts at the first partition.
    early = build_schedule_context(
        scheduled_execution_time=datetime(2024, 1, 3, 0, 30, tzinfo=UTC),
        repository_def=DEFAULT_DEFS.get_repository_def(),
    )
    (first,) = activity_daily_schedule.evaluate_tick(early).run_requests
    assert partition_range_tags("2024-01-01", "2024-01-02").items() <= first.tags.items()


def test_an_event_shown_after_its_day_was_loaded_is_read_by_the_next_tick(
    emulator, store, persistiq, warehouse
):
    """The tick of Jan 6 loads Jan 3-5; PersistIQ then shows an event of Jan 5; the tick of
    Jan 7 reads Jan 4-6 again and loads it, and no event twice."""

    def tick_and_run(day: int) -> None:
        context = build_schedule_context(
            scheduled_execution_time=datetime(2024, 1, day, 0, 30, tzinfo=UTC),
            repository_def=DEFAULT_DEFS.get_repository_def(),
        )
        (request,) = activity_daily_schedule.evaluate_tick(context).run_requests
        run_assets(persistiq, warehouse, select=["events"], tags=request.tags)

    tick_and_run(6)
    template = next(e for e in store.events if e["created_at"].startswith("2024-01-05"))
    late = {**template, "id": "evt_late", "created_at": "2024-01-05T12:00:00Z"}
    store.events.append(late)
    store.bump()
    tick_and_run(7)

    loaded = query(warehouse, "select id from persistiq.events")
    ids = [row[0] for row in loaded]
    assert "evt_late" in ids and len(ids) == len(set(ids))
    expected = {
        e["id"] for e in store.events if "2024-01-03" <= e["created_at"][:10] <= "2024-01-06"
    }
    assert set(ids) == expected


def test_the_times_and_timezone_come_from_the_settings():
    """Other crons and another timezone, in process: each schedule ticks at its cron in that
    timezone, and the day that closed is that timezone's."""
    berlin = ZoneInfo("Europe/Berlin")
    settings = Settings.from_env(
        {
            config.TIMEZONE_ENV: "Europe/Berlin",
            config.USERS_CAMPAIGNS_CRON_ENV: "0 7 * * 1",
            config.LEADS_CRON_ENV: "15 0 * * *",
            config.ACTIVITY_CRON_ENV: "45 1 * * *",
            config.LEADS_RECONCILE_CRON_ENV: "0 4 * * 6",
        }
    )
    defs = build_defs(settings)
    schedules = {schedule.name: schedule for schedule in defs.schedules}
    assert {name: schedule.cron_schedule for name, schedule in schedules.items()} == {
        "persistiq_users_campaigns_daily": "0 7 * * 1",
        "persistiq_leads_daily": "15 0 * * *",
        "persistiq_activity_daily": "45 1 * * *",
        "persistiq_leads_reconcile_weekly": "0 4 * * 6",
    }
    assert {schedule.execution_timezone for schedule in schedules.values()} == {"Europe/Berlin"}

    # 00:15 in Berlin is 23:15 UTC the evening before: the day that closed is Berlin's.
    tick_at = datetime(2024, 2, 11, 0, 15, tzinfo=berlin)
    context = build_schedule_context(
        scheduled_execution_time=tick_at, repository_def=defs.get_repository_def()
    )
    (request,) = schedules["persistiq_leads_daily"].evaluate_tick(context).run_requests
    assert request.partition_key == "2024-02-10"
    in_utc = build_schedule_context(
        scheduled_execution_time=tick_at, repository_def=DEFAULT_DEFS.get_repository_def()
    )
    (utc_request,) = leads_daily_schedule.evaluate_tick(in_utc).run_requests
    assert utc_request.partition_key == "2024-02-09"
