"""The client-side request budget and PersistIQ's rate-limit headers, against the emulator."""

import math
import threading
import time

import pytest
from requests import Response

from persistiq_dagster.source.http.request_budget import (
    RequestAbandoned,
    RequestBudget,
    request_order,
)
from persistiq_dagster_tests.support import (
    assert_each_page_once,
    count_rows,
    persistiq_for,
    run_assets,
)

TABLES = ("users", "campaigns", "leads")


def assert_every_page_once(emulator, store) -> None:
    for table in TABLES:
        assert_each_page_once(emulator, f"/v1/{table}", len(store.records(table)))


@pytest.mark.slow
def test_a_budget_within_the_server_limit_gets_no_429(emulator, store, warehouse):
    emulator.rate_limit, emulator.rate_limit_window = 4, 1.0
    persistiq = persistiq_for(emulator, requests_per_minute=4, rate_limit_window=1.0)

    run_assets(persistiq, warehouse)

    assert emulator.count(status=429) == 0
    assert_every_page_once(emulator, store)
    assert count_rows(warehouse, "leads") == len(store.leads)


@pytest.mark.slow
def test_a_budget_above_the_server_limit_follows_its_headers(emulator, store, warehouse):
    emulator.rate_limit, emulator.rate_limit_window = 3, 1.0
    persistiq = persistiq_for(emulator)  # 1000 a minute: far too many for this server

    run_assets(persistiq, warehouse)

    # X-RateLimit-Remaining: 0 makes the client wait for X-RateLimit-Reset before asking.
    assert emulator.count(status=429) == 0
    assert_every_page_once(emulator, store)
    for table in TABLES:
        assert count_rows(warehouse, table) == len(store.records(table))


@pytest.mark.slow
def test_429_without_headers_is_retried_until_the_load_completes(emulator, store, warehouse):
    body = {"status": "error", "error": {"reason": "too_many_requests", "message": "slow down"}}
    emulator.inject(status=429, body=body, times=3, path="/v1/leads")
    persistiq = persistiq_for(emulator, max_retries=3)

    run_assets(persistiq, warehouse, select=["leads"])

    assert emulator.count(path="/v1/leads", status=429) == 3
    assert_each_page_once(emulator, "/v1/leads", len(store.leads))
    assert count_rows(warehouse, "leads") == len(store.leads)


def test_waiting_requests_go_in_priority_order_and_unwanted_ones_leave():
    budget = RequestBudget(limit=1, window=0.2)
    budget.acquire()  # the window is full until 0.2 s after this request's answer
    started: list[float] = []
    gave_up: list[float] = []
    unwanted = threading.Event()

    def request(priority: float, abandoned=lambda: False) -> None:
        with request_order(priority, abandoned):
            try:
                budget.acquire()
            except RequestAbandoned:
                gave_up.append(priority)
                return
        started.append(priority)
        budget.release(None)

    threads = [
        threading.Thread(target=request, args=(3,)),
        threading.Thread(target=request, args=(9, unwanted.is_set)),
        threading.Thread(target=request, args=(1,)),
        threading.Thread(target=request, args=(2,)),
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # queued in this order: 3, 9, 1, 2
    budget.release(None)
    unwanted.set()
    for thread in threads:
        thread.join(timeout=5)

    assert started == [1, 2, 3]
    assert gave_up == [9]


def server_answer(remaining: int, reset_at: int, limit: int = 3) -> Response:
    answer = Response()
    answer.status_code = 200
    answer.headers.update(
        {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset_at),
        }
    )
    return answer


@pytest.mark.slow
def test_an_earlier_answer_arriving_late_does_not_reopen_the_window():
    """Two pages in flight; the later one's answer (0 left) is handled before the earlier
    one's (1 left): no request may start before the window resets."""
    budget = RequestBudget(limit=1000, window=60.0)
    reset_at = math.ceil(time.time()) + 30
    budget.acquire()
    budget.release(server_answer(2, reset_at))
    budget.acquire()
    budget.acquire()
    budget.release(server_answer(0, reset_at))
    budget.release(server_answer(1, reset_at))

    started, stop = threading.Event(), threading.Event()

    def next_request() -> None:
        with request_order(0, stop.is_set):
            try:
                budget.acquire()
            except RequestAbandoned:
                return
        started.set()

    waiting = threading.Thread(target=next_request)
    waiting.start()
    try:
        assert not started.wait(1.5), "a request started in a window the server said was full"
    finally:
        stop.set()
        waiting.join(timeout=5)


def test_an_answer_about_a_window_that_is_over_is_not_obeyed():
    budget = RequestBudget(limit=1000, window=60.0)
    budget.acquire()
    budget.release(server_answer(0, math.floor(time.time()) - 5))
    started = threading.Event()
    threading.Thread(target=lambda: (budget.acquire(), started.set()), daemon=True).start()
    assert started.wait(2.0)
