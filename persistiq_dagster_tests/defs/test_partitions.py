"""Leads on daily partitions: each window loads exactly its leads, in one pass over the API."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from persistiq_dagster import config
from persistiq_dagster.config import Settings
from persistiq_dagster.defs.assets import build_load_assets
from persistiq_dagster.defs.partitions import daily_partitions, partition_range_tags
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster_tests.support import (
    LOAD_ASSETS,
    PARTITIONS,
    assert_each_page_once,
    page_count,
    persistiq_for,
    query,
    run_assets,
)
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS


def ids_updated_in(store, start: str, end: str) -> set[str]:
    """Ids of leads with start <= updated_at < end (days as YYYY-MM-DD, UTC)."""
    return {lead["id"] for lead in store.leads if start <= lead["updated_at"][:10] < end}


def loaded_ids(warehouse) -> set[str]:
    return {row[0] for row in query(warehouse, "select id from persistiq.leads")}


def leads_requests(emulator):
    return [r for r in emulator.requests if r.path == "/v1/leads"]


def test_todays_partition_exists_so_a_same_day_load_has_a_home():
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert PARTITIONS.get_last_partition_key() == today
    assert PARTITIONS.get_first_partition_key() == "2024-01-01"
    assert LOAD_ASSETS.leads.partitions_def == LOAD_ASSETS.activity.partitions_def == PARTITIONS


def test_the_start_date_and_timezone_come_from_the_settings():
    settings = Settings.from_env(
        {config.START_DATE_ENV: "2024-03-05", config.TIMEZONE_ENV: "Pacific/Kiritimati"}
    )
    partitions = daily_partitions(settings)
    assert partitions.timezone == "Pacific/Kiritimati"
    assert partitions.get_first_partition_key() == "2024-03-05"
    # Today in that timezone (UTC+14), not in UTC.
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).strftime("%Y-%m-%d")
    assert partitions.get_last_partition_key() == today
    assert build_load_assets(settings, partitions).leads.partitions_def == partitions


def test_one_partition_loads_exactly_its_day(emulator, store, persistiq, warehouse):
    result = run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-01-03")

    assert loaded_ids(warehouse) == ids_updated_in(store, "2024-01-03", "2024-01-04")
    after = [lead for lead in store.leads if lead["updated_at"] > "2024-01-02T23:59:59Z"]
    requests = leads_requests(emulator)
    assert_each_page_once(emulator, "/v1/leads", len(after))
    assert {r.query["updated_after"] for r in requests} == {"2024-01-02T23:59:59Z"}
    (event,) = result.get_asset_materialization_events()
    assert event.partition == "2024-01-03"
    metadata = event.materialization.metadata
    assert metadata["persistiq/window_start"].value == "2024-01-03T00:00:00Z"
    assert metadata["persistiq/window_end"].value == "2024-01-04T00:00:00Z"
    assert metadata["persistiq/pages"].value == page_count(len(after))
    assert metadata["persistiq/rows"].value == len(loaded_ids(warehouse))


def test_a_range_is_one_run_and_one_pass(emulator, store, persistiq, warehouse):
    tags = partition_range_tags("2024-01-03", "2024-01-08")

    result = run_assets(persistiq, warehouse, select=["leads"], tags=tags)

    assert loaded_ids(warehouse) == ids_updated_in(store, "2024-01-03", "2024-01-09")
    partitions = {event.partition for event in result.get_asset_materialization_events()}
    assert partitions == {f"2024-01-{day:02d}" for day in range(3, 9)}
    after = [lead for lead in store.leads if lead["updated_at"] > "2024-01-02T23:59:59Z"]
    assert_each_page_once(emulator, "/v1/leads", len(after))


@pytest.mark.slow
def test_backfill_in_pieces_equals_one_full_load(warehouse, tmp_path):
    store = make_dataset(users=5, leads=345, campaigns=12, seed=7)  # two months, in five pieces
    with PersistIQEmulator(store=store) as emulator:
        persistiq = persistiq_for(emulator)
        for day in ("2024-02-10", "2024-02-11"):
            run_assets(persistiq, warehouse, select=["leads"], partition_key=day)
        ranges = [
            ("2024-01-01", "2024-01-20"),
            ("2024-01-21", "2024-02-09"),
            ("2024-02-12", "2024-03-01"),
        ]
        for first, last in ranges:
            tags = partition_range_tags(first, last)
            run_assets(persistiq, warehouse, select=["leads"], tags=tags)
        pieces = query(warehouse, "select id, status, updated_at from persistiq.leads order by id")

        full = PersistIQWarehouse(
            duckdb_path=str(tmp_path / "full.duckdb"), pipelines_dir=str(tmp_path / "full_dlt")
        )
        run_assets(
            persistiq, full, select=["leads"], tags=partition_range_tags(*DEFAULT_UPDATED_DAYS)
        )

    assert len(pieces) == len(store.leads)
    assert pieces == query(full, "select id, status, updated_at from persistiq.leads order by id")


def test_a_lead_updated_exactly_at_midnight_belongs_to_that_day(
    emulator, store, persistiq, warehouse
):
    lead_id = store.leads[0]["id"]
    store.leads[0] = {**store.leads[0], "updated_at": "2024-01-05T00:00:00Z"}
    store.bump()

    run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-01-04")
    assert lead_id not in loaded_ids(warehouse)
    run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-01-05")
    assert lead_id in loaded_ids(warehouse)


@pytest.mark.slow
def test_leads_without_updated_at_are_merged_as_a_superset(emulator, store, persistiq, warehouse):
    undated = [{k: v for k, v in lead.items() if k != "updated_at"} for lead in store.leads]
    store.replace("leads", undated)

    run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-01-15")
    run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-01-16")

    # The server cannot filter what carries no timestamp: every lead, once.
    assert loaded_ids(warehouse) == {lead["id"] for lead in store.leads}
    assert query(warehouse, "select count(*) from persistiq.leads") == [(len(store.leads),)]
