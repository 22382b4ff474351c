"""A client-side request budget shared by every request of a run, from every thread.

At most ``limit`` requests in any ``window`` seconds, where a request occupies its place from
the moment it is sent until ``window`` seconds after its answer arrived. A server counts a
request somewhere between those two moments, so however it counts (sliding log or fixed
windows starting at a first request), it never sees more than ``limit`` in its window.

PersistIQ's own headers are obeyed too: after an answer with ``X-RateLimit-Remaining: R``,
at most R more requests start (less those already in flight) before ``X-RateLimit-Reset``;
once that moment has passed, at most ``X-RateLimit-Limit`` (less those in flight) until an
answer tells the new window's state. Answers of requests sent side by side arrive in any
order, so while some are in flight the count left is a guess on the safe side; once none is,
the lowest ``R`` any answer of the window gave is the count left, exactly (without that, each
window the server's limit binds lost a place or more: 99 pages a window for a limit of 100,
and 200 pages took three windows, measured).

Requests wait their turn by priority (``request_order``: the page number, for pages read
ahead), so a page that is needed now never waits for a window behind pages guessed ahead of
it, and a request that is no longer wanted leaves the queue without being sent.
"""

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

MAX_SERVER_WAIT_SECONDS = 120.0
ABANDON_POLL_SECONDS = 0.5


class RequestAbandoned(Exception):
    """The request was no longer wanted while it waited for the budget; it was not sent."""


def _nothing() -> None:
    return None


_order: ContextVar[tuple[float, Callable[[], bool], Callable[[], None]]] = ContextVar(
    "persistiq_request_order", default=(0.0, lambda: False, _nothing)
)


@contextmanager
def request_order(
    priority: float, abandoned: Callable[[], bool], placed: Callable[[], None] = _nothing
) -> Iterator[None]:
    """Requests made inside wait behind those of lower ``priority``, give up waiting once
    ``abandoned()`` is true, and call ``placed()`` once they have their place."""
    token = _order.set((priority, abandoned, placed))
    try:
        yield
    finally:
        _order.reset(token)


class RequestBudget:
    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._answered_at: deque[float] = deque()  # monotonic, in the order answers came
        self._in_flight = 0
        self._server_limit: int | None = None
        self._server_remaining: int | None = None  # None: the server has said nothing
        self._server_reset_at = 0.0  # epoch seconds; inf: not told yet for this window
        self._lowest_told: tuple[float, int] | None = None  # (reset, lowest R) of a window
        self._waiting: list[tuple[float, int]] = []  # a heap of (priority, arrival)
        self._arrivals = itertools.count()
        self._changed = threading.Condition()

    def acquire(self) -> None:
        """Wait for this request's turn and a place in the budget and the server's window."""
        priority, abandoned, placed = _order.get()
        ticket = (priority, next(self._arrivals))
        with self._changed:
            heapq.heappush(self._waiting, ticket)
            try:
                while True:
                    if abandoned():
                        raise RequestAbandoned
                    wait = self._wait_seconds() if self._waiting[0] == ticket else None
                    if wait is not None and wait <= 0:
                        break
                    self._changed.wait(min(wait or ABANDON_POLL_SECONDS, ABANDON_POLL_SECONDS))
                heapq.heappop(self._waiting)
            except BaseException:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                raise
            finally:
                self._changed.notify_all()
            self._in_flight += 1
            if self._server_remaining is not None:
                self._server_remaining -= 1
        placed()

    def release(self, response: Response | None) -> None:
        """The request sent after ``acquire`` has its answer (None: it failed to get one)."""
        with self._changed:
            self._in_flight -= 1
            self._answered_at.append(time.monotonic())
            if response is not None:
                self._observe(response)
            self._changed.notify_all()

    def _wait_seconds(self) -> float:
        """How long until a request may start (0: now); a day while only answers can tell."""
        now = time.monotonic()
        while self._answered_at and self._answered_at[0] + self.window <= now:
            self._answered_at.popleft()
        wait = 0.0
        if self._in_flight + len(self._answered_at) >= self.limit:
            wait = self._answered_at[0] + self.window - now if self._answered_at else 86400.0
        if self._server_remaining is None:
            return wait
        until_reset = self._server_reset_at - time.time()
        if until_reset <= 0:  # a new window: as much as the server's limit, when it gave one
            if self._server_limit is None:
                self._server_remaining = None
                return wait
            self._server_remaining = self._server_limit - self._in_flight
            self._server_reset_at = until_reset = float("inf")
        if self._server_remaining > 0:
            return wait
        if until_reset == float("inf"):  # only an answer can tell when this window ends
            if not self._in_flight:
                self._server_remaining = None
                return wait
            return max(wait, 86400.0)
        return max(wait, min(until_reset, MAX_SERVER_WAIT_SECONDS))

    def _observe(self, response: Response) -> None:
        headers = response.headers
        remaining, reset = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")
        if remaining is None or reset is None:
            return
        try:
            remaining_now, reset_at = int(remaining), float(reset)
            limit = headers.get("X-RateLimit-Limit")
            self._server_limit = int(limit) if limit is not None else None
        except ValueError:
            return
        # Requests still in flight may not have been counted in this answer yet.
        told = remaining_now - self._in_flight
        if self._lowest_told is None or self._lowest_told[0] != reset_at:
            self._lowest_told = (reset_at, remaining_now)
        else:
            self._lowest_told = (reset_at, min(self._lowest_told[1], remaining_now))
        known_reset = self._server_reset_at
        if not self._in_flight and reset_at == known_reset and reset_at > time.time():
            # Every request sent is answered: the lowest count any answer of this window
            # gave is what the server has left, exactly.
            self._server_remaining = self._lowest_told[1]
            return
        if self._server_remaining is None or known_reset == float("inf") or reset_at > known_reset:
            if reset_at > time.time():  # an answer about a window that is over tells nothing
                self._server_remaining, self._server_reset_at = told, reset_at
        elif reset_at == known_reset:
            # Answers of one window can arrive out of order: the one sent earlier says more
            # remain than the server has left, so within a window the count only goes down.
            self._server_remaining = min(self._server_remaining, told)


class RateLimitedAdapter(HTTPAdapter):
    """An HTTP adapter that spends the budget on each attempt, retries included."""

    def __init__(self, budget: RequestBudget, **kwargs) -> None:
        super().__init__(**kwargs)
        self.budget = budget

    def send(self, request: PreparedRequest, *args, **kwargs) -> Response:
        self.budget.acquire()  # may raise RequestAbandoned: then nothing is sent
        response = None
        try:
            response = super().send(request, *args, **kwargs)
            return response
        finally:
            self.budget.release(response)
