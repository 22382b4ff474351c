"""Settings read from the environment when the code location loads, each checked on the way.

A wrong value stops the code location with one line that names the variable, its value and
what would be accepted. The API key alone stays a ``dagster.EnvVar``, read when a run starts,
so it never enters run config.
"""

import os

from dagster import EnvVar

from persistiq_dagster import settings
from persistiq_dagster.errors import PersistIQConfigError
from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse


def int_from_env(name: str, default: int, minimum: int = 1) -> int:
    """An integer setting, with a message that names the variable when it is not one."""
    raw = os.getenv(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise PersistIQConfigError(f"{name}={raw!r} is not a whole number of at least {minimum}")
    return int(raw)


def start_date_from_env() -> str:
    """``PERSISTIQ_START_DATE``: the first day of the leads partitions."""
    return os.getenv(settings.START_DATE_ENV, "").strip() or settings.DEFAULT_START_DATE


def timezone_from_env() -> str:
    """``PERSISTIQ_TIMEZONE``: the timezone days are cut in and schedules run in."""
    return os.getenv(settings.TIMEZONE_ENV, "").strip() or settings.DEFAULT_TIMEZONE


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
