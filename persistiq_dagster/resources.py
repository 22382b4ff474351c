"""Dagster resources: PersistIQ credentials and client settings, and the dlt warehouse."""

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import dlt
from dagster import ConfigurableResource, EnvVar
from dlt.common.destination import Destination
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline
from dlt.sources.helpers.requests import Client
from pydantic import Field
from requests import Session

from persistiq_dagster import settings
from persistiq_dagster.ratelimit import RateLimitedAdapter, RequestBudget
from persistiq_dagster.source import RESOURCE_NAMES, persistiq_source


class PersistIQConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable to change."""


def to_iso_timestamp(value: str | datetime) -> str:
    """``2024-01-01`` or any ISO 8601 value as ``2024-01-01T00:00:00Z`` (UTC)."""
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        raise PersistIQConfigError(
            f"{settings.START_DATE_ENV}={value!r} is not an ISO 8601 date such as 2024-01-01"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PersistIQResource(ConfigurableResource):
    """The PersistIQ API key and client settings; builds the dlt source for a run."""

    api_key: str | None = Field(
        default=None, description=f"PersistIQ API key, from {settings.API_KEY_ENV}."
    )
    base_url: str = Field(default=settings.DEFAULT_BASE_URL, description="API base URL.")
    user_agent: str = Field(default=settings.DEFAULT_USER_AGENT, description="User-Agent.")
    start_date: str = Field(
        default=settings.DEFAULT_START_DATE,
        description="ISO 8601 date: leads updated after it are loaded on the first run.",
    )
    requests_per_minute: int = Field(
        default=settings.DEFAULT_REQUESTS_PER_MINUTE,
        gt=0,
        description="Client-side budget: requests started in any rate_limit_window seconds.",
    )
    rate_limit_window: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=settings.DEFAULT_MAX_RETRIES, ge=0)
    backoff_factor: float = Field(default=settings.DEFAULT_BACKOFF_FACTOR, ge=0)
    max_retry_delay: float = Field(default=settings.DEFAULT_MAX_RETRY_DELAY, gt=0)
    request_timeout: float = Field(default=settings.DEFAULT_REQUEST_TIMEOUT, gt=0)

    def require_api_key(self) -> str:
        if not self.api_key:
            raise PersistIQConfigError(
                f"No PersistIQ API key: set the environment variable {settings.API_KEY_ENV} "
                "(PersistIQ: Settings > Integrations > API key)."
            )
        return self.api_key

    def build_session(self) -> Session:
        """A session that keeps to the request budget and retries 429, 5xx, timeouts and
        dropped connections with exponential backoff (dlt's retrying client)."""
        session = Client(
            request_timeout=self.request_timeout,
            raise_for_status=False,
            status_codes=settings.RETRY_STATUS_CODES,
            request_max_attempts=self.max_retries + 1,
            request_backoff_factor=self.backoff_factor,
            request_max_retry_delay=self.max_retry_delay,
            respect_retry_after_header=True,
        ).session
        adapter = RateLimitedAdapter(
            RequestBudget(self.requests_per_minute, self.rate_limit_window)
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def build_source(
        self,
        *,
        name: str,
        resources: tuple[str, ...] = RESOURCE_NAMES,
        leads_start: str | datetime | None = None,
        leads_end: str | datetime | None = None,
        pages: Counter[str] | None = None,
    ) -> DltSource:
        """The source for one run; leads from ``leads_start`` (default: the start date)."""
        return persistiq_source(
            self.require_api_key(),
            name=name,
            resources=resources,
            base_url=self.base_url,
            user_agent=self.user_agent,
            leads_start=to_iso_timestamp(leads_start or self.start_date),
            leads_end=to_iso_timestamp(leads_end) if leads_end else None,
            session=self.build_session(),
            pages=pages,
        )


class PersistIQWarehouse(ConfigurableResource):
    """Where the data lands: a dlt destination and dataset (DuckDB file by default)."""

    destination: str = Field(default=settings.DEFAULT_DESTINATION)
    duckdb_path: str = Field(default=settings.DEFAULT_DUCKDB_PATH)
    dataset_name: str = Field(default=settings.DEFAULT_DATASET)
    loader_file_format: str = Field(default=settings.DEFAULT_LOADER_FILE_FORMAT)
    pipelines_dir: str | None = Field(
        default=None, description="dlt's working folder; dlt's default when unset."
    )

    def build_pipeline(self, pipeline_name: str) -> Pipeline:
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=self._destination(),
            dataset_name=self.dataset_name,
            pipelines_dir=self.pipelines_dir,
        )

    def qualified_table_name(self, table: str) -> str:
        """Where to query ``table``: ``<catalog>.<dataset>.<table>`` for DuckDB."""
        if self.destination == "duckdb":
            return f"{Path(self.duckdb_path).stem}.{self.dataset_name}.{table}"
        return f"{self.dataset_name}.{table}"

    def _destination(self) -> str | Destination:
        if self.destination != "duckdb":
            return self.destination  # credentials are read by dlt, e.g. DESTINATION__...
        path = Path(self.duckdb_path).expanduser()
        if path.stem.lower() == self.dataset_name.lower():
            raise PersistIQConfigError(
                f"{settings.DUCKDB_PATH_ENV}={self.duckdb_path} is named like the dataset "
                f"{self.dataset_name!r}: DuckDB names its catalog after the file, and every "
                f"load would fail with 'Ambiguous reference to catalog or schema'. Rename the "
                f"file or set {settings.DATASET_ENV} to another name."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(credentials=str(path))


def int_from_env(name: str, default: int, minimum: int = 1) -> int:
    """An integer setting, with a message that names the variable when it is not one."""
    raw = os.getenv(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise PersistIQConfigError(f"{name}={raw!r} is not a whole number of at least {minimum}")
    return int(raw)


def persistiq_from_env() -> PersistIQResource:
    """The API resource as ``Definitions`` binds it.

    The key stays an ``EnvVar``, resolved when a run starts, so it never enters run config
    and Definitions load without it; other settings are read now, with their defaults.
    """
    return PersistIQResource(
        api_key=EnvVar(settings.API_KEY_ENV),
        base_url=os.getenv(settings.BASE_URL_ENV, settings.DEFAULT_BASE_URL),
        user_agent=os.getenv(settings.USER_AGENT_ENV, settings.DEFAULT_USER_AGENT),
        start_date=os.getenv(settings.START_DATE_ENV, settings.DEFAULT_START_DATE),
        requests_per_minute=int_from_env(
            settings.REQUESTS_PER_MINUTE_ENV, settings.DEFAULT_REQUESTS_PER_MINUTE
        ),
        max_retries=int_from_env(settings.MAX_RETRIES_ENV, settings.DEFAULT_MAX_RETRIES, 0),
    )


def warehouse_from_env() -> PersistIQWarehouse:
    """The warehouse resource as ``Definitions`` binds it, every setting with its default."""
    return PersistIQWarehouse(
        destination=os.getenv(settings.DESTINATION_ENV, settings.DEFAULT_DESTINATION),
        duckdb_path=os.getenv(settings.DUCKDB_PATH_ENV, settings.DEFAULT_DUCKDB_PATH),
        dataset_name=os.getenv(settings.DATASET_ENV, settings.DEFAULT_DATASET),
        loader_file_format=os.getenv(
            settings.LOADER_FILE_FORMAT_ENV, settings.DEFAULT_LOADER_FILE_FORMAT
        ),
        pipelines_dir=os.getenv(settings.PIPELINES_DIR_ENV) or None,
    )
