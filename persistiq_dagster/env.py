"""Settings read from the environment when the code location loads, each checked on the way.

A wrong value stops the code location with one line that names the variable, its value and
what would be accepted. The API key alone stays a ``dagster.EnvVar``, read when a run starts,
so it never enters run config.
"""

import os
import re
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt.destinations
from dagster import AssetSpec, DagsterInvalidDefinitionError, EnvVar
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import (
    InvalidDestinationReference,
    UnknownDestinationModule,
)

from persistiq_dagster import settings
from persistiq_dagster.catalog import OPTIONAL_TABLES, TABLE_NAMES
from persistiq_dagster.errors import PersistIQConfigError
from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse

MEMORY_AMOUNT = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)


def int_from_env(name: str, default: int, minimum: int = 1) -> int:
    """An integer setting, with a message that names the variable when it is not one."""
    raw = os.getenv(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise PersistIQConfigError(f"{name}={raw!r} is not a whole number of at least {minimum}")
    return int(raw)


def str_from_env(name: str, default: str) -> str:
    """A text setting, stripped; ``default`` when unset or blank."""
    return os.getenv(name, "").strip() or default


TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def bool_from_env(name: str, default: bool) -> bool:
    """A yes/no setting: true/false, 1/0, yes/no or on/off, in any case."""
    raw = os.getenv(name, "").strip()
    if not raw:
        return default
    if raw.lower() not in TRUE_WORDS + FALSE_WORDS:
        raise PersistIQConfigError(f"{name}={raw!r} is not true or false")
    return raw.lower() in TRUE_WORDS


TIME_OF_DAY = re.compile(r"\d\d:\d\d")


def time_of_day_from_env(name: str, default: str) -> time:
    """A time of day on the 24-hour clock, as HH:MM such as 09:00."""
    raw = str_from_env(name, default)
    try:
        if TIME_OF_DAY.fullmatch(raw):
            return time.fromisoformat(raw)
    except ValueError:
        pass
    raise PersistIQConfigError(f"{name}={raw!r} is not a time of day as HH:MM such as 09:00")


def comma_list(raw: str) -> list[str]:
    """The items of a comma list, stripped, blanks left out."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def enabled_tables_from_env() -> tuple[str, ...]:
    """Every table but those ``PERSISTIQ_EXCLUDE_TABLES`` names (a comma list)."""
    raw = os.getenv(settings.EXCLUDE_TABLES_ENV, "")
    excluded = set(comma_list(raw))
    wrong = sorted(excluded - set(OPTIONAL_TABLES))
    if wrong:
        required = sorted(set(wrong) & set(TABLE_NAMES))
        why = f"{', '.join(required)} cannot be left out" if required else "unknown tables"
        raise PersistIQConfigError(
            f"{settings.EXCLUDE_TABLES_ENV}={raw!r} names {', '.join(wrong)} ({why}); "
            f"it takes a comma list of {', '.join(OPTIONAL_TABLES)}"
        )
    return tuple(name for name in TABLE_NAMES if name not in excluded)


def owners_from_env() -> tuple[str, ...]:
    """``PERSISTIQ_ASSET_OWNERS``: the assets' owners, a comma list of ``team:<name>`` or email
    addresses."""
    raw = os.getenv(settings.ASSET_OWNERS_ENV, "").strip()
    owners = tuple(comma_list(raw)) or settings.DEFAULT_ASSET_OWNERS
    _accepted_by_dagster(settings.ASSET_OWNERS_ENV, raw, owners=owners)
    return owners


def asset_tags_from_env() -> dict[str, str]:
    """``PERSISTIQ_ASSET_TAGS``: the assets' tags, a comma list of ``key=value``."""
    raw = os.getenv(settings.ASSET_TAGS_ENV, "").strip()
    if not raw:
        return dict(settings.DEFAULT_ASSET_TAGS)
    tags = {}
    for item in comma_list(raw):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise PersistIQConfigError(
                f"{settings.ASSET_TAGS_ENV}={raw!r}: {item!r} is not key=value; it "
                "takes a comma list such as source=persistiq,domain=sales"
            )
        tags[key.strip()] = value.strip()
    _accepted_by_dagster(settings.ASSET_TAGS_ENV, raw, tags=tags)
    return tags


def _accepted_by_dagster(name: str, raw: str, **spec_attributes) -> None:
    """Dagster's own rules for owners and tags, checked now, with the variable named."""
    try:
        AssetSpec(key="setting_check", **spec_attributes)
    except DagsterInvalidDefinitionError as error:
        raise PersistIQConfigError(f"{name}={raw!r} is not accepted by Dagster: {error}") from None


def start_date_from_env() -> str:
    """``PERSISTIQ_START_DATE``: the first day of the leads partitions, as YYYY-MM-DD."""
    raw = str_from_env(settings.START_DATE_ENV, settings.DEFAULT_START_DATE)
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError as error:
        # Python says why a well-formed date is not one: "month must be in 1..12".
        why = "" if str(error).startswith("Invalid isoformat") else f" ({error})"
        raise PersistIQConfigError(
            f"{settings.START_DATE_ENV}={raw!r} is not an ISO 8601 date such as 2024-01-01{why}"
        ) from None


def timezone_from_env() -> str:
    """``PERSISTIQ_TIMEZONE``: the timezone days are cut in and schedules run in."""
    raw = str_from_env(settings.TIMEZONE_ENV, settings.DEFAULT_TIMEZONE)
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise PersistIQConfigError(
            f"{settings.TIMEZONE_ENV}={raw!r} is not an IANA timezone name such as UTC "
            "or Europe/Berlin"
        ) from None
    return raw


# dlt lists these among a destination's formats, but they carry no rows: SQL models and
# references to files already written.
NOT_ROW_FORMATS = ("model", "reference")


def install_hint(destination_type: str) -> str:
    """How to install what ``destination_type`` needs: our extra if we have one, else dlt's."""
    if destination_type == "postgres":
        return "pip install -e '.[postgres]'"
    return f"pip install 'dlt[{destination_type}]'"


def destination_from_env() -> Destination:
    """``PERSISTIQ_DESTINATION``: a dlt destination whose client libraries are installed."""
    name = str_from_env(settings.DESTINATION_ENV, settings.DEFAULT_DESTINATION)
    try:
        destination = Destination.from_reference(name)
    except (UnknownDestinationModule, InvalidDestinationReference):
        known = ", ".join(sorted(set(dlt.destinations.__all__) - {"destination"}))
        raise PersistIQConfigError(
            f"{settings.DESTINATION_ENV}={name!r} is not a dlt destination; use one of {known}"
        ) from None
    destination_type = destination.destination_type.rsplit(".", 1)[-1]
    try:
        destination.client_class  # noqa: B018 - importing the client module is the check
    except ImportError as error:  # dlt's MissingDependencyException is an ImportError too
        missing = error.name or ", ".join(getattr(error, "dependencies", ())) or "its client"
        raise PersistIQConfigError(
            f"{settings.DESTINATION_ENV}={name!r} needs {missing}, which is not installed; "
            f"run {install_hint(destination_type)}"
        ) from None
    return destination


def loader_file_format_from_env(destination: Destination) -> str:
    """``PERSISTIQ_LOADER_FILE_FORMAT``: a file format ``destination`` can load."""
    destination_type = destination.destination_type.rsplit(".", 1)[-1]
    default = settings.DEFAULT_LOADER_FILE_FORMATS.get(
        destination_type, settings.DEFAULT_LOADER_FILE_FORMAT
    )
    raw = str_from_env(settings.LOADER_FILE_FORMAT_ENV, default)
    formats = destination.capabilities().supported_loader_file_formats
    accepted = [f for f in formats if f not in NOT_ROW_FORMATS]
    if raw not in accepted:
        said = " (the default)" if raw == default else ""
        raise PersistIQConfigError(
            f"{settings.LOADER_FILE_FORMAT_ENV}={raw!r}{said} is not a format "
            f"{destination.destination_name} can load; use one of {', '.join(accepted)}"
        )
    return raw


def persistiq_from_env() -> PersistIQResource:
    """The API resource as ``Definitions`` binds it: the key as an ``EnvVar``, the rest now."""
    return PersistIQResource(
        api_key=EnvVar(settings.API_KEY_ENV),
        base_url=os.getenv(settings.BASE_URL_ENV, settings.DEFAULT_BASE_URL),
        user_agent=os.getenv(settings.USER_AGENT_ENV, settings.DEFAULT_USER_AGENT),
        requests_per_minute=int_from_env(
            settings.REQUESTS_PER_MINUTE_ENV, settings.DEFAULT_REQUESTS_PER_MINUTE
        ),
        max_retries=int_from_env(settings.MAX_RETRIES_ENV, settings.DEFAULT_MAX_RETRIES, 0),
        concurrent_requests=int_from_env(
            settings.CONCURRENT_REQUESTS_ENV, settings.DEFAULT_CONCURRENT_REQUESTS
        ),
        load_reply_bodies=bool_from_env(
            settings.LOAD_REPLY_BODIES_ENV, settings.DEFAULT_LOAD_REPLY_BODIES
        ),
    )


def memory_limit_from_env() -> str:
    """``PERSISTIQ_DUCKDB_MEMORY_LIMIT``: an amount DuckDB understands, such as 128MB or 2GB."""
    raw = str_from_env(settings.DUCKDB_MEMORY_LIMIT_ENV, settings.DEFAULT_DUCKDB_MEMORY_LIMIT)
    if not MEMORY_AMOUNT.fullmatch(raw):
        raise PersistIQConfigError(
            f"{settings.DUCKDB_MEMORY_LIMIT_ENV}={raw!r} is not an amount of memory such as "
            "128MB or 2GB"
        )
    return raw


def warehouse_from_env() -> PersistIQWarehouse:
    """The warehouse resource as ``Definitions`` binds it, every setting with its default."""
    destination = destination_from_env()
    return PersistIQWarehouse(
        destination=str_from_env(settings.DESTINATION_ENV, settings.DEFAULT_DESTINATION),
        duckdb_path=os.getenv(settings.DUCKDB_PATH_ENV, settings.DEFAULT_DUCKDB_PATH),
        dataset_name=os.getenv(settings.DATASET_ENV, settings.DEFAULT_DATASET),
        loader_file_format=loader_file_format_from_env(destination),
        pipelines_dir=os.getenv(settings.PIPELINES_DIR_ENV) or None,
        duckdb_memory_limit=memory_limit_from_env(),
        lock_timeout_seconds=int_from_env(
            settings.WAREHOUSE_LOCK_TIMEOUT_ENV, settings.DEFAULT_WAREHOUSE_LOCK_TIMEOUT_SECONDS, 0
        ),
    )
