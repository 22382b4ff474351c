"""Dagster resources: PersistIQ credentials and client settings, and the dlt warehouse."""

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import dlt
from dagster import ConfigurableResource
from dlt.common.destination import Destination
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline
from pydantic import Field
from requests import Session

from persistiq_dagster import settings
from persistiq_dagster.errors import PersistIQConfigError
from persistiq_dagster.http_session import build_session
from persistiq_dagster.source import RESOURCE_NAMES, persistiq_source


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
        return build_session(
            requests_per_minute=self.requests_per_minute,
            rate_limit_window=self.rate_limit_window,
            max_retries=self.max_retries,
            backoff_factor=self.backoff_factor,
            max_retry_delay=self.max_retry_delay,
            request_timeout=self.request_timeout,
        )

    def build_source(
        self,
        *,
        name: str,
        resources: tuple[str, ...] = RESOURCE_NAMES,
        leads_start: str | datetime | None = None,
        leads_end: str | datetime | None = None,
        pages: Counter[str] | None = None,
    ) -> DltSource:
        """The source for one run; leads updated in ``[leads_start, leads_end)``."""
        api_key = self.require_api_key()
        if "leads" in resources and leads_start is None:
            raise ValueError("leads need the start of their window (leads_start)")
        return persistiq_source(
            api_key,
            name=name,
            resources=resources,
            base_url=self.base_url,
            user_agent=self.user_agent,
            leads_start=to_iso_timestamp(leads_start) if leads_start else None,
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
