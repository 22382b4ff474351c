"""The client-side request budget and PersistIQ's rate-limit headers, against the emulator."""

from persistiq_dagster_tests.conftest import count_rows, page_count, persistiq_for, run_assets


def expected_requests(store) -> int:
    return sum(page_count(len(store.records(table))) for table in ("users", "campaigns", "leads"))


def test_a_budget_within_the_server_limit_gets_no_429(emulator, store, warehouse):
    emulator.rate_limit, emulator.rate_limit_window = 4, 1.0
    persistiq = persistiq_for(emulator, requests_per_minute=4, rate_limit_window=1.0)

    run_assets(persistiq, warehouse)

    assert emulator.count(status=429) == 0
    assert emulator.count(status=200) == expected_requests(store)
    assert count_rows(warehouse, "leads") == len(store.leads)


def test_a_budget_above_the_server_limit_follows_its_headers(emulator, store, warehouse):
    emulator.rate_limit, emulator.rate_limit_window = 3, 1.0
    persistiq = persistiq_for(emulator)  # 1000 a minute: far too many for this server

    run_assets(persistiq, warehouse)

    # X-RateLimit-Remaining: 0 makes the client wait for X-RateLimit-Reset before asking.
    assert emulator.count(status=429) == 0
    assert emulator.count(status=200) == expected_requests(store)
    for table in ("users", "campaigns", "leads"):
        assert count_rows(warehouse, table) == len(store.records(table))


def test_429_without_headers_is_retried_until_the_load_completes(emulator, store, warehouse):
    body = {"status": "error", "error": {"reason": "too_many_requests", "message": "slow down"}}
    emulator.inject(status=429, body=body, times=3, path="/v1/leads")
    persistiq = persistiq_for(emulator, max_retries=3)

    run_assets(persistiq, warehouse, select=["leads"])

    assert emulator.count(path="/v1/leads", status=429) == 3
    assert emulator.count(path="/v1/leads", status=200) == page_count(len(store.leads))
    assert count_rows(warehouse, "leads") == len(store.leads)
