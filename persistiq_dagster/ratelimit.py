"""A client-side request budget shared by every request of a run.

At most ``limit`` requests start in any ``window`` seconds (a sliding log, so a server
counting fixed windows never sees more either), and when PersistIQ reports
``X-RateLimit-Remaining: 0`` the next request waits for ``X-RateLimit-Reset`` (epoch seconds).
"""

import threading
import time
from collections import deque

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

MAX_SERVER_WAIT_SECONDS = 120.0


class RequestBudget:
    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._starts: deque[float] = deque(maxlen=limit)
        self._server_reset_at = 0.0  # epoch seconds
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until one more request fits the budget and the server's own window."""
        with self._lock:
            now = time.monotonic()
            wait = 0.0
            if len(self._starts) == self.limit:
                wait = self._starts[0] + self.window - now
            wait = max(wait, min(self._server_reset_at - time.time(), MAX_SERVER_WAIT_SECONDS))
            if wait > 0:
                time.sleep(wait)
            self._starts.append(time.monotonic())

    def observe(self, response: Response) -> None:
        """Remember PersistIQ's rate-limit headers, when it sends them."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is None or reset is None:
            return
        try:
            exhausted = int(remaining) <= 0
            reset_at = float(reset)
        except ValueError:
            return
        if exhausted:
            self._server_reset_at = reset_at


class RateLimitedAdapter(HTTPAdapter):
    """An HTTP adapter that spends the budget on each attempt, retries included."""

    def __init__(self, budget: RequestBudget, **kwargs) -> None:
        super().__init__(**kwargs)
        self.budget = budget

    def send(self, request: PreparedRequest, *args, **kwargs) -> Response:
        self.budget.acquire()
        response = super().send(request, *args, **kwargs)
        self.budget.observe(response)
        return response
