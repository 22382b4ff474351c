"""The HTTP session every PersistIQ request of a run goes through: budget and retries."""

from collections.abc import Callable

import requests
from dlt.sources.helpers.requests import Client
from requests import PreparedRequest, Response, Session

from persistiq_dagster.source.http.errors import connect_failure
from persistiq_dagster.source.http.request_budget import RateLimitedAdapter, RequestBudget

# Opening a connection (TCP and TLS) may take this long at most, so a black-holed host is
# reported in seconds; an answer may still take the whole request_timeout to arrive.
CONNECT_TIMEOUT_SECONDS = 5.0
# Answers worth another try: rate limited, or the server's trouble.
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)
RETRIED_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class PersistIQAdapter(RateLimitedAdapter):
    """Spends the request budget on every attempt; remembers whether the host ever answered."""

    answered = False

    def send(self, request: PreparedRequest, *args, **kwargs) -> Response:
        response = super().send(request, *args, **kwargs)
        self.answered = True
        return response


def retry_on_transport_error(
    adapter: PersistIQAdapter,
) -> Callable[[Response | None, BaseException | None], bool]:
    """Retry timeouts and dropped connections, and failures to connect once the host has
    answered (a blip mid-run); not a failure to connect to a host that never answered."""

    def should_retry(response: Response | None, error: BaseException | None) -> bool:
        if not isinstance(error, RETRIED_ERRORS):
            return False
        return adapter.answered or connect_failure(error) is None

    return should_retry


def build_session(
    *,
    requests_per_minute: int,
    rate_limit_window: float,
    max_retries: int,
    backoff_factor: float,
    max_retry_delay: float,
    request_timeout: float,
    concurrency: int = 1,
) -> Session:
    """A session that keeps to the request budget and retries 429, 5xx, timeouts and
    dropped connections with exponential backoff (dlt's retrying client); an unreachable
    host fails at the first attempt."""
    adapter = PersistIQAdapter(
        RequestBudget(requests_per_minute, rate_limit_window), pool_maxsize=max(concurrency, 10)
    )
    session = Client(
        request_timeout=(min(CONNECT_TIMEOUT_SECONDS, request_timeout), request_timeout),
        raise_for_status=False,
        status_codes=RETRY_STATUS_CODES,
        exceptions=(),  # decided by retry_on_transport_error instead
        retry_condition=retry_on_transport_error(adapter),
        request_max_attempts=max_retries + 1,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    ).session
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def api_headers(user_agent: str, api_key: str | None = None) -> dict[str, str]:
    """The headers of every request (PersistIQ requires a User-Agent), with the key when
    given (dlt's rest_api sends it itself)."""
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    if api_key is not None:
        headers["x-api-key"] = api_key
    return headers
