"""PostgreSQL as the warehouse, against a real server the test session starts: the same
tables, merges, snapshots, partitions and checks as DuckDB."""

from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg2
import pytest
from dagster import DagsterInstance, Definitions

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.checks import build_table_checks
from persistiq_dagster.defs.partitions import partition_range_tags
from persistiq_dagster.defs.resources.dlt import PersistIQDltResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.catalog import TABLE_NAMES, is_snapshot
from persistiq_dagster_tests import analytics_oracle as oracle
from persistiq_dagster_tests.support import (
    DEFAULT_SETTINGS,
    EMULATOR_DAYS,
    LOAD_ASSETS,
    LOAD_JOBS,
    MODELS_TIMEZONE,
    build_models,
    models_dataset,
    persistiq_for,
    query,
    run_assets,
)
from persistiq_emulator import PersistIQEmulator


def pg_rows(server, warehouse: PersistIQWarehouse, sql: str) -> list[tuple]:
    with psycopg2.connect(server.url) as connection, connection.cursor() as cursor:
        cursor.execute(sql.replace("persistiq.", f"{warehouse.dataset_name}."))
        return cursor.fetchall()


def current_ids(rows_of, table: str) -> set[str]:
    where = "_dlt_valid_to is null" if is_snapshot(table) else "true"
    return {row[0] for row in rows_of(f"select id from persistiq.{table} where {where}")}


def served_ids(store, table: str) -> set[str]:
    if table == "campaign_leads":
        return {row["id"] for c in store.campaigns for row in store.campaign_leads_of(c["id"])}
    return {record["id"] for record in store.records(table)}


def test_every_table_loads_into_postgres_as_into_duckdb(
    postgres, postgres_warehouse, warehouse, store, persistiq
):
    for target in (postgres_warehouse, warehouse):
        run_assets(persistiq, target, select=TABLE_NAMES)

    for table in TABLE_NAMES:
        in_postgres = current_ids(lambda sql: pg_rows(postgres, postgres_warehouse, sql), table)
        in_duckdb = current_ids(lambda sql: query(warehouse, sql), table)
        assert in_postgres == in_duckdb == served_ids(store, table), table
    # Same column values too, not only ids: a lead, typed (timestamps, bools, counts).
    columns = "id, status, updated_at, bounced, sent_count, data__email"
    sql = f"select {columns} from persistiq.leads order by id"
    assert pg_rows(postgres, postgres_warehouse, sql) == query(warehouse, sql)


def test_merge_on_id_and_snapshot_history_in_postgres(
    postgres, postgres_warehouse, store, persistiq
):
    core = ["users", "campaigns", "campaign_leads", "tags"]
    run_assets(persistiq, postgres_warehouse, select=[*core, "leads"])
    changed = store.update_leads(count=5, at=datetime(2024, 1, 8, 12, tzinfo=UTC))
    gone, dropped_tag = store.campaigns[1]["id"], store.tags[0]["id"]
    store.remove_campaign(gone)
    store.replace("tags", store.tags[1:])

    run_assets(persistiq, postgres_warehouse, select=[*core, "leads"])

    rows = lambda sql: pg_rows(postgres, postgres_warehouse, sql)  # noqa: E731
    leads = dict(rows("select id, status from persistiq.leads"))
    assert len(leads) == len(store.leads)  # merged on id: no lead twice
    statuses = {lead["id"]: lead["status"] for lead in store.leads}
    assert {lead_id: leads[lead_id] for lead_id in changed} == {
        lead_id: statuses[lead_id] for lead_id in changed
    }
    for table in core:
        assert current_ids(rows, table) == served_ids(store, table), table
    (retired,) = rows(
        "select count(*) from persistiq.campaign_leads "
        f"where campaign_id = '{gone}' and _dlt_valid_to is not null"
    )[0]
    assert retired > 100  # kept as history
    assert rows(
        f"select _dlt_valid_to is not null from persistiq.tags where id = '{dropped_tag}'"
    ) == [(True,)]


def test_a_backfill_in_pieces_equals_one_full_load_in_postgres(
    postgres, postgres_warehouse, store, persistiq
):
    for first, last in (("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-03-01")):
        tags = partition_range_tags(first, last)
        run_assets(persistiq, postgres_warehouse, select=["leads", "events", "replies"], tags=tags)
    for table in ("leads", "events", "replies"):
        ids = [
            row[0]
            for row in pg_rows(postgres, postgres_warehouse, f"select id from persistiq.{table}")
        ]
        assert sorted(ids) == sorted(served_ids(store, table)), table


def jobs_results(persistiq, warehouse) -> Sequence:
    defs = Definitions(
        assets=LOAD_ASSETS.all,
        asset_checks=build_table_checks(DEFAULT_SETTINGS.enabled_tables),
        jobs=LOAD_JOBS.all,
        resources={"dlt": PersistIQDltResource(), "persistiq": persistiq, "warehouse": warehouse},
    )
    instance = DagsterInstance.ephemeral()
    return [
        defs.resolve_job_def(job.name).execute_in_process(
            instance=instance, tags=None if job is LOAD_JOBS.users_campaigns else EMULATOR_DAYS
        )
        for job in (LOAD_JOBS.users_campaigns, LOAD_JOBS.leads, LOAD_JOBS.activity)
    ]


def test_every_check_runs_and_passes_on_postgres(postgres_warehouse, persistiq):
    results = jobs_results(persistiq, postgres_warehouse)
    assert all(result.success for result in results)
    evaluations = [e for result in results for e in result.get_asset_check_evaluations()]
    assert len(evaluations) == 3 * len(TABLE_NAMES) + 1  # ids, rows, schema; leads' owners
    assert [e.check_name for e in evaluations if not e.passed] == []
    rows = {
        e.asset_key.path[-1]: e.metadata["rows_found"].value
        for e in evaluations
        if e.check_name == "rows_match_last_load"
    }
    assert rows["campaign_leads"] > 0 and rows["events"] > 0


@pytest.mark.parametrize("table", ["leads"])
def test_the_table_name_shown_is_where_to_query_it(postgres, postgres_warehouse, persistiq, table):
    result = run_assets(persistiq, postgres_warehouse, select=[table], partition_key="2024-01-05")
    (event, *_) = result.get_asset_materialization_events()
    name = event.materialization.metadata["dagster/table_name"].value
    assert name == f"{postgres_warehouse.dataset_name}.{table}"
    assert pg_rows(postgres, postgres_warehouse, f"select count(*) from {name}")[0][0] > 0


def test_the_models_on_postgres_match_the_emulators_records(postgres, postgres_warehouse):
    """The same models as on DuckDB, built on PostgreSQL from the same data: every figure as
    computed from the emulator's records, the same checks, the same two warnings."""
    store = models_dataset()
    with PersistIQEmulator(store=store) as emulator:
        run_assets(persistiq_for(emulator), postgres_warehouse, select=TABLE_NAMES)
    dataset = postgres_warehouse.dataset_name
    settings = Settings(
        destination="postgres",
        dataset=dataset,
        analytics_schema=f"{dataset}_analytics",
        timezone=MODELS_TIMEZONE,
    )
    result = build_models(postgres_warehouse, settings)

    for model in oracle.GRAIN:
        with psycopg2.connect(postgres.url) as connection, connection.cursor() as cursor:
            cursor.execute(f"select * from {dataset}_analytics.{model}")
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        oracle.assert_matches(model, rows, store, MODELS_TIMEZONE)
    evaluations = result.get_asset_check_evaluations()
    failed = sorted(e.asset_check_key.name for e in evaluations if not e.passed)
    assert len(evaluations) == 39
    assert failed == ["event_types_mapped", "replied_leads_match_persistiq"]
