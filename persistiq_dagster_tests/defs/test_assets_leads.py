"""Loads over real HTTP from the emulator into a real DuckDB file, through the Dagster assets."""

from datetime import UTC, date, datetime, timedelta

import pytest

from persistiq_dagster_tests.support import (
    TEST_DAYS,
    assert_each_page_once,
    count_rows,
    page_count,
    query,
    run_assets,
)


def lead_requests(emulator):
    return [r for r in emulator.requests if r.path == "/v1/leads"]


@pytest.mark.parametrize("next_page_style", ["url", pytest.param("number", marks=pytest.mark.slow)])
def test_every_page_is_read_once_and_keeps_the_filter(
    emulator, store, persistiq, warehouse, next_page_style
):
    emulator.next_page_style = next_page_style  # "url" pages drop updated_after (worst case)
    run_assets(persistiq, warehouse)

    for table in ("users", "campaigns", "leads"):
        assert count_rows(warehouse, table) == len(store.records(table))
        requests = [r for r in emulator.requests if r.path == f"/v1/{table}"]
        assert all(r.status == 200 for r in requests)
        assert assert_each_page_once(emulator, f"/v1/{table}", len(store.records(table))) == len(
            requests
        )
    assert page_count(len(store.leads)) == 4  # read several at a time, each once
    assert {r.query.get("updated_after") for r in lead_requests(emulator)} == {
        "2023-12-31T23:59:59Z"  # a second before the start date: see server_lower_bound
    }
    assert all("mozilla" not in (r.user_agent or "").lower() for r in emulator.requests)
    assert all((r.user_agent or "").startswith("persistiq_dagster/") for r in emulator.requests)


def test_declared_columns_exist_with_types_even_when_all_null(emulator, persistiq, warehouse):
    run_assets(persistiq, warehouse)
    types = {
        (table, column): data_type
        for table, column, data_type in query(
            warehouse,
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'persistiq'",
        )
    }
    # Always null in the emulator's data, or absent from every record.
    assert types[("users", "salesforce_id")] == "VARCHAR"
    assert types[("leads", "data__twitch_name")] == "VARCHAR"
    assert types[("leads", "data__snippet4")] == "VARCHAR"
    assert types[("campaigns", "stats__total_prospects")] == "BIGINT"
    # Typed as declared, not as the strings the API sends.
    assert types[("leads", "updated_at")].startswith("TIMESTAMP")
    assert types[("leads", "last_sent_at")].startswith("TIMESTAMP")
    assert types[("leads", "sent_count")] == "BIGINT"
    assert types[("users", "activated")] == "BOOLEAN"
    assert query(warehouse, "select count(salesforce_id) from persistiq.users") == [(0,)]


def test_rerun_adds_no_duplicates_and_an_updated_lead_replaces_its_row(
    emulator, store, persistiq, warehouse
):
    run_assets(persistiq, warehouse)
    run_assets(persistiq, warehouse)
    assert count_rows(warehouse, "leads") == len(store.leads)
    assert count_rows(warehouse, "users") == len(store.users)

    changed = store.update_leads(count=5, at=datetime(2024, 6, 1, 9, tzinfo=UTC))
    new_status = {lead["id"]: lead["status"] for lead in store.leads if lead["id"] in changed}
    emulator.clear_requests()
    run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-06-01")

    assert count_rows(warehouse, "leads") == len(store.leads)
    assert query(warehouse, "select count(distinct id) from persistiq.leads") == [
        (len(store.leads),)
    ]
    loaded = dict(query(warehouse, "select id, status from persistiq.leads"))
    assert {lead_id: loaded[lead_id] for lead_id in changed} == new_status
    # The day's partition asks only for leads updated since that day began.
    assert [r.query for r in lead_requests(emulator)] == [{"updated_after": "2024-05-31T23:59:59Z"}]


def test_leads_without_updated_at_load_and_merge_on_id(persistiq, warehouse, emulator, store):
    for index, lead in enumerate(store.leads):
        lead = dict(lead)
        lead.pop("updated_at")
        lead.pop("created_at")
        store.leads[index] = lead
    store.bump()

    run_assets(persistiq, warehouse, select=["leads"])
    run_assets(persistiq, warehouse, select=["leads"])

    assert count_rows(warehouse, "leads") == len(store.leads)
    assert query(warehouse, "select count(updated_at) from persistiq.leads") == [(0,)]


def test_unknown_fields_evolve_into_the_table(persistiq, warehouse, emulator, store):
    lead = dict(store.leads[0], lead_score=42, data={**store.leads[0]["data"], "tier": "gold"})
    store.leads[0] = lead
    store.bump()

    run_assets(persistiq, warehouse, select=["leads"])

    assert query(
        warehouse, f"select lead_score, data__tier from persistiq.leads where id = '{lead['id']}'"
    ) == [(42, "gold")]


def test_materialisations_carry_dlt_metadata(persistiq, warehouse, emulator, store):
    core = run_assets(persistiq, warehouse, select=["users", "campaigns"])
    leads_run = run_assets(persistiq, warehouse, select=["leads"])

    events = core.get_asset_materialization_events() + leads_run.get_asset_materialization_events()
    by_table = {event.asset_key.path[-1]: event.materialization.metadata for event in events}
    assert set(by_table) == {"users", "campaigns", "leads"}
    assert by_table["users"]["persistiq/pages"].value == 1
    leads = by_table["leads"]
    assert leads["rows_loaded"].value == len(store.leads)
    assert leads["persistiq/rows"].value == len(store.leads)
    assert leads["persistiq/pages"].value == page_count(len(store.leads))
    first, last = TEST_DAYS
    day_after = date.fromisoformat(last) + timedelta(days=1)
    assert leads["persistiq/window_start"].value == f"{first}T00:00:00Z"
    assert leads["persistiq/window_end"].value == f"{day_after}T00:00:00Z"
    assert leads["dagster/row_count"].value == len(store.leads)
    assert leads["dagster/table_name"].value == "warehouse.persistiq.leads"
    columns = {column.name for column in leads["dagster/column_schema"].value.columns}
    assert {"id", "owner_id", "updated_at", "data__email"} <= columns


def test_only_selected_assets_are_requested(persistiq, warehouse, emulator):
    run_assets(persistiq, warehouse, select=["users"])

    assert {r.path for r in emulator.requests} == {"/v1/users"}
    assert query(
        warehouse,
        "select count(*) from information_schema.tables "
        "where table_schema = 'persistiq' and table_name in ('leads', 'campaigns')",
    ) == [(0,)]


@pytest.mark.parametrize(
    "latest_first",
    [
        pytest.param(True, id="latest_first"),
        pytest.param(False, id="latest_last", marks=pytest.mark.slow),
    ],
)
def test_a_lead_sent_twice_in_one_load_keeps_its_latest_update(
    emulator, store, persistiq, warehouse, latest_first
):
    lead = store.leads[0]
    older = {**lead, "status": "older", "updated_at": "2024-01-05T10:00:00Z"}
    newer = {**lead, "status": "newer", "updated_at": "2024-01-05T10:00:05Z"}
    store.leads[0:1] = [newer, older] if latest_first else [older, newer]  # one page, one id
    store.bump()

    run_assets(persistiq, warehouse, select=["leads"])

    assert query(
        warehouse, f"select status, updated_at from persistiq.leads where id = '{lead['id']}'"
    ) == [("newer", datetime(2024, 1, 5, 10, 0, 5, tzinfo=UTC))]
    assert count_rows(warehouse, "leads") == len({lead["id"] for lead in store.leads})
