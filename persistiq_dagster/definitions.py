"""The Dagster Definitions: assets, checks, jobs, schedules, sensors and resources."""

from dagster import Definitions, in_process_executor

from persistiq_dagster.assets import PERSISTIQ_ASSETS
from persistiq_dagster.checks import persistiq_asset_checks
from persistiq_dagster.connection_check import connection_check_job
from persistiq_dagster.dlt_resource import PersistIQDltResource
from persistiq_dagster.env import persistiq_from_env, warehouse_from_env
from persistiq_dagster.freshness import FRESHNESS_CHECKS, persistiq_freshness_sensor
from persistiq_dagster.jobs import activity_job, leads_job, users_campaigns_job
from persistiq_dagster.schedules import (
    activity_daily_schedule,
    leads_daily_schedule,
    users_campaigns_daily_schedule,
)
from persistiq_dagster.sensors import leads_updates_sensor, persistiq_run_failure_sensor

# Every step holds the warehouse lock, so steps never run side by side: one process per run,
# not one per step, saves a Python start and an import of these Definitions for each step.
defs = Definitions(
    assets=PERSISTIQ_ASSETS,
    asset_checks=[*persistiq_asset_checks, *FRESHNESS_CHECKS],
    jobs=[
        job
        for job in (users_campaigns_job, leads_job, activity_job, connection_check_job)
        if job is not None
    ],
    schedules=[
        schedule
        for schedule in (
            users_campaigns_daily_schedule,
            leads_daily_schedule,
            activity_daily_schedule,
        )
        if schedule is not None
    ],
    sensors=[leads_updates_sensor, persistiq_run_failure_sensor, persistiq_freshness_sensor],
    executor=in_process_executor,
    resources={
        "dlt": PersistIQDltResource(),
        "persistiq": persistiq_from_env(),
        "warehouse": warehouse_from_env(),
    },
)
