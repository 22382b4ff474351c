"""The PersistIQ resource: the API key and client settings; builds the dlt source for a run."""

from datetime import datetime

from dagster import ConfigurableResource, EnvVar
from dlt.extract.source import DltSource
from pydantic import Field
from requests import Session

from persistiq_dagster import config
from persistiq_dagster.config import PersistIQConfigError, Settings
from persistiq_dagster.source.catalog import TABLE_NAMES
from persistiq_dagster.source.http.session import api_headers, build_session
from persistiq_dagster.source.list_reader import Reader, ReadTally
from persistiq_dagster.source.persistiq import persistiq_source
from persistiq_dagster.source.windows import to_iso_timestamp


class PersistIQResource(ConfigurableResource):
    """The PersistIQ API key and client settings; builds the dlt source for a run."""

    api_key: str | None = Field(
        default=None, description=f"PersistIQ API key, from {config.API_KEY_ENV}."
    )
    base_url: str = Field(default=config.DEFAULT_BASE_URL, description="API base URL.")
    user_agent: str = Field(default=config.DEFAULT_USER_AGENT, description="User-Agent.")
    requests_per_minute: int = Field(
        default=config.DEFAULT_REQUESTS_PER_MINUTE,
        gt=0,
        description="Client-side budget: requests started in any rate_limit_window seconds.",
    )
    rate_limit_window: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=config.DEFAULT_MAX_RETRIES, ge=0)
    concurrent_requests: int = Field(
        default=config.DEFAULT_CONCURRENT_REQUESTS,
        ge=1,
        description="Pages of one list requested at once (within the budget).",
    )
    backoff_factor: float = Field(default=config.DEFAULT_BACKOFF_FACTOR, ge=0)
    max_retry_delay: float = Field(default=config.DEFAULT_MAX_RETRY_DELAY, gt=0)
    request_timeout: float = Field(default=config.DEFAULT_REQUEST_TIMEOUT, gt=0)
    load_reply_bodies: bool = Field(
        default=config.DEFAULT_LOAD_REPLY_BODIES,
        description="Load the body and preview of replies (personal data); off by default.",
    )
    max_missing_campaigns_share: float = Field(
        default=config.DEFAULT_MAX_MISSING_CAMPAIGNS_SHARE,
        ge=0,
        le=1,
        description="The share of listed campaigns whose leads or replies may answer 404 "
        "(deleted meanwhile) before the run fails as if the endpoint were gone.",
    )
    schema_contract: str = Field(
        default=config.DEFAULT_SCHEMA_CONTRACT,
        pattern="^(evolve|freeze)$",
        description="evolve: a new field becomes a column (a new type, a variant column); "
        "freeze: the load fails before anything is written.",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "PersistIQResource":
        """As the Definitions bind it: the key an ``EnvVar``, read when a run starts."""
        return cls(
            api_key=EnvVar(config.API_KEY_ENV),
            base_url=settings.base_url,
            user_agent=settings.user_agent,
            requests_per_minute=settings.requests_per_minute,
            max_retries=settings.max_retries,
            concurrent_requests=settings.concurrent_requests,
            load_reply_bodies=settings.load_reply_bodies,
            max_missing_campaigns_share=settings.max_missing_campaigns_share,
            schema_contract=settings.schema_contract,
        )

    def require_api_key(self) -> str:
        if not self.api_key:
            raise PersistIQConfigError(
                f"No PersistIQ API key: set the environment variable {config.API_KEY_ENV} "
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
            concurrency=self.concurrent_requests,
        )

    def request_headers(self) -> dict[str, str]:
        """The headers of a request of our own, the key among them."""
        return api_headers(self.user_agent, self.require_api_key())

    def build_reader(self) -> Reader:
        """Reads a list of our own, several pages at a time, through the run's session."""
        api_key = self.require_api_key()
        return Reader(
            self.build_session(),
            self.base_url,
            self.request_headers(),
            api_key,
            self.concurrent_requests,
            ReadTally(),
        )

    def build_source(
        self,
        *,
        name: str,
        resources: tuple[str, ...] = TABLE_NAMES,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        tally: ReadTally | None = None,
    ) -> DltSource:
        """The source for one run; the partitioned tables read the window ``[start, end)``."""
        api_key = self.require_api_key()
        if "leads" in resources and start is None:
            raise ValueError("leads need the start of their window")
        return persistiq_source(
            api_key,
            name=name,
            resources=resources,
            base_url=self.base_url,
            user_agent=self.user_agent,
            start=to_iso_timestamp(start) if start else None,
            end=to_iso_timestamp(end) if end else None,
            reply_bodies=self.load_reply_bodies,
            concurrency=self.concurrent_requests,
            max_missing_campaigns_share=self.max_missing_campaigns_share,
            schema_contract=self.schema_contract,
            session=self.build_session(),
            tally=tally,
        )
