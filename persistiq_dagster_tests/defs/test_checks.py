"""The asset checks, run against the emulator and a real DuckDB file, with bad data made for real.

One Dagster instance per test, so a checks-only run sees the materialisations of earlier runs.
"""

from collections.abc import Sequence

import duckdb
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    asset,
    materialize,
)

from persistiq_dagster.defs.checks import (
    ID_CHECK_NAME,
    OWNER_CHECK_NAME,
    ROWS_CHECK_NAME,
    SCHEMA_CHECK_NAME,
    build_table_checks,
)
from persistiq_dagster.defs.resources.dlt import PersistIQDltResource
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.catalog import (
    ACTIVITY_PIPELINE,
    CORE_PIPELINE,
    LEADS_PIPELINE,
    TABLE_NAMES,
    TABLES_BY_NAME,
)
from persistiq_dagster_tests.support import (
    DEFAULT_SETTINGS,
    EMULATOR_DAYS,
    LOAD_ASSETS,
    LOAD_JOBS,
    TEST_DAYS,
    query,
)

TABLES = TABLE_NAMES
EVERY_CHECK = {
    *((table, ID_CHECK_NAME) for table in TABLES),
    *((table, ROWS_CHECK_NAME) for table in TABLES),
    *((table, SCHEMA_CHECK_NAME) for table in TABLES),
    ("leads", OWNER_CHECK_NAME),
}
TABLE_CHECKS = build_table_checks(DEFAULT_SETTINGS.enabled_tables)
ALL_DEFINITIONS = [*LOAD_ASSETS.all, *TABLE_CHECKS]


def check_key(table: str, name: str) -> AssetCheckKey:
    return AssetCheckKey(AssetKey(["persistiq", table]), name)


@pytest.fixture
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


def resources_for(persistiq: PersistIQResource, warehouse: PersistIQWarehouse) -> dict:
    return {"dlt": PersistIQDltResource(), "persistiq": persistiq, "warehouse": warehouse}


def run(
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
    instance: DagsterInstance,
    selection: AssetSelection,
    extra_assets: Sequence = (),
    **kwargs,
) -> ExecuteInProcessResult:
    """One in-process run of ``selection`` (assets, checks or both) on ``instance``."""
    return materialize(
        [*ALL_DEFINITIONS, *extra_assets],
        resources=resources_for(persistiq, warehouse),
        instance=instance,
        selection=selection,
        raise_on_error=False,
        **kwargs,
    )


def load(
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
    instance: DagsterInstance,
    select: Sequence[str] = TABLES,
    partition_key: str | None = None,
) -> dict[tuple[str, str], AssetCheckEvaluation]:
    """Like ``support.run_assets``, with the checks of the selected assets (one run per
    multi-asset); every run must succeed. Returns the check results of all runs."""
    results = []
    window = {"partition_key": partition_key} if partition_key else {"tags": EMULATOR_DAYS}
    for pipeline in (CORE_PIPELINE, LEADS_PIPELINE, ACTIVITY_PIPELINE):
        keys = [
            AssetKey(["persistiq", table])
            for table in select
            if TABLES_BY_NAME[table].pipeline == pipeline
        ]
        if keys:
            partitioned = {} if pipeline == CORE_PIPELINE else window
            selection = AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys)
            results.append(run(persistiq, warehouse, instance, selection, **partitioned))
    assert all(result.success for result in results)
    return {key: value for result in results for key, value in evaluations(result).items()}


def run_checks(
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
    instance: DagsterInstance,
    selection: AssetSelection | None = None,
    extra_assets: Sequence = (),
) -> ExecuteInProcessResult:
    """Run checks only (by default all of them): no request to PersistIQ, no load."""
    selection = selection or AssetSelection.all_asset_checks()
    return run(persistiq, warehouse, instance, selection, extra_assets)


def evaluations(result: ExecuteInProcessResult) -> dict[tuple[str, str], AssetCheckEvaluation]:
    return {
        (evaluation.asset_key.path[-1], evaluation.check_name): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


def metadata(evaluation: AssetCheckEvaluation) -> dict:
    return {key: value.value for key, value in evaluation.metadata.items()}


def execute(warehouse: PersistIQWarehouse, *statements: str) -> None:
    """Change the warehouse behind dlt's back, as a bad load or a stray script would."""
    with duckdb.connect(warehouse.duckdb_path) as connection:
        for statement in statements:
            connection.execute(statement)


def test_a_first_load_of_a_day_without_leads_passes_its_checks(
    emulator, persistiq, warehouse, instance
):
    # A new warehouse, and a day PersistIQ has no leads for: dlt creates no table.
    results = load(persistiq, warehouse, instance, select=["leads"], partition_key="2025-06-01")

    assert set(results) == {key for key in EVERY_CHECK if key[0] == "leads"}
    assert all(result.passed for result in results.values())
    assert metadata(results[("leads", ID_CHECK_NAME)]) == {"rows": 0}
    assert "not in the warehouse yet" in results[("leads", OWNER_CHECK_NAME)].description


def test_the_jobs_run_every_check_after_a_normal_load_and_all_pass(
    emulator, persistiq, warehouse, instance
):
    defs = Definitions(
        assets=LOAD_ASSETS.all,
        asset_checks=TABLE_CHECKS,
        jobs=LOAD_JOBS.all,
        resources=resources_for(persistiq, warehouse),
    )
    results = {}
    for job, pipeline in (
        (LOAD_JOBS.users_campaigns, CORE_PIPELINE),
        (LOAD_JOBS.leads, LEADS_PIPELINE),
        (LOAD_JOBS.activity, ACTIVITY_PIPELINE),
    ):
        result = defs.resolve_job_def(job.name).execute_in_process(
            instance=instance, tags=None if job is LOAD_JOBS.users_campaigns else EMULATOR_DAYS
        )
        assert result.success, job.name
        # AssetSelection.assets(<multi-asset>) brings the checks of its assets along.
        assert set(evaluations(result)) == {
            key for key in EVERY_CHECK if TABLES_BY_NAME[key[0]].pipeline == pipeline
        }
        results.update(evaluations(result))
    assert {key: result.passed for key, result in results.items()} == dict.fromkeys(
        EVERY_CHECK, True
    )
    assert metadata(results[("leads", ID_CHECK_NAME)]) == {
        "rows": 345,
        "null_ids": 0,
        "duplicate_ids": 0,
        "duplicate_rows": 0,
        "sample_duplicate_ids": [],
    }
    rows = metadata(results[("leads", ROWS_CHECK_NAME)])
    assert rows["persistiq_rows"] == rows["rows_found"] == 345
    assert rows["materialization_partition"] == TEST_DAYS[1]  # latest of the run's partitions
    ((last_leads_load,),) = query(
        warehouse,
        "select max(load_id) from persistiq._dlt_loads where schema_name = 'persistiq_leads'",
    )
    assert rows["load_ids"] == [last_leads_load]  # the run's own load, from its metadata
    assert metadata(results[("leads", OWNER_CHECK_NAME)])["null_owner_ids"] == 0


def test_a_duplicate_id_fails_the_blocking_id_check(emulator, persistiq, warehouse, instance):
    @asset(deps=[AssetKey(["persistiq", "users"])])
    def users_report() -> None:
        """Downstream of users: a failed blocking check on users must keep it from running."""

    def check_users_then_report() -> ExecuteInProcessResult:
        selection = AssetSelection.checks_for_assets(
            AssetKey(["persistiq", "users"])
        ) | AssetSelection.assets(users_report)
        return run_checks(persistiq, warehouse, instance, selection, extra_assets=[users_report])

    load(persistiq, warehouse, instance, select=["users"])
    clean = check_users_then_report()
    assert clean.success
    assert [e.asset_key for e in clean.get_asset_materialization_events()] == [users_report.key]

    ((duplicate,),) = query(warehouse, "select min(id) from persistiq.users")
    execute(
        warehouse,
        f"insert into persistiq.users select * from persistiq.users where id = '{duplicate}'",
    )
    result = check_users_then_report()

    assert not result.success  # the blocking check failed its step
    id_check = evaluations(result)[("users", ID_CHECK_NAME)]
    assert not id_check.passed
    assert id_check.severity == AssetCheckSeverity.ERROR and id_check.blocking
    assert metadata(id_check) == {
        "rows": 6,
        "null_ids": 0,
        "duplicate_ids": 1,
        "duplicate_rows": 1,
        "sample_duplicate_ids": [duplicate],
    }
    assert result.get_asset_materialization_events() == []  # users_report was held back
    report_events = {e.event_type for e in result.all_events if e.step_key == "users_report"}
    assert DagsterEventType.STEP_START not in report_events  # not even started


def test_a_null_id_fails_the_id_check(emulator, persistiq, warehouse, instance):
    load(persistiq, warehouse, instance, select=["users", "campaigns"])
    # dlt declares id NOT NULL (a warehouse that ignores it would take the row).
    execute(
        warehouse,
        "alter table persistiq.campaigns alter column id drop not null",
        "update persistiq.campaigns set id = null "
        "where id = (select min(id) from persistiq.campaigns)",
    )

    result = run_checks(
        persistiq, warehouse, instance, AssetSelection.checks(check_key("campaigns", ID_CHECK_NAME))
    )

    assert not result.success  # blocking, severity ERROR: the step fails
    (id_check,) = evaluations(result).values()
    assert not id_check.passed and id_check.severity == AssetCheckSeverity.ERROR
    assert metadata(id_check)["null_ids"] == 1
    assert metadata(id_check)["duplicate_ids"] == 0


def test_rows_check_warns_when_rows_of_the_last_load_are_missing(
    emulator, persistiq, warehouse, instance
):
    load(persistiq, warehouse, instance)
    passing = run_checks(persistiq, warehouse, instance)
    assert passing.success
    assert all(result.passed for result in evaluations(passing).values())

    execute(
        warehouse,
        "delete from persistiq.leads where id in "
        "(select id from persistiq.leads order by id limit 3)",
    )
    result = run_checks(persistiq, warehouse, instance)

    assert result.success  # not blocking
    results = evaluations(result)
    rows_check = results[("leads", ROWS_CHECK_NAME)]
    assert not rows_check.passed and rows_check.severity == AssetCheckSeverity.WARN
    assert metadata(rows_check)["rows_found"] == 342
    assert metadata(rows_check)["persistiq_rows"] == 345
    assert "rows were deleted since" in rows_check.description
    assert {key for key, value in results.items() if not value.passed} == {
        ("leads", ROWS_CHECK_NAME)
    }


def test_a_snapshot_with_an_id_sent_twice_keeps_one_current_row(
    emulator, store, persistiq, warehouse, instance
):
    store.users.append({**store.users[0], "name": "A second copy"})  # the same id, twice
    store.bump()

    result = run(persistiq, warehouse, instance, AssetSelection.assets(LOAD_ASSETS.core))

    assert result.success
    results = evaluations(result)
    assert results[("users", ID_CHECK_NAME)].passed  # one current row per id...
    assert results[("users", ROWS_CHECK_NAME)].passed  # ...the 5 distinct records loaded
    events = result.get_asset_materialization_events()
    (users,) = [e.materialization for e in events if e.asset_key.path[-1] == "users"]
    assert users.metadata["persistiq/repeated_ids"].value == 1
    assert query(warehouse, "select count(*) from persistiq.users") == [(5,)]
    assert query(
        warehouse, f"select name from persistiq.users where id = '{store.users[0]['id']}'"
    ) == [(store.users[0]["name"],)]  # the first copy PersistIQ sent


def test_rows_check_warns_when_the_api_repeats_a_lead_within_a_run(
    emulator, store, persistiq, warehouse, instance
):
    store.leads.append(dict(store.leads[0]))  # the same lead on two rows of one load
    store.bump()

    results = load(persistiq, warehouse, instance, select=["leads"])

    assert results[("leads", ID_CHECK_NAME)].passed  # the merge on id kept one row...
    rows_check = results[("leads", ROWS_CHECK_NAME)]
    assert not rows_check.passed  # ...of the 346 the run loaded
    assert rows_check.severity == AssetCheckSeverity.WARN  # nothing lost
    assert metadata(rows_check)["persistiq_rows"] == 346
    assert metadata(rows_check)["rows_found"] == 345
    assert "more than once" in rows_check.description


@pytest.mark.slow
def test_rows_check_uses_the_load_of_the_latest_materialisation(
    emulator, persistiq, warehouse, instance
):
    load(persistiq, warehouse, instance, select=["users", "campaigns", "leads"])
    later = load(persistiq, warehouse, instance, select=["users"])  # campaigns not in the load
    assert later[("users", ROWS_CHECK_NAME)].passed
    # A day without leads: the run loads nothing, and the check says so.
    quiet_day = load(persistiq, warehouse, instance, select=["leads"], partition_key="2024-06-01")
    nothing = quiet_day[("leads", ROWS_CHECK_NAME)]
    assert nothing.passed and metadata(nothing)["persistiq_rows"] == 0

    loaded = [AssetKey(["persistiq", table]) for table in ("users", "campaigns", "leads")]
    result = run_checks(persistiq, warehouse, instance, AssetSelection.checks_for_assets(*loaded))

    results = evaluations(result)
    assert all(value.passed for value in results.values())
    # Campaigns are compared with the load that wrote them, not the later users-only load.
    users, campaigns = (metadata(results[(table, ROWS_CHECK_NAME)]) for table in TABLES[:2])
    assert campaigns["load_ids"] < users["load_ids"]
    assert campaigns["rows_found"] == campaigns["persistiq_rows"] == 12


def test_leads_without_owner_id_warn_and_the_run_succeeds(
    emulator, store, persistiq, warehouse, instance
):
    for index in range(0, 40, 4):
        lead = dict(store.leads[index])
        del lead["owner_id"]
        store.leads[index] = lead
    store.bump()

    results = load(persistiq, warehouse, instance, select=["leads"])  # asserts the run succeeded

    owner_check = results[("leads", OWNER_CHECK_NAME)]
    assert not owner_check.passed
    assert owner_check.severity == AssetCheckSeverity.WARN
    assert metadata(owner_check)["null_owner_ids"] == 10
    assert metadata(owner_check)["null_owner_id_share"] == pytest.approx(10 / 345)
    assert results[("leads", ID_CHECK_NAME)].passed
    assert results[("leads", ROWS_CHECK_NAME)].passed
