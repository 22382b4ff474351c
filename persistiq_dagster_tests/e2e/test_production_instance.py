"""The production instance (deploy/dagster.yaml): Dagster's storage on a real PostgreSQL
server, the queued run coordinator, the pool, run monitoring. A real ``dagster dev`` on it
ticks the leads schedule and the leads sensor, and the runs they request succeed, with their
events in PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg2
import pytest

from persistiq_dagster_tests.dagster_cli import PROJECT_DIR
from persistiq_dagster_tests.e2e.test_dagster_dev import (
    START_SENSOR_MUTATION,
    running_dagster_dev,
)
from persistiq_dagster_tests.postgres_server import PostgresServer
from persistiq_emulator import PersistIQEmulator, make_dataset

PRODUCTION_INSTANCE = PROJECT_DIR / "deploy" / "dagster.yaml"
STORAGE_DATABASE = "dagster"
TICK_TIMEOUT = 150.0  # a schedule ticking every minute, then its run

START_SCHEDULE_MUTATION = """
mutation StartSchedule($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""


def storage_rows(server: PostgresServer, sql: str, *args) -> list[tuple]:
    url = server.url.rsplit("/", 1)[0] + f"/{STORAGE_DATABASE}"
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


def create_storage_database(server: PostgresServer) -> None:
    connection = psycopg2.connect(server.url)
    connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
    with connection.cursor() as cursor:
        cursor.execute(f"create database {STORAGE_DATABASE}")
    connection.close()


@pytest.fixture
def production_dagster_dev(postgres: PostgresServer, tmp_path: Path):
    create_storage_database(postgres)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(PRODUCTION_INSTANCE.read_text())
    store = make_dataset(users=3, leads=120, campaigns=4)
    with (
        PersistIQEmulator(store=store) as emulator,
        running_dagster_dev(
            tmp_path,
            dagster_home,
            DAGSTER_POSTGRES_HOST=postgres.host,
            DAGSTER_POSTGRES_PORT=str(postgres.port),
            DAGSTER_POSTGRES_USER=postgres.user,
            DAGSTER_POSTGRES_PASSWORD=postgres.password,
            DAGSTER_POSTGRES_DB=STORAGE_DATABASE,
            PERSISTIQ_API_KEY=emulator.api_key,
            PERSISTIQ_BASE_URL=emulator.base_url,
            PERSISTIQ_LEADS_CRON="* * * * *",  # tick every minute, for the test
            PERSISTIQ_LEADS_SENSOR_INTERVAL_SECONDS="5",
        ) as (server, location, repository),
    ):
        yield server, location, repository, emulator


def leads_runs(postgres: PostgresServer) -> dict[str, tuple[str, str]]:
    """run id -> (status, what launched it), from Dagster's run storage in PostgreSQL."""
    rows = storage_rows(
        postgres,
        "select r.run_id, r.status, t.key from runs r join run_tags t on t.run_id = r.run_id "
        "where r.pipeline_name = 'persistiq_leads_job' "
        "and t.key in ('dagster/schedule_name', 'dagster/sensor_name')",
    )
    return {run_id: (status, key) for run_id, status, key in rows}


def test_schedule_and_sensor_runs_succeed_with_storage_in_postgres(
    postgres: PostgresServer, production_dagster_dev
):
    server, location, repository, emulator = production_dagster_dev
    selector = {"repositoryLocationName": location, "repositoryName": repository}
    started = server.graphql(
        START_SCHEDULE_MUTATION,
        {"selector": {**selector, "scheduleName": "persistiq_leads_daily"}},
    )["startSchedule"]
    assert started["__typename"] == "ScheduleStateResult", started
    emulator.store.update_leads(count=3)  # now: the sensor's next tick asks for today
    started = server.graphql(
        START_SENSOR_MUTATION,
        {"selector": {**selector, "sensorName": "persistiq_leads_updates_sensor"}},
    )["startSensor"]
    assert started["__typename"] == "Sensor", started

    deadline = time.monotonic() + TICK_TIMEOUT
    runs: dict[str, tuple[str, str]] = {}
    while time.monotonic() < deadline:
        runs = leads_runs(postgres)
        launched_by = {key for _, key in runs.values()}
        finished = all(status in ("SUCCESS", "FAILURE", "CANCELED") for status, _ in runs.values())
        if len(launched_by) == 2 and finished:
            break
        time.sleep(2)
    else:
        server.fail(f"no schedule and sensor runs finished in {TICK_TIMEOUT:.0f} s: {runs}")

    assert {status for status, _ in runs.values()} == {"SUCCESS"}, runs
    for run_id in runs:
        (materialized,) = storage_rows(
            postgres,
            "select count(*) from event_logs where run_id = %s "
            "and dagster_event_type = 'ASSET_MATERIALIZATION'",
            run_id,
        )[0]
        assert materialized >= 1, run_id
    # The instance really is the production one: its ticks are in PostgreSQL too.
    ticks = storage_rows(postgres, "select count(*) from job_ticks")[0][0]
    assert ticks >= 2
