"""The schedules: what each tick asks for, and that the leads tick's run loads its day."""

from datetime import UTC, datetime

from dagster import DefaultScheduleStatus, build_schedule_context

from persistiq_dagster.definitions import defs
from persistiq_dagster.partitions import leads_daily_partitions
from persistiq_dagster.schedules import (
    activity_daily_schedule,
    leads_daily_schedule,
    users_campaigns_daily_schedule,
)
from persistiq_dagster_tests.conftest import count_rows, query, run_assets


def test_the_schedules_are_off_until_turned_on_and_share_the_partitions_timezone():
    for schedule in (leads_daily_schedule, users_campaigns_daily_schedule, activity_daily_schedule):
        assert schedule.default_status == DefaultScheduleStatus.STOPPED
        assert schedule.execution_timezone == leads_daily_partitions.timezone


def test_users_campaigns_tick_requests_its_job():
    context = build_schedule_context(scheduled_execution_time=datetime(2024, 3, 2, 6, tzinfo=UTC))

    (request,) = users_campaigns_daily_schedule.evaluate_tick(context).run_requests

    assert users_campaigns_daily_schedule.job_name == "persistiq_users_campaigns_job"
    assert request.partition_key is None


def test_leads_tick_requests_the_day_that_just_closed_and_its_run_loads_that_day(
    emulator, store, persistiq, warehouse
):
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 2, 11, 0, 15, tzinfo=UTC),
        repository_def=defs.get_repository_def(),  # validates the partition key
    )

    (request,) = leads_daily_schedule.evaluate_tick(context).run_requests
    again = leads_daily_schedule.evaluate_tick(context).run_requests[0]

    assert request.partition_key == "2024-02-10"
    assert request.run_key == again.run_key  # a repeated tick never doubles the run
    run_assets(persistiq, warehouse, select=["leads"], partition_key=request.partition_key)
    expected = [lead for lead in store.leads if lead["updated_at"].startswith("2024-02-10")]
    assert count_rows(warehouse, "leads") == len(expected)
    days = query(warehouse, "select distinct strftime(updated_at, '%Y-%m-%d') from persistiq.leads")
    assert days == [("2024-02-10",)]


def test_activity_tick_requests_the_day_that_just_closed():
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 2, 11, 0, 30, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )

    (request,) = activity_daily_schedule.evaluate_tick(context).run_requests

    assert activity_daily_schedule.job_name == "persistiq_activity_job"
    assert request.partition_key == "2024-02-10"
    assert request.run_key == "persistiq_activity_daily:2024-02-10"
