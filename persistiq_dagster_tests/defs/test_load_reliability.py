"""Faults injected through the emulator: every load either completes exactly or fails clearly."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster_tests.defs.test_load_errors import failure_text
from persistiq_dagster_tests.source.http.test_session import never_accepting_host, record_attempts
from persistiq_dagster_tests.support import (
    assert_each_page_once,
    count_rows,
    persistiq_for,
    query,
    run_assets,
    ten_day_dataset,
)
from persistiq_emulator import PersistIQEmulator


@pytest.mark.slow
def test_a_15_percent_5xx_fault_rate_still_loads_every_record_once(warehouse):
    store = ten_day_dataset(users=5, leads=2000, campaigns=120, seed=3)
    with PersistIQEmulator(store=store, fault_rate=0.15, fault_seed=11) as emulator:
        run_assets(persistiq_for(emulator, max_retries=7), warehouse)

        faults = sum(emulator.count(status=status) for status in (500, 502, 503, 504))
        assert faults > 0
        for table in ("users", "campaigns", "leads"):
            assert count_rows(warehouse, table) == len(store.records(table))
            assert query(warehouse, f"select count(distinct id) from persistiq.{table}") == [
                (len(store.records(table)),)
            ]
            assert_each_page_once(emulator, f"/v1/{table}", len(store.records(table)))


def test_dropped_connections_are_retried(emulator, store, warehouse):
    emulator.inject(drop_connection=True, times=2, path="/v1/leads")

    run_assets(persistiq_for(emulator), warehouse, select=["leads"])

    assert emulator.count(path="/v1/leads", status=0) == 2
    assert count_rows(warehouse, "leads") == len(store.leads)


def test_5xx_beyond_the_retries_fails_naming_the_setting(emulator, warehouse):
    emulator.inject(status=502, times=10, path="/v1/users")

    result = run_assets(
        persistiq_for(emulator, max_retries=3), warehouse, select=["users"], raise_on_error=False
    )

    assert "answered 502 on /v1/users again after 3 retries" in failure_text(result)
    assert "PERSISTIQ_MAX_RETRIES" in failure_text(result)
    assert emulator.count(path="/v1/users") == 4


@contextmanager
def stopped_emulator() -> Iterator[str]:
    """The base URL of an emulator that has stopped: nothing listens on its port any more."""
    with PersistIQEmulator() as emulator:
        pass
    yield emulator.base_url


@pytest.mark.parametrize(
    ("unreachable", "failure"),
    [(stopped_emulator, "connection refused"), (never_accepting_host, "connection timed out")],
    ids=["refused", "connect-timeout"],
)
def test_an_unreachable_host_fails_naming_the_base_url_setting(
    warehouse, monkeypatch, unreachable, failure
):
    with unreachable() as base_url:
        # The default retries: 7, waiting two minutes in all.
        persistiq = PersistIQResource(api_key="key", base_url=base_url, request_timeout=0.5)
        attempts = record_attempts(monkeypatch, base_url, allow=1)

        result = run_assets(persistiq, warehouse, select=["users"], raise_on_error=False)

    assert persistiq.max_retries == 7
    assert attempts == [f"{base_url}users"]  # one attempt: no retry
    assert (
        f"Could not connect to PersistIQ at {base_url} ({failure}); "
        "check PERSISTIQ_BASE_URL and the network."
    ) in failure_text(result)


@pytest.mark.slow
def test_a_server_slower_than_the_timeout_is_retried_then_fails_clearly(emulator, warehouse):
    emulator.latency = 0.5

    result = run_assets(
        persistiq_for(emulator, max_retries=1, request_timeout=0.1),
        warehouse,
        select=["users"],
        raise_on_error=False,
    )

    assert "did not answer in time after 1 retries" in failure_text(result)
    time.sleep(1)  # the emulator logs a request once it has answered it
    assert emulator.count(path="/v1/users") == 2


@pytest.mark.parametrize("records", [0, 1], ids=["empty-page-then-data", "short-page-then-data"])
def test_a_page_with_has_more_is_followed_even_when_short(emulator, store, warehouse, records):
    first = {
        "status": "success",
        "has_more": True,
        "next_page": f"{emulator.base_url}leads?page=2",
        "leads": store.leads[:records],
    }
    emulator.inject(status=200, body=first, path="/v1/leads")

    run_assets(persistiq_for(emulator), warehouse, select=["leads"])

    # Page 1 was replaced; pages 2.. are the server's own (ordered by id): leads 100.. arrive.
    assert_each_page_once(emulator, "/v1/leads", len(store.leads))
    served = sorted(lead["id"] for lead in store.leads)
    expected = set(served[100:]) | {lead["id"] for lead in store.leads[:records]}
    assert {row[0] for row in query(warehouse, "select id from persistiq.leads")} == expected


def test_endless_empty_pages_with_has_more_fail_instead_of_looping(emulator, warehouse):
    for page in (1, 2, 3):
        body = {"status": "success", "has_more": True, "next_page": page + 1, "leads": []}
        emulator.inject(status=200, body=body, path="/v1/leads")

    # One page at a time: each injected answer then goes to the page it names.
    persistiq = persistiq_for(emulator, concurrent_requests=1)
    result = run_assets(persistiq, warehouse, select=["leads"], raise_on_error=False)

    assert "3 empty pages in a row with has_more set" in failure_text(result)
    assert emulator.count(path="/v1/leads") == 3


@pytest.mark.slow
def test_a_huge_page_and_odd_unicode_load_intact(emulator, store, warehouse):
    odd = 'Zoë 山田 🚀 \u202eRTL\u202c tab\there "quoted" back\\slash'
    store.leads[0] = {**store.leads[0], "data": {**store.leads[0]["data"], "first_name": odd}}
    store.bump()
    emulator.page_size = 5000  # every lead on one page

    run_assets(persistiq_for(emulator), warehouse, select=["leads"])

    assert emulator.count(path="/v1/leads") == 1
    assert count_rows(warehouse, "leads") == len(store.leads)
    lead_id = store.leads[0]["id"]
    assert query(
        warehouse, f"select data__first_name from persistiq.leads where id = '{lead_id}'"
    ) == [(odd,)]


@pytest.mark.slow
def test_a_number_where_a_string_was_keeps_the_value_in_a_variant_column(
    emulator, store, warehouse
):
    lead_id = store.leads[0]["id"]
    store.leads[0] = {**store.leads[0], "status": 7, "sent_count": "twelve"}
    store.bump()

    run_assets(persistiq_for(emulator), warehouse, select=["leads"])

    assert count_rows(warehouse, "leads") == len(store.leads)
    columns = {
        row[0]
        for row in query(
            warehouse,
            "select column_name from information_schema.columns "
            "where table_schema = 'persistiq' and table_name = 'leads'",
        )
    }
    # "7" fits the text column; "twelve" cannot be a bigint and lands beside it, not lost.
    assert query(warehouse, f"select status from persistiq.leads where id = '{lead_id}'") == [
        ("7",)
    ]
    assert "sent_count__v_text" in columns
    assert query(
        warehouse, f"select sent_count__v_text from persistiq.leads where id = '{lead_id}'"
    ) == [("twelve",)]
