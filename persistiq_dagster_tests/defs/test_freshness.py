"""The freshness checks and their sensor, evaluated against a real ephemeral Dagster instance.

A table loaded "27 hours ago" is recorded the way Dagster's freshness checks read an update
made outside a run: an observation with ``dagster/last_updated_timestamp``. Everything else is
a real materialisation: reported to the instance, or loaded from the emulator by a job.
"""

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    build_sensor_context,
    materialize,
)

from persistiq_dagster import config
from persistiq_dagster.config import PersistIQConfigError, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.checks import build_table_checks
from persistiq_dagster.defs.freshness import (
    FRESHNESS_CHECK_NAME,
    FRESHNESS_SENSOR_INTERVAL_SECONDS,
    build_freshness_checks,
)
from persistiq_dagster.defs.resources.dlt import PersistIQDltResource
from persistiq_dagster.source.catalog import TABLE_NAMES, is_snapshot
from persistiq_dagster_tests.support import (
    DEFAULT_DEFS,
    DEFAULT_SETTINGS,
    LOAD_ASSETS,
    LOAD_JOBS,
    PARTITIONS,
)

PARAMS_KEY = "dagster/freshness_params"
LAST_UPDATED_KEY = "dagster/last_updated_timestamp"
SENSOR_NAME = "persistiq_freshness_sensor"
ENABLED_TABLES = DEFAULT_SETTINGS.enabled_tables
FRESHNESS_HOURS = DEFAULT_SETTINGS.freshness_hours
FRESHNESS_DEADLINE = DEFAULT_SETTINGS.freshness_deadline
# The checks as the default Definitions hold them (the same keys, built again to run them).
FRESHNESS_CHECKS = build_freshness_checks(
    LOAD_ASSETS.all, FRESHNESS_HOURS, FRESHNESS_DEADLINE, DEFAULT_SETTINGS.timezone
)
TZ = ZoneInfo(PARTITIONS.timezone)
SNAPSHOTS = [name for name in ENABLED_TABLES if is_snapshot(name)]
DAILY = [name for name in ENABLED_TABLES if not is_snapshot(name)]


def key(table: str) -> AssetKey:
    return AssetKey(["persistiq", table])


def freshness_key(table: str) -> AssetCheckKey:
    return AssetCheckKey(key(table), FRESHNESS_CHECK_NAME)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def loaded_now(instance: DagsterInstance, table: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(AssetMaterialization(key(table), partition=partition))


def loaded_at(instance: DagsterInstance, table: str, moment: datetime) -> None:
    """Record that ``table`` was last updated at ``moment`` (in the past)."""
    metadata = {LAST_UPDATED_KEY: MetadataValue.timestamp(moment.timestamp())}
    instance.report_runless_asset_event(AssetObservation(key(table), metadata=metadata))


def tick(instance: DagsterInstance, cursor: str | None = None):
    """One tick of the freshness sensor of the Definitions, as the daemon would run it."""
    sensor = DEFAULT_DEFS.get_repository_def().get_sensor_def(SENSOR_NAME)
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=DEFAULT_DEFS)
    return sensor.evaluate_tick(context)


def run_requested_checks(instance: DagsterInstance, result) -> dict[str, AssetCheckEvaluation]:
    """Run the checks the tick asked for, as the run it requests would; results by table."""
    [request] = result.run_requests
    selection = AssetSelection.checks(*request.asset_check_keys)
    run = materialize(FRESHNESS_CHECKS, instance=instance, selection=selection)
    assert run.success
    return {e.asset_key.path[-1]: e for e in run.get_asset_check_evaluations()}


def last_deadline() -> datetime:
    """The latest ``PERSISTIQ_FRESHNESS_DEADLINE`` passed; in its last two minutes before one,
    waits it out so the checks and the test agree on which deadline is the latest."""
    now = datetime.now(TZ)
    today = now.replace(
        hour=FRESHNESS_DEADLINE.hour, minute=FRESHNESS_DEADLINE.minute, second=0, microsecond=0
    )
    if timedelta(0) < today - now < timedelta(minutes=2):
        time.sleep((today - now).total_seconds() + 1)
        now = datetime.now(TZ)
    return today if now >= today else today - timedelta(days=1)


# -- the definitions ---------------------------------------------------------------------------


def test_every_enabled_asset_has_a_freshness_check_with_its_threshold():
    graph = DEFAULT_DEFS.resolve_asset_graph()
    checked = {k.asset_key for k in graph.asset_check_keys if k.name == FRESHNESS_CHECK_NAME}
    loads = {k for k in graph.get_all_asset_keys() if k.path[0] == "persistiq"}
    assert checked == loads == {key(name) for name in ENABLED_TABLES}
    assert FRESHNESS_HOURS == config.DEFAULT_FRESHNESS_HOURS == 26
    assert f"{FRESHNESS_DEADLINE:%H:%M}" == f"{config.DEFAULT_FRESHNESS_DEADLINE:%H:%M}" == "09:00"

    # The specs as the Definitions hold them.
    specs = {
        k.asset_key.path[-1]: graph.get_check_spec(k)
        for k in graph.asset_check_keys
        if k.name == FRESHNESS_CHECK_NAME
    }
    assert sorted(specs) == sorted(ENABLED_TABLES)
    assert not any(spec.blocking for spec in specs.values())
    for table in SNAPSHOTS:
        assert specs[table].metadata[PARAMS_KEY].value == {
            "timezone": PARTITIONS.timezone,
            "lower_bound_delta_seconds": 26 * 3600,
        }
    for table in DAILY:  # at 09:00, loaded since midnight: the day that closed is in
        assert specs[table].metadata[PARAMS_KEY].value == {
            "timezone": PARTITIONS.timezone,
            "lower_bound_delta_seconds": 9 * 3600,
            "deadline_cron": "0 9 * * *",
        }


def test_the_sensor_is_in_the_definitions_and_on():
    sensor = DEFAULT_DEFS.get_repository_def().get_sensor_def(SENSOR_NAME)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == FRESHNESS_SENSOR_INTERVAL_SECONDS
    assert sensor.asset_selection.resolve_checks(DEFAULT_DEFS.resolve_asset_graph()) == {
        freshness_key(name) for name in ENABLED_TABLES
    }


def test_the_jobs_run_the_freshness_checks_with_their_loads():
    """Each load job runs every check of its assets, freshness included (they pass right after
    a load); the sensor is what notices that loads stopped."""
    project_checks = {k for c in build_table_checks(ENABLED_TABLES) for k in c.check_keys}
    freshness = {freshness_key(name) for name in ENABLED_TABLES}
    in_jobs = set()
    assert len(LOAD_JOBS.all) == 3
    for job in LOAD_JOBS.all:
        checks = DEFAULT_DEFS.resolve_job_def(job.name).asset_layer.asset_graph.asset_check_keys
        assert {k.name for k in checks} >= {FRESHNESS_CHECK_NAME, "id_unique_and_not_null"}
        in_jobs |= checks
    assert in_jobs == project_checks | freshness


# -- evaluated against an instance -------------------------------------------------------------


def test_snapshots_loaded_within_the_hours_pass_older_or_never_warn(instance):
    now = datetime.now(TZ)
    loaded_now(instance, "users")
    loaded_at(instance, "campaign_leads", now - timedelta(hours=FRESHNESS_HOURS - 1))
    loaded_at(instance, "campaigns", now - timedelta(hours=FRESHNESS_HOURS + 1))

    first = tick(instance)  # nothing evaluated yet: every check is asked for, in one run
    assert set(first.run_requests[0].asset_check_keys) == {
        freshness_key(name) for name in ENABLED_TABLES
    }
    results = run_requested_checks(instance, first)

    assert {table for table, e in results.items() if e.passed} == {"users", "campaign_leads"}
    assert {e.severity for e in results.values()} == {AssetCheckSeverity.WARN}
    overdue = results["campaigns"]
    assert overdue.description.startswith("Asset is overdue for an update")
    assert overdue.metadata[LAST_UPDATED_KEY].value == pytest.approx(
        (now - timedelta(hours=FRESHNESS_HOURS + 1)).timestamp()
    )
    lower_bound = overdue.metadata["dagster/freshness_lower_bound_timestamp"].value
    assert lower_bound == pytest.approx(
        (now - timedelta(hours=FRESHNESS_HOURS)).timestamp(), abs=60
    )
    assert results["tags"].description == "Asset has never been observed/materialized."


def test_daily_tables_must_be_loaded_since_midnight_by_the_deadline(instance):
    midnight = last_deadline().replace(hour=0, minute=0)
    closed_day = (midnight - timedelta(days=1)).strftime(PARTITIONS.fmt)
    loaded_now(instance, "leads", partition=closed_day)
    loaded_at(instance, "replies", midnight + timedelta(minutes=1))  # after the day closed
    loaded_at(instance, "events", midnight - timedelta(minutes=1))  # before it closed

    results = run_requested_checks(instance, tick(instance))

    assert results["leads"].passed and results["replies"].passed
    assert not results["events"].passed
    assert results["events"].severity == AssetCheckSeverity.WARN
    lower_bound = results["events"].metadata["dagster/freshness_lower_bound_timestamp"].value
    assert lower_bound == midnight.timestamp()


def test_a_real_load_is_fresh_and_the_sensor_rechecks_only_after_a_new_load(
    instance, persistiq, warehouse
):
    definitions = Definitions(
        assets=LOAD_ASSETS.all,
        asset_checks=[*build_table_checks(ENABLED_TABLES), *FRESHNESS_CHECKS],
        jobs=[LOAD_JOBS.users_campaigns],
        resources={"dlt": PersistIQDltResource(), "persistiq": persistiq, "warehouse": warehouse},
    )
    load = definitions.resolve_job_def(LOAD_JOBS.users_campaigns.name).execute_in_process(
        instance=instance
    )
    assert load.success
    assert {e.check_name for e in load.get_asset_check_evaluations()} == {
        "id_unique_and_not_null",
        "rows_match_last_load",
        "schema_unchanged",
        FRESHNESS_CHECK_NAME,
    }
    assert all(e.passed for e in load.get_asset_check_evaluations())

    # The load ran the snapshots' freshness checks, which passed: the sensor asks for the
    # others, whose tables were never loaded.
    first = tick(instance)
    results = run_requested_checks(instance, first)
    assert set(results) == set(DAILY)
    assert not any(e.passed for e in results.values())

    # Failed checks wait for a new load; passed ones until they could be overdue again.
    second = tick(instance, first.cursor)
    assert second.run_requests == []
    assert "No freshness checks need to be evaluated" in second.skip_message

    loaded_now(instance, "leads", partition=datetime.now(TZ).strftime(PARTITIONS.fmt))
    third = tick(instance, second.cursor)
    assert list(third.run_requests[0].asset_check_keys) == [freshness_key("leads")]
    assert run_requested_checks(instance, third)["leads"].passed


# -- settings ----------------------------------------------------------------------------------


def test_settings_are_checked():
    deadline = Settings.from_env({config.FRESHNESS_DEADLINE_ENV: "07:30"}).freshness_deadline
    assert (deadline.hour, deadline.minute) == (7, 30)
    for wrong in ("9am", "9:00", "24:00", "09:60", "09:00:00"):
        with pytest.raises(PersistIQConfigError, match=config.FRESHNESS_DEADLINE_ENV):
            Settings.from_env({config.FRESHNESS_DEADLINE_ENV: wrong})
    with pytest.raises(PersistIQConfigError, match=config.FRESHNESS_HOURS_ENV):
        Settings.from_env({config.FRESHNESS_HOURS_ENV: "0"})


def freshness_params(environ: dict[str, str]) -> dict[str, dict]:
    """Each freshness check's parameters, by table, in the Definitions ``environ`` builds."""
    graph = build_defs(Settings.from_env(environ)).resolve_asset_graph()
    return {
        k.asset_key.path[-1]: graph.get_check_spec(k).metadata[PARAMS_KEY].value
        for k in graph.asset_check_keys
        if k.name == FRESHNESS_CHECK_NAME
    }


def test_settings_reach_the_checks():
    settings_given = {
        "PERSISTIQ_FRESHNESS_HOURS": "48",
        "PERSISTIQ_FRESHNESS_DEADLINE": "07:30",
        "PERSISTIQ_TIMEZONE": "Europe/Berlin",
        "PERSISTIQ_EXCLUDE_TABLES": "events,replies",
    }
    params = freshness_params(settings_given)
    assert sorted(params) == sorted(set(TABLE_NAMES) - {"events", "replies"})
    assert params["leads"] == {
        "timezone": "Europe/Berlin",
        "lower_bound_delta_seconds": 7.5 * 3600,
        "deadline_cron": "30 7 * * *",
    }
    assert params["users"] == {"timezone": "Europe/Berlin", "lower_bound_delta_seconds": 48 * 3600}

    settings_given[config.FRESHNESS_DEADLINE_ENV] = "9am"
    with pytest.raises(PersistIQConfigError) as wrong:
        freshness_params(settings_given)
    assert "PERSISTIQ_FRESHNESS_DEADLINE='9am' is not a time of day as HH:MM" in str(wrong.value)
