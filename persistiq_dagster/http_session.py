"""The HTTP session every PersistIQ request of a run goes through: budget and retries."""

from dlt.sources.helpers.requests import Client
from requests import Session

from persistiq_dagster import settings
from persistiq_dagster.ratelimit import RateLimitedAdapter, RequestBudget


def build_session(
    *,
    requests_per_minute: int,
    rate_limit_window: float,
    max_retries: int,
    backoff_factor: float,
    max_retry_delay: float,
    request_timeout: float,
) -> Session:
    """A session that keeps to the request budget and retries 429, 5xx, timeouts and
    dropped connections with exponential backoff (dlt's retrying client)."""
    session = Client(
        request_timeout=request_timeout,
        raise_for_status=False,
        status_codes=settings.RETRY_STATUS_CODES,
        request_max_attempts=max_retries + 1,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    ).session
    adapter = RateLimitedAdapter(RequestBudget(requests_per_minute, rate_limit_window))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
