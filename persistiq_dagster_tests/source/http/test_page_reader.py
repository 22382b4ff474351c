"""Leads read several pages at a time: each page once, the same table, within the limits."""

import pytest

from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster_tests.support import (
    assert_each_page_once,
    count_rows,
    persistiq_for,
    query,
    run_assets,
    served_pages,
    ten_day_dataset,
)
from persistiq_emulator import PersistIQEmulator

LEADS = "/v1/leads"


def most_at_once(emulator: PersistIQEmulator, path: str) -> int:
    """The most requests to ``path`` the emulator was answering at the same moment."""
    edges = []
    for record in emulator.requests:
        if record.path == path:
            edges += [(record.time, 1), (record.answered, -1)]
    current = most = 0
    for _, step in sorted(edges):  # an answer at the same instant as an arrival ends first
        current += step
        most = max(most, current)
    return most


def leads_table(warehouse: PersistIQWarehouse) -> list[tuple]:
    """The leads as loaded, without dlt's own per-load columns."""
    columns = [
        name
        for (name,) in query(
            warehouse,
            "select column_name from information_schema.columns "
            "where table_schema = 'persistiq' and table_name = 'leads' "
            "and column_name not like '\\_dlt\\_%' escape '\\' order by column_name",
        )
    ]
    return query(warehouse, f"select {', '.join(columns)} from persistiq.leads order by id")


def test_pages_arrive_several_at_a_time_each_once(warehouse):
    store = ten_day_dataset(users=2, leads=2000, campaigns=3, seed=5)
    with PersistIQEmulator(store=store, latency=0.1) as emulator:
        run_assets(persistiq_for(emulator, concurrent_requests=4), warehouse, select=["leads"])

        assert count_rows(warehouse, "leads") == len(store.leads)
        assert_each_page_once(emulator, LEADS, len(store.leads), concurrency=4)
        assert 1 < most_at_once(emulator, LEADS) <= 4


@pytest.mark.slow
def test_the_table_is_the_same_as_one_page_at_a_time(emulator, store, tmp_path):
    tables = []
    for concurrency in (1, 8):
        warehouse = PersistIQWarehouse(
            duckdb_path=str(tmp_path / f"c{concurrency}.duckdb"),
            pipelines_dir=str(tmp_path / f"p{concurrency}"),
        )
        emulator.clear_requests()
        run_assets(persistiq_for(emulator, concurrent_requests=concurrency), warehouse)
        tables.append(leads_table(warehouse))
        assert_each_page_once(emulator, LEADS, len(store.leads), concurrency=concurrency)

    assert len(tables[0]) == len(store.leads)
    assert tables[0] == tables[1]


def test_a_list_on_one_page_costs_one_request(emulator, store, persistiq, warehouse):
    emulator.page_size = 1000

    run_assets(persistiq, warehouse, select=["leads"])

    assert served_pages(emulator, LEADS) == {1: 1}
    assert count_rows(warehouse, "leads") == len(store.leads)


@pytest.mark.slow
def test_a_budget_binding_mid_list_costs_no_429_and_no_page_twice(warehouse):
    # 12 pages, 5 requests a second on both sides: a fixed-window server counts each request
    # when it arrives, after the client sent it; needed pages queue before guessed ones.
    store = ten_day_dataset(users=2, leads=1150, campaigns=3, seed=9)
    with PersistIQEmulator(store=store, rate_limit=5, rate_limit_window=1.0) as emulator:
        persistiq = persistiq_for(emulator, requests_per_minute=5, rate_limit_window=1.0)
        run_assets(persistiq, warehouse, select=["leads"])

        assert emulator.count(status=429) == 0
        assert_each_page_once(emulator, LEADS, len(store.leads))
        assert count_rows(warehouse, "leads") == len(store.leads)


def test_under_the_servers_limit_each_window_is_used_whole(make_emulator, warehouse):
    """20 pages of leads under a server limit of 10 requests a 3 s window, the budget the
    same: two windows of 10 pages, and nothing asked past the last page. Answers of pages read
    side by side arrive in any order; counting the ones still in flight as spent lost a place
    a window, which pushed the last pages, and guesses past the end, into a third."""
    store = ten_day_dataset(users=2, leads=2000, campaigns=2, seed=5)
    emulator = make_emulator(store, rate_limit=10, rate_limit_window=3.0)
    persistiq = persistiq_for(emulator, requests_per_minute=10, rate_limit_window=3.0)

    run_assets(persistiq, warehouse, select=["leads"])

    asked = sorted((r.time, r.status) for r in emulator.requests if r.path == LEADS)
    assert [status for _, status in asked] == [200] * 20
    first = asked[0][0]
    assert sorted({int((at - first) // 3.0) for at, _ in asked}) == [0, 1]
    assert count_rows(warehouse, "leads") == 2000
