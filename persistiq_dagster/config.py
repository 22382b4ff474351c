"""Every setting of the project: its environment variable, its default, and its check.

``Settings.from_env()`` reads and checks every ``PERSISTIQ_*`` variable once, into one typed
value; ``persistiq_dagster.definitions`` is the only module that calls it when imported, and
``build_defs(settings)`` builds everything from that value. A wrong value fails with one line
that names the variable, its value and what would be accepted; a variable set to nothing (or
blanks) counts as unset. The API key alone is not a setting here: it stays a ``dagster.EnvVar``,
read when a run starts, so it never enters run config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from persistiq_dagster import __version__
from persistiq_dagster.source.catalog import OPTIONAL_TABLES, TABLE_NAMES

PROJECT_DIR = Path(__file__).resolve().parent.parent

# The environment variables, in the README's order.
API_KEY_ENV = "PERSISTIQ_API_KEY"
BASE_URL_ENV = "PERSISTIQ_BASE_URL"
USER_AGENT_ENV = "PERSISTIQ_USER_AGENT"
START_DATE_ENV = "PERSISTIQ_START_DATE"
TIMEZONE_ENV = "PERSISTIQ_TIMEZONE"
REQUESTS_PER_MINUTE_ENV = "PERSISTIQ_REQUESTS_PER_MINUTE"
MAX_RETRIES_ENV = "PERSISTIQ_MAX_RETRIES"
CONCURRENT_REQUESTS_ENV = "PERSISTIQ_CONCURRENT_REQUESTS"
EXCLUDE_TABLES_ENV = "PERSISTIQ_EXCLUDE_TABLES"
LOAD_REPLY_BODIES_ENV = "PERSISTIQ_LOAD_REPLY_BODIES"
USERS_CAMPAIGNS_CRON_ENV = "PERSISTIQ_USERS_CAMPAIGNS_CRON"
LEADS_CRON_ENV = "PERSISTIQ_LEADS_CRON"
ACTIVITY_CRON_ENV = "PERSISTIQ_ACTIVITY_CRON"
LEADS_RECONCILE_CRON_ENV = "PERSISTIQ_LEADS_RECONCILE_CRON"
LEADS_SENSOR_INTERVAL_ENV = "PERSISTIQ_LEADS_SENSOR_INTERVAL_SECONDS"
LEADS_SENSOR_ACTIVITY_MINUTES_ENV = "PERSISTIQ_LEADS_SENSOR_ACTIVITY_MINUTES"
FRESHNESS_HOURS_ENV = "PERSISTIQ_FRESHNESS_HOURS"
FRESHNESS_DEADLINE_ENV = "PERSISTIQ_FRESHNESS_DEADLINE"
FAILURE_WEBHOOK_URL_ENV = "PERSISTIQ_FAILURE_WEBHOOK_URL"
ASSET_OWNERS_ENV = "PERSISTIQ_ASSET_OWNERS"
ASSET_TAGS_ENV = "PERSISTIQ_ASSET_TAGS"
CODE_REPOSITORY_URL_ENV = "PERSISTIQ_CODE_REPOSITORY_URL"
CODE_REPOSITORY_BRANCH_ENV = "PERSISTIQ_CODE_REPOSITORY_BRANCH"
DESTINATION_ENV = "PERSISTIQ_DESTINATION"
DUCKDB_PATH_ENV = "PERSISTIQ_DUCKDB_PATH"
DATASET_ENV = "PERSISTIQ_DATASET"
LOADER_FILE_FORMAT_ENV = "PERSISTIQ_LOADER_FILE_FORMAT"
DUCKDB_MEMORY_LIMIT_ENV = "PERSISTIQ_DUCKDB_MEMORY_LIMIT"
PIPELINES_DIR_ENV = "PERSISTIQ_PIPELINES_DIR"
WAREHOUSE_LOCK_TIMEOUT_ENV = "PERSISTIQ_WAREHOUSE_LOCK_TIMEOUT_SECONDS"
ACTIVITY_LOOKBACK_DAYS_ENV = "PERSISTIQ_ACTIVITY_LOOKBACK_DAYS"
ANALYTICS_ENV = "PERSISTIQ_ANALYTICS"
ANALYTICS_SCHEMA_ENV = "PERSISTIQ_ANALYTICS_SCHEMA"
REPLY_TOLERANCE_ENV = "PERSISTIQ_REPLY_RECONCILIATION_TOLERANCE"
MAX_MISSING_CAMPAIGNS_SHARE_ENV = "PERSISTIQ_MAX_MISSING_CAMPAIGNS_SHARE"
SCHEMA_CONTRACT_ENV = "PERSISTIQ_SCHEMA_CONTRACT"

# The PersistIQ client's defaults.
DEFAULT_BASE_URL = "https://api.persistiq.com/v1/"
DEFAULT_USER_AGENT = f"persistiq_dagster/{__version__} (dlt rest_api)"
# PersistIQ's API description: 1000 requests a minute, exponential backoff, at most 7 retries.
DEFAULT_REQUESTS_PER_MINUTE = 1000
DEFAULT_MAX_RETRIES = 7
# Pages of one list in flight at once: at 150 ms an answer, 8 keep a 1,000-a-minute budget busy.
DEFAULT_CONCURRENT_REQUESTS = 8
DEFAULT_BACKOFF_FACTOR = 1.0
DEFAULT_MAX_RETRY_DELAY = 60.0
DEFAULT_REQUEST_TIMEOUT = 60.0
# Reply bodies are what prospects wrote: personal data that reply rates and sentiment do not
# need. Off by default (data minimisation); a team that reads them turns them on.
DEFAULT_LOAD_REPLY_BODIES = False
# A campaign deleted between the listing of campaigns and the reading of its leads or replies
# answers 404 and is skipped. More than this share of them (or all) means the endpoint is gone,
# not the campaigns: the run fails and retires nothing.
DEFAULT_MAX_MISSING_CAMPAIGNS_SHARE = 0.2
# How a load meets a new field or a value of another type: evolve (dlt adds the column, or a
# variant column beside it) or freeze (the load fails before anything is written).
DEFAULT_SCHEMA_CONTRACT = "evolve"
SCHEMA_CONTRACT_MODES = ("evolve", "freeze")

# Partitions, schedules and sensors.
DEFAULT_START_DATE = "2024-01-01"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_USERS_CAMPAIGNS_CRON = "0 6 * * *"
DEFAULT_LEADS_CRON = "15 0 * * *"  # just after midnight: yesterday's partition has closed
DEFAULT_ACTIVITY_CRON = "30 0 * * *"  # events and replies of the day that closed
# The leads PersistIQ deleted: every lead id listed (a request per 100 leads), once a week.
DEFAULT_LEADS_RECONCILE_CRON = "0 5 * * 0"
# Days the activity schedule reads, ending with the day that closed: PersistIQ may show an
# event or reply after its day was loaded; rows merge on id, so a day read again never doubles.
DEFAULT_ACTIVITY_LOOKBACK_DAYS = 3
DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS = 300
# Today's events and replies with today's leads: a request per campaign, so at most hourly.
DEFAULT_LEADS_SENSOR_ACTIVITY_MINUTES = 60
DEFAULT_FRESHNESS_HOURS = 26  # the daily refresh, with two hours to spare
DEFAULT_FRESHNESS_DEADLINE = time(9, 0)  # by when the day that closed at midnight is loaded

# The asset pages.
DEFAULT_ASSET_OWNERS = ("team:data-engineering",)
DEFAULT_ASSET_TAGS: Mapping[str, str] = {"source": "persistiq", "domain": "sales"}
DEFAULT_CODE_REPOSITORY_BRANCH = "main"

# The warehouse (a dlt destination).
DEFAULT_DESTINATION = "duckdb"
# Not named like the dataset: DuckDB names its catalog after the file, and a catalog and a
# schema of one name make every load fail with "Ambiguous reference to catalog or schema".
DEFAULT_DUCKDB_PATH = str(PROJECT_DIR / "data" / "persistiq_warehouse.duckdb")
DEFAULT_DATASET = "persistiq"
# dlt's default for DuckDB is INSERT statements: 45 s and 5.9 GB for 100k leads, measured.
DEFAULT_LOADER_FILE_FORMAT = "parquet"
# PostgreSQL: dlt's own choice. Parquet needs an ADBC driver; with csv, dlt 1.31 reports
# inflated row counts (35 for 5 users, measured), which the row checks would read.
DEFAULT_LOADER_FILE_FORMATS = {"postgres": "insert_values"}
# DuckDB's memory for a load (it spills to disk beyond). Left to DuckDB (80% of RAM), merging
# 1M leads took the process to 975 MB; with 128MB, 424 MB. With 64MB that merge ran out.
DEFAULT_DUCKDB_MEMORY_LIMIT = "128MB"
# How long a step waits for another run to finish with the warehouse before it fails.
DEFAULT_WAREHOUSE_LOCK_TIMEOUT_SECONDS = 1800

# The analytics models (dbt): their schema, beside the dataset, and the warehouses they run on.
DEFAULT_ANALYTICS_SCHEMA = "persistiq_analytics"
# Off, the Definitions leave the models out, and no process imports dbt (about 55 MiB each).
DEFAULT_ANALYTICS = True
ANALYTICS_DESTINATIONS = ("duckdb", "postgres")
# How far the replied leads loaded may stray from PersistIQ's prospects_replied, as a share of
# PersistIQ's count, before the reconciliation check warns.
DEFAULT_REPLY_TOLERANCE = 0.05


class PersistIQConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable to change."""


@dataclass(frozen=True)
class Settings:
    """Every setting, typed and checked; ``Settings()`` is the defaults."""

    base_url: str = DEFAULT_BASE_URL
    user_agent: str = DEFAULT_USER_AGENT
    start_date: str = DEFAULT_START_DATE  # YYYY-MM-DD: the first daily partition
    timezone: str = DEFAULT_TIMEZONE  # IANA name: days are cut, and schedules run, in it
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    max_retries: int = DEFAULT_MAX_RETRIES
    concurrent_requests: int = DEFAULT_CONCURRENT_REQUESTS
    enabled_tables: tuple[str, ...] = TABLE_NAMES  # every table but the excluded ones
    load_reply_bodies: bool = DEFAULT_LOAD_REPLY_BODIES
    max_missing_campaigns_share: float = DEFAULT_MAX_MISSING_CAMPAIGNS_SHARE  # 0 to 1
    schema_contract: str = DEFAULT_SCHEMA_CONTRACT  # evolve or freeze
    users_campaigns_cron: str = DEFAULT_USERS_CAMPAIGNS_CRON
    leads_cron: str = DEFAULT_LEADS_CRON
    activity_cron: str = DEFAULT_ACTIVITY_CRON
    leads_reconcile_cron: str = DEFAULT_LEADS_RECONCILE_CRON
    activity_lookback_days: int = DEFAULT_ACTIVITY_LOOKBACK_DAYS
    leads_sensor_interval_seconds: int = DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS
    leads_sensor_activity_minutes: int = DEFAULT_LEADS_SENSOR_ACTIVITY_MINUTES
    freshness_hours: int = DEFAULT_FRESHNESS_HOURS
    freshness_deadline: time = DEFAULT_FRESHNESS_DEADLINE
    failure_webhook_url: str | None = None
    asset_owners: tuple[str, ...] = DEFAULT_ASSET_OWNERS
    asset_tags: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ASSET_TAGS))
    code_repository_url: str | None = None
    code_repository_branch: str = DEFAULT_CODE_REPOSITORY_BRANCH
    destination: str = DEFAULT_DESTINATION
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    dataset: str = DEFAULT_DATASET
    loader_file_format: str = DEFAULT_LOADER_FILE_FORMAT
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    pipelines_dir: str | None = None  # dlt's default (~/.dlt/pipelines) when None
    warehouse_lock_timeout_seconds: int = DEFAULT_WAREHOUSE_LOCK_TIMEOUT_SECONDS
    analytics: bool = DEFAULT_ANALYTICS
    analytics_schema: str = DEFAULT_ANALYTICS_SCHEMA
    reply_tolerance: float = DEFAULT_REPLY_TOLERANCE  # a share of prospects_replied, 0 to 1

    @property
    def runs_analytics(self) -> bool:
        """Whether the dbt models are built: unless turned off, on DuckDB and PostgreSQL,
        the warehouses they are tested on."""
        return self.analytics and destination_type(self.destination) in ANALYTICS_DESTINATIONS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting from ``environ`` (the process environment when
        None); PersistIQConfigError, naming the variable, at the first wrong one."""
        env = _Environment(os.environ if environ is None else environ)
        destination = env.read(
            DESTINATION_ENV, DEFAULT_DESTINATION, destination_name, check_default=True
        )
        return cls(
            base_url=env.read(BASE_URL_ENV, DEFAULT_BASE_URL, http_url),
            user_agent=env.text(USER_AGENT_ENV, DEFAULT_USER_AGENT),
            start_date=env.read(START_DATE_ENV, DEFAULT_START_DATE, iso_date),
            timezone=env.read(TIMEZONE_ENV, DEFAULT_TIMEZONE, timezone_name),
            requests_per_minute=env.whole_number(
                REQUESTS_PER_MINUTE_ENV, DEFAULT_REQUESTS_PER_MINUTE
            ),
            max_retries=env.whole_number(MAX_RETRIES_ENV, DEFAULT_MAX_RETRIES, minimum=0),
            concurrent_requests=env.whole_number(
                CONCURRENT_REQUESTS_ENV, DEFAULT_CONCURRENT_REQUESTS
            ),
            enabled_tables=env.read(EXCLUDE_TABLES_ENV, TABLE_NAMES, enabled_tables),
            load_reply_bodies=env.read(LOAD_REPLY_BODIES_ENV, DEFAULT_LOAD_REPLY_BODIES, yes_no),
            max_missing_campaigns_share=env.read(
                MAX_MISSING_CAMPAIGNS_SHARE_ENV, DEFAULT_MAX_MISSING_CAMPAIGNS_SHARE, share
            ),
            schema_contract=env.read(SCHEMA_CONTRACT_ENV, DEFAULT_SCHEMA_CONTRACT, contract_mode),
            users_campaigns_cron=env.read(
                USERS_CAMPAIGNS_CRON_ENV, DEFAULT_USERS_CAMPAIGNS_CRON, cron
            ),
            leads_cron=env.read(LEADS_CRON_ENV, DEFAULT_LEADS_CRON, cron),
            activity_cron=env.read(ACTIVITY_CRON_ENV, DEFAULT_ACTIVITY_CRON, cron),
            leads_reconcile_cron=env.read(
                LEADS_RECONCILE_CRON_ENV, DEFAULT_LEADS_RECONCILE_CRON, cron
            ),
            activity_lookback_days=env.whole_number(
                ACTIVITY_LOOKBACK_DAYS_ENV, DEFAULT_ACTIVITY_LOOKBACK_DAYS
            ),
            leads_sensor_interval_seconds=env.whole_number(
                LEADS_SENSOR_INTERVAL_ENV, DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS
            ),
            leads_sensor_activity_minutes=env.whole_number(
                LEADS_SENSOR_ACTIVITY_MINUTES_ENV, DEFAULT_LEADS_SENSOR_ACTIVITY_MINUTES, minimum=0
            ),
            freshness_hours=env.whole_number(FRESHNESS_HOURS_ENV, DEFAULT_FRESHNESS_HOURS),
            freshness_deadline=env.read(
                FRESHNESS_DEADLINE_ENV, DEFAULT_FRESHNESS_DEADLINE, time_of_day
            ),
            failure_webhook_url=env.read(FAILURE_WEBHOOK_URL_ENV, None, http_url),
            asset_owners=env.read(ASSET_OWNERS_ENV, DEFAULT_ASSET_OWNERS, asset_owners),
            asset_tags=env.read(ASSET_TAGS_ENV, dict(DEFAULT_ASSET_TAGS), asset_tags),
            code_repository_url=env.read(CODE_REPOSITORY_URL_ENV, None, http_url),
            code_repository_branch=env.text(
                CODE_REPOSITORY_BRANCH_ENV, DEFAULT_CODE_REPOSITORY_BRANCH
            ),
            destination=destination,
            duckdb_path=env.text(DUCKDB_PATH_ENV, DEFAULT_DUCKDB_PATH),
            dataset=env.read(DATASET_ENV, DEFAULT_DATASET, dataset_name),
            loader_file_format=env.read(
                LOADER_FILE_FORMAT_ENV,
                default_loader_file_format(destination),
                lambda raw: loader_file_format(raw, destination),
                check_default=True,
            ),
            duckdb_memory_limit=env.read(
                DUCKDB_MEMORY_LIMIT_ENV, DEFAULT_DUCKDB_MEMORY_LIMIT, memory_amount
            ),
            pipelines_dir=env.text(PIPELINES_DIR_ENV, None),
            warehouse_lock_timeout_seconds=env.whole_number(
                WAREHOUSE_LOCK_TIMEOUT_ENV, DEFAULT_WAREHOUSE_LOCK_TIMEOUT_SECONDS, minimum=0
            ),
            analytics=env.read(ANALYTICS_ENV, DEFAULT_ANALYTICS, yes_no),
            analytics_schema=env.read(ANALYTICS_SCHEMA_ENV, DEFAULT_ANALYTICS_SCHEMA, dataset_name),
            reply_tolerance=env.read(REPLY_TOLERANCE_ENV, DEFAULT_REPLY_TOLERANCE, share),
        )


T = TypeVar("T")


class _Environment:
    """Reads variables from ``environ``: blank is unset, and a parser's ValueError becomes
    one line naming the variable and its value."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def raw(self, name: str) -> str:
        return (self.environ.get(name) or "").strip()

    def text(self, name: str, default: T) -> str | T:
        return self.raw(name) or default

    def read(
        self, name: str, default: T, parse: Callable[[str], T], check_default: bool = False
    ) -> T:
        """``parse`` of the variable's text; ``default`` when it is unset, parsed too when
        ``check_default`` (a default can be wrong: a destination's client not installed)."""
        raw = self.raw(name)
        if not raw and not check_default:
            return default
        raw = raw or str(default)
        try:
            return parse(raw)
        except ValueError as error:
            raise PersistIQConfigError(f"{name}={raw!r} {error}") from None

    def whole_number(self, name: str, default: int, minimum: int = 1) -> int:
        def parse(raw: str) -> int:
            if not raw.isdigit() or int(raw) < minimum:
                raise ValueError(f"is not a whole number of at least {minimum}")
            return int(raw)

        return self.read(name, default, parse)


# Parsers: each takes a variable's stripped, non-empty text and returns its value, or raises
# ValueError with what would be accepted (the variable's name and value are put in front).


def iso_date(raw: str) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError as error:
        # Python says why a well-formed date is not one: "month must be in 1..12".
        why = "" if str(error).startswith("Invalid isoformat") else f" ({error})"
        raise ValueError(f"is not an ISO 8601 date such as 2024-01-01{why}") from None


def timezone_name(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA timezone name such as UTC or Europe/Berlin") from None
    return raw


TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def yes_no(raw: str) -> bool:
    """true/false, 1/0, yes/no or on/off, in any case."""
    if raw.lower() not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError("is not true or false")
    return raw.lower() in TRUE_WORDS


TIME_OF_DAY = re.compile(r"\d\d:\d\d")


def time_of_day(raw: str) -> time:
    """A time of day on the 24-hour clock, as HH:MM such as 09:00."""
    try:
        if TIME_OF_DAY.fullmatch(raw):
            return time.fromisoformat(raw)
    except ValueError:
        pass
    raise ValueError("is not a time of day as HH:MM such as 09:00")


def http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL")
    return raw


MEMORY_AMOUNT = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)


def memory_amount(raw: str) -> str:
    """An amount DuckDB understands, such as 128MB or 2GB."""
    if not MEMORY_AMOUNT.fullmatch(raw):
        raise ValueError("is not an amount of memory such as 128MB or 2GB")
    return raw


DATASET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def dataset_name(raw: str) -> str:
    if not DATASET_NAME.fullmatch(raw):
        raise ValueError(
            "is not a dataset (schema) name: letters, digits and underscores, not starting "
            "with a digit"
        )
    return raw


def share(raw: str) -> float:
    """A share between 0 and 1, such as 0.05 (5%)."""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ValueError("is not a share between 0 and 1, such as 0.05 for 5%")
    return value


def contract_mode(raw: str) -> str:
    """evolve or freeze, in any case."""
    if raw.lower() not in SCHEMA_CONTRACT_MODES:
        raise ValueError(f"is not one of {', '.join(SCHEMA_CONTRACT_MODES)}")
    return raw.lower()


def comma_list(raw: str) -> list[str]:
    """The items of a comma list, stripped, blanks left out."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def enabled_tables(raw: str) -> tuple[str, ...]:
    """Every table but those the comma list ``raw`` names (optional tables only)."""
    excluded = set(comma_list(raw))
    wrong = sorted(excluded - set(OPTIONAL_TABLES))
    if wrong:
        required = sorted(set(wrong) & set(TABLE_NAMES))
        why = f"{', '.join(required)} cannot be left out" if required else "unknown tables"
        raise ValueError(
            f"names {', '.join(wrong)} ({why}); it takes a comma list of "
            f"{', '.join(OPTIONAL_TABLES)}"
        )
    return tuple(name for name in TABLE_NAMES if name not in excluded)


def asset_owners(raw: str) -> tuple[str, ...]:
    """A comma list of ``team:<name>`` or email addresses."""
    owners = tuple(comma_list(raw)) or DEFAULT_ASSET_OWNERS
    _accepted_by_dagster(owners=owners)
    return owners


def asset_tags(raw: str) -> dict[str, str]:
    """A comma list of ``key=value``."""
    tags = {}
    for item in comma_list(raw):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(
                f"has {item!r}, which is not key=value; it takes a comma list such as "
                "source=persistiq,domain=sales"
            )
        tags[key.strip()] = value.strip()
    _accepted_by_dagster(tags=tags)
    return tags


def cron(raw: str) -> str:
    """A cron string Dagster's schedules accept, such as ``15 0 * * *``."""
    # Dagster's own rules, imported when a value is checked, so that the source package
    # (which reads the variables' names here) loads without Dagster.
    from dagster import DagsterInvalidDefinitionError, ScheduleDefinition

    try:
        ScheduleDefinition(name="setting_check", cron_schedule=raw, job_name="setting_check")
    except DagsterInvalidDefinitionError:
        raise ValueError(
            "is not a cron schedule of 5 fields (minute hour day month weekday) such as "
            "'15 0 * * *'"
        ) from None
    return raw


def _accepted_by_dagster(**spec_attributes) -> None:
    """Dagster's own rules for owners and tags (imported when checked, as for ``cron``)."""
    from dagster import AssetSpec, DagsterInvalidDefinitionError

    try:
        AssetSpec(key="setting_check", **spec_attributes)
    except DagsterInvalidDefinitionError as error:
        raise ValueError(f"is not accepted by Dagster: {error}") from None


# dlt lists these among a destination's formats, but they carry no rows: SQL models and
# references to files already written.
NOT_ROW_FORMATS = ("model", "reference")


def install_hint(destination_type: str) -> str:
    """How to install what ``destination_type`` needs: our extra if we have one, else dlt's."""
    if destination_type == "postgres":
        return "pip install -e '.[postgres]'"
    return f"pip install 'dlt[{destination_type}]'"


def destination_name(raw: str) -> str:
    """A dlt destination whose client libraries are installed."""
    import dlt.destinations
    from dlt.common.destination import Destination
    from dlt.common.destination.exceptions import (
        InvalidDestinationReference,
        UnknownDestinationModule,
    )

    try:
        destination = Destination.from_reference(raw)
    except (UnknownDestinationModule, InvalidDestinationReference):
        known = ", ".join(sorted(set(dlt.destinations.__all__) - {"destination"}))
        raise ValueError(f"is not a dlt destination; use one of {known}") from None
    try:
        destination.client_class  # noqa: B018 - importing the client module is the check
    except ImportError as error:  # dlt's MissingDependencyException is an ImportError too
        missing = error.name or ", ".join(getattr(error, "dependencies", ())) or "its client"
        raise ValueError(
            f"needs {missing}, which is not installed; run {install_hint(destination_type(raw))}"
        ) from None
    return raw


def destination_type(destination: str) -> str:
    """``postgres`` for ``postgres`` and ``dlt.destinations.postgres`` alike."""
    return destination.rsplit(".", 1)[-1]


def default_loader_file_format(destination: str) -> str:
    return DEFAULT_LOADER_FILE_FORMATS.get(
        destination_type(destination), DEFAULT_LOADER_FILE_FORMAT
    )


def loader_file_format(raw: str, destination: str) -> str:
    """A file format ``destination`` can load."""
    from dlt.common.destination import Destination

    formats = Destination.from_reference(destination).capabilities().supported_loader_file_formats
    accepted = [f for f in formats if f not in NOT_ROW_FORMATS]
    if raw not in accepted:
        said = " (the default)" if raw == default_loader_file_format(destination) else ""
        raise ValueError(
            f"{said} is not a format {destination_type(destination)} can load; use one of "
            f"{', '.join(accepted)}".lstrip()
        )
    return raw
