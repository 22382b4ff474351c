"""Reading a PersistIQ list several pages at a time, each page once, yielded in page order.

PersistIQ returns no total count: the last page is only known when a page says so
(``has_more: false`` or no ``next_page``). So the reader guesses ahead, and only as far as the
list has proved long: page 1 alone first (a list that fits one page costs one request, as
before), then one page more in flight after each page that says more are coming, up to
``concurrency``. When page n turns out to be the last, the requests already sent for the pages
after it are wasted (PersistIQ answers them with an empty page): at most
``min(n, concurrency) - 1`` of them per list.
Should a ``next_page`` ever not be the next number, the guesses are dropped and the reader
follows ``next_page`` one page at a time from there.

The reader only schedules; each request still goes through the run's session, so the request
budget, PersistIQ's rate-limit headers and the retries apply to every page as before. Pages
ask the budget for their place in page order (a thread started later may not overtake), and a
guess found to lie past the end leaves the queue unsent: when the budget binds, no page that is
needed waits for a window behind a guess.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from requests import Session

from persistiq_dagster.source.http.errors import check_envelope, raise_for_persistiq_error
from persistiq_dagster.source.http.pagination import (
    PAGE_PARAM,
    empty_pages_after,
    following_page,
)
from persistiq_dagster.source.http.request_budget import ABANDON_POLL_SECONDS, request_order
from persistiq_dagster.source.http.urls import api_url


@dataclass(frozen=True)
class Page:
    number: int
    records: list[dict[str, Any]]
    next_page: int | None  # None on the last page
    url: str  # without the key: for error messages


FetchPage = Callable[[int], Page]


class SendOrder:
    """Pages take their place in the request budget in page order, whichever thread runs
    first: without it a guess could take the last place of a window from the page before it."""

    def __init__(self) -> None:
        self._next = 1
        self._changed = threading.Condition()

    def wait_turn(self, number: int, abandoned: Callable[[], bool]) -> None:
        with self._changed:
            while self._next < number and not abandoned():
                self._changed.wait(ABANDON_POLL_SECONDS)

    def done(self, number: int) -> None:
        """Pages up to ``number`` have their place (or will never ask for one)."""
        with self._changed:
            self._next = max(self._next, number + 1)
            self._changed.notify_all()


def page_fetcher(
    session: Session,
    base_url: str,
    path: str,
    records_key: str,
    params: Mapping[str, Any],
    headers: Mapping[str, str],
    api_key: str | None,
) -> FetchPage:
    """GET one page of ``path`` with ``params``: a 4xx fails at once, a 2xx must hold the
    envelope, a 429 or 5xx left after the session's retries raises ``HTTPError``."""
    url = api_url(base_url, path)

    def fetch(number: int) -> Page:
        page_params = {**params, PAGE_PARAM: number} if number > 1 else params
        response = session.get(url, params=page_params, headers=headers)
        raise_for_persistiq_error(response, api_key)
        response.raise_for_status()
        check_envelope(response, records_key, api_key)
        payload = response.json()
        next_page = following_page(payload)
        return Page(number, payload[records_key], next_page, f"{url}?{PAGE_PARAM}={number}")

    return fetch


def read_pages(fetch: FetchPage, concurrency: int = 1) -> Iterator[Page]:
    """Every page of one list, in order; up to ``concurrency`` requests in flight.

    A failed page fails the read at once (the pages after it are not yielded); requests
    still in flight are waited for, never left running behind the caller's back.
    """
    pool = ThreadPoolExecutor(max(concurrency, 1), thread_name_prefix="persistiq-page")
    in_flight: dict[int, Future[Page]] = {}
    wanted, next_request, window = 1, 1, 1
    empty_in_a_row = 0
    end = [float("inf")]  # no page from this number on is needed
    dropped: set[int] = set()  # guesses dropped when next_page skipped a number
    order = SendOrder()

    def fetch_in_order(number: int) -> Page:
        def abandoned() -> bool:
            return number >= end[0] or number in dropped

        try:
            order.wait_turn(number, abandoned)
            with request_order(number, abandoned, placed=lambda: order.done(number)):
                return fetch(number)
        finally:
            order.done(number)

    try:
        while True:
            while next_request < wanted + window:
                in_flight[next_request] = pool.submit(fetch_in_order, next_request)
                next_request += 1
            page = in_flight.pop(wanted).result()
            if page.next_page is None:
                end[0] = page.number + 1
            yield page
            if page.next_page is None:
                return
            empty_in_a_row = empty_pages_after(
                page.number, page.next_page, bool(page.records), empty_in_a_row, page.url
            )
            if page.next_page != page.number + 1:  # not consecutive: stop guessing
                dropped.update(in_flight)
                _cancel(in_flight)
                order.done(page.next_page - 1)
                concurrency, next_request = 1, page.next_page
            wanted, window = page.next_page, min(window + 1, concurrency)
    finally:
        end[0] = 0  # whatever still waits for the budget is not sent
        _cancel(in_flight)
        pool.shutdown(wait=True, cancel_futures=True)


def _cancel(in_flight: dict[int, Future[Page]]) -> None:
    for future in in_flight.values():
        future.cancel()
    in_flight.clear()
