"""Settings: every PERSISTIQ_* variable read once into ``Settings``; a wrong value fails in one
line naming it, and stops the code location from loading.

``Settings.from_env`` takes the variables as a mapping, so each case is a plain dict here, in
this process. Subprocesses only where a process of its own is the behaviour: the ``dagster``
command line, a package hidden from a fresh interpreter, and the imports that must read
nothing.
"""

import json
import subprocess
import sys

import dlt.destinations
import pytest
from dlt.common.exceptions import MissingDependencyException

from persistiq_dagster import config
from persistiq_dagster.config import PersistIQConfigError, Settings
from persistiq_dagster.defs.analytics.resource import PersistIQAnalytics
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.defs.schedules import build_schedules
from persistiq_dagster.source.catalog import TABLE_NAMES
from persistiq_dagster_tests.dagster_cli import PROJECT_DIR, project_env
from persistiq_dagster_tests.support import LOAD_JOBS, PARTITIONS

CLI_TIMEOUT = 180


def refused(environ: dict[str, str]) -> PersistIQConfigError:
    """The error ``Settings.from_env(environ)`` raises: one line, the parser's traceback
    left out."""
    with pytest.raises(PersistIQConfigError) as raised:
        Settings.from_env(environ)
    assert "\n" not in str(raised.value)
    assert raised.value.__suppress_context__
    return raised.value


def test_start_date_defaults_and_accepts_iso_dates():
    assert Settings.from_env({}).start_date == "2024-01-01"
    assert Settings.from_env({config.START_DATE_ENV: " 20230315 "}).start_date == "2023-03-15"


def test_a_bad_start_date_names_the_variable():
    error = refused({config.START_DATE_ENV: "2024-13-45"})

    assert str(error) == (
        "PERSISTIQ_START_DATE='2024-13-45' is not an ISO 8601 date such as 2024-01-01 "
        "(month must be in 1..12)"
    )


@pytest.mark.parametrize(
    ("variable", "read", "default", "accepted", "refused_value", "complaint"),
    [
        (
            "PERSISTIQ_CONCURRENT_REQUESTS",
            lambda settings: PersistIQResource.from_settings(settings).concurrent_requests,
            8,
            ("3", 3),
            "0",
            "is not a whole number of at least 1",
        ),
        (
            "PERSISTIQ_DUCKDB_MEMORY_LIMIT",
            lambda settings: PersistIQWarehouse.from_settings(settings).duckdb_memory_limit,
            "128MB",
            ("2GB", "2GB"),
            "lots",
            "is not an amount of memory such as 128MB or 2GB",
        ),
        (
            "PERSISTIQ_ANALYTICS_SCHEMA",
            lambda settings: PersistIQAnalytics.from_settings(settings).schema_name,
            "persistiq_analytics",
            ("answers", "answers"),
            "9lives",
            "is not a dataset (schema) name: letters, digits and underscores, not starting "
            "with a digit",
        ),
        (
            "PERSISTIQ_REPLY_RECONCILIATION_TOLERANCE",
            lambda settings: settings.reply_tolerance,
            0.05,
            ("0.2", 0.2),
            "5%",
            "is not a share between 0 and 1, such as 0.05 for 5%",
        ),
        (
            "PERSISTIQ_MAX_MISSING_CAMPAIGNS_SHARE",
            lambda settings: PersistIQResource.from_settings(settings).max_missing_campaigns_share,
            0.2,
            ("1", 1.0),
            "1.5",
            "is not a share between 0 and 1, such as 0.05 for 5%",
        ),
        (
            "PERSISTIQ_SCHEMA_CONTRACT",
            lambda settings: PersistIQResource.from_settings(settings).schema_contract,
            "evolve",
            ("FREEZE", "freeze"),
            "lock",
            "is not one of evolve, freeze",
        ),
        (
            "PERSISTIQ_LEADS_SENSOR_ACTIVITY_MINUTES",
            lambda settings: settings.leads_sensor_activity_minutes,
            60,
            ("0", 0),
            "hourly",
            "is not a whole number of at least 0",
        ),
    ],
    ids=[
        "concurrent-requests",
        "duckdb-memory-limit",
        "analytics-schema",
        "reply-tolerance",
        "max-missing-campaigns-share",
        "schema-contract",
        "sensor-activity-minutes",
    ],
)
def test_a_setting_has_a_default_takes_a_value_and_names_itself_when_wrong(
    variable, read, default, accepted, refused_value, complaint
):
    assert read(Settings.from_env({})) == default
    assert read(Settings.from_env({variable: accepted[0]})) == accepted[1]

    error = refused({variable: refused_value})

    assert str(error) == f"{variable}={refused_value!r} {complaint}"


def test_timezone_defaults_and_accepts_iana_names():
    assert Settings.from_env({}).timezone == "UTC"
    assert Settings.from_env({config.TIMEZONE_ENV: "Europe/Berlin"}).timezone == "Europe/Berlin"


@pytest.mark.parametrize("value", ["Mars/Olympus", "../etc/passwd", "/etc/localtime"])
def test_a_bad_timezone_names_the_variable(value):
    error = refused({config.TIMEZONE_ENV: value})

    assert str(error) == (
        f"PERSISTIQ_TIMEZONE={value!r} is not an IANA timezone name such as UTC or Europe/Berlin"
    )


def test_the_default_warehouse_is_duckdb_with_parquet():
    warehouse = PersistIQWarehouse.from_settings(Settings.from_env({}))

    assert (warehouse.destination, warehouse.loader_file_format) == ("duckdb", "parquet")


@pytest.mark.parametrize("value", ["bogus", "csv", "model"])
def test_a_format_the_destination_cannot_load_names_the_variable(value):
    error = refused({config.LOADER_FILE_FORMAT_ENV: value})

    assert str(error) == (
        f"PERSISTIQ_LOADER_FILE_FORMAT={value!r} is not a format duckdb can load; "
        "use one of insert_values, parquet, jsonl"
    )


def test_formats_are_those_of_the_chosen_destination():
    filesystem = {config.DESTINATION_ENV: "filesystem", config.LOADER_FILE_FORMAT_ENV: "csv"}
    assert Settings.from_env(filesystem).loader_file_format == "csv"

    # dlt's dummy destination (its client is always installed) loads jsonl alone.
    error = refused({config.DESTINATION_ENV: "dummy", config.LOADER_FILE_FORMAT_ENV: "parquet"})

    assert str(error) == (
        "PERSISTIQ_LOADER_FILE_FORMAT='parquet' (the default) is not a format dummy can load; "
        "use one of jsonl"
    )


def test_an_unknown_destination_names_the_variable():
    error = refused({config.DESTINATION_ENV: "nosuch"})

    message = str(error)
    assert message.startswith("PERSISTIQ_DESTINATION='nosuch' is not a dlt destination; use one of")
    assert "duckdb, " in message and "postgres, " in message


# A fresh interpreter: this one may have imported psycopg2 and dlt's PostgreSQL client already
# (the PostgreSQL tests), and a module imported cannot be hidden again.
WITHOUT_PSYCOPG2 = """
import sys
sys.modules["psycopg2"] = None  # as if the postgres extra were not installed
from persistiq_dagster.config import PersistIQConfigError, Settings
try:
    Settings.from_env({"PERSISTIQ_DESTINATION": "postgres"})
except PersistIQConfigError as error:
    print(error)
"""


def test_postgres_without_psycopg2_names_the_variable_and_the_extra(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG2],
        cwd=PROJECT_DIR,
        env=project_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert completed.stdout.strip() == (
        "PERSISTIQ_DESTINATION='postgres' needs psycopg2, which is not installed; "
        "run pip install -e '.[postgres]'"
    ), completed.stderr[-2000:]


def duckdb_client_missing(monkeypatch) -> None:
    def missing(_factory):
        raise MissingDependencyException("dlt duckdb destination", ["duckdb"])

    monkeypatch.setattr(dlt.destinations.duckdb, "client_class", property(missing))


def test_another_destination_missing_its_client_names_dlts_extra(monkeypatch):
    duckdb_client_missing(monkeypatch)

    error = refused({config.DESTINATION_ENV: "duckdb"})

    assert str(error) == (
        "PERSISTIQ_DESTINATION='duckdb' needs duckdb, which is not installed; "
        "run pip install 'dlt[duckdb]'"
    )


@pytest.mark.parametrize(
    ("environ", "arrange", "message"),
    [
        pytest.param(
            {config.DESTINATION_ENV: "dummy"},
            lambda monkeypatch: None,
            "PERSISTIQ_LOADER_FILE_FORMAT='parquet' (the default) is not a format dummy can "
            "load; use one of jsonl",
            id="format",
        ),
        pytest.param(
            {},
            duckdb_client_missing,
            "PERSISTIQ_DESTINATION='duckdb' needs duckdb, which is not installed; "
            "run pip install 'dlt[duckdb]'",
            id="destination",
        ),
    ],
)
def test_a_default_is_checked_as_a_value_given_is(monkeypatch, environ, arrange, message):
    """Unset, the destination and its format are the defaults, which must work too: the code
    location fails when it loads, not at the first run."""
    arrange(monkeypatch)

    assert str(refused(environ)) == message


def test_every_table_is_loaded_unless_excluded():
    assert Settings.from_env({}).enabled_tables == TABLE_NAMES
    enabled = Settings.from_env({config.EXCLUDE_TABLES_ENV: " replies, events "}).enabled_tables
    assert "replies" not in enabled and "events" not in enabled
    assert len(enabled) == len(TABLE_NAMES) - 2


@pytest.mark.parametrize(
    ("excluded", "complaint"),
    [
        ("leads", "names leads (leads cannot be left out)"),
        ("evnets", "names evnets (unknown tables)"),
    ],
)
def test_excluding_a_required_or_unknown_table_names_the_variable(excluded, complaint):
    message = str(refused({config.EXCLUDE_TABLES_ENV: excluded}))

    assert message.startswith(f"PERSISTIQ_EXCLUDE_TABLES={excluded!r} ")
    assert complaint in message
    assert "events, replies" in message  # what it takes


@pytest.mark.parametrize(("raw", "loaded"), [("", False), ("TRUE", True), ("no", False)])
def test_reply_bodies_are_off_unless_turned_on(raw, loaded):
    settings = Settings.from_env({config.LOAD_REPLY_BODIES_ENV: raw})
    assert PersistIQResource.from_settings(settings).load_reply_bodies is loaded


@pytest.mark.parametrize(("raw", "built"), [("", True), ("false", False), ("yes", True)])
def test_the_models_are_built_unless_turned_off(raw, built):
    assert Settings.from_env({config.ANALYTICS_ENV: raw}).runs_analytics is built
    assert str(refused({config.ANALYTICS_ENV: "later"})).startswith(
        "PERSISTIQ_ANALYTICS='later' is not"
    )


def test_without_the_models_no_process_imports_dbt(tmp_path):
    """Loading the Definitions with PERSISTIQ_ANALYTICS=false, as every run does, imports
    neither dbt nor dagster-dbt (about 55 MiB a process)."""
    check = (
        "import sys; import persistiq_dagster.definitions as d; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dbt', 'dagster_dbt'}), "
        "len(d.defs.resolve_all_asset_keys()))"
    )
    env = project_env(tmp_path / "dagster_home", **{config.ANALYTICS_ENV: "false"})
    completed = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True,
        timeout=CLI_TIMEOUT,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert completed.stdout.strip().splitlines()[-1] == f"[] {len(TABLE_NAMES)}"


def test_a_reply_bodies_value_that_is_not_yes_or_no_names_the_variable():
    error = refused({config.LOAD_REPLY_BODIES_ENV: "maybe"})

    assert str(error).startswith("PERSISTIQ_LOAD_REPLY_BODIES='maybe' is not")


def test_postgres_loads_with_dlts_own_format_unless_told():
    postgres = {config.DESTINATION_ENV: "postgres"}
    assert PersistIQWarehouse.from_settings(Settings.from_env(postgres)).loader_file_format == (
        "insert_values"
    )
    told = {**postgres, config.LOADER_FILE_FORMAT_ENV: "csv"}
    assert PersistIQWarehouse.from_settings(Settings.from_env(told)).loader_file_format == "csv"


@pytest.mark.parametrize("value", ["", "   "])
def test_a_dataset_set_to_nothing_is_the_default_dataset(value):
    settings = Settings.from_env({config.DATASET_ENV: value})

    assert settings.dataset == config.DEFAULT_DATASET == "persistiq"
    assert PersistIQWarehouse.from_settings(settings).dataset_name == "persistiq"
    assert Settings.from_env({config.DATASET_ENV: " sales_dw "}).dataset == "sales_dw"


@pytest.mark.parametrize(
    ("variable", "field", "schedule", "default"),
    [
        (
            "PERSISTIQ_USERS_CAMPAIGNS_CRON",
            "users_campaigns_cron",
            "persistiq_users_campaigns_daily",
            "0 6 * * *",
        ),
        ("PERSISTIQ_LEADS_CRON", "leads_cron", "persistiq_leads_daily", "15 0 * * *"),
        ("PERSISTIQ_ACTIVITY_CRON", "activity_cron", "persistiq_activity_daily", "30 0 * * *"),
    ],
    ids=["users-campaigns", "leads", "activity"],
)
def test_each_schedule_has_a_default_cron_takes_one_and_names_itself_when_wrong(
    variable, field, schedule, default
):
    def cron_of(settings: Settings) -> str:
        schedules = build_schedules(settings, LOAD_JOBS, PARTITIONS)
        (built,) = [each for each in schedules if each.name == schedule]
        assert built.cron_schedule == getattr(settings, field)
        return built.cron_schedule

    assert cron_of(Settings.from_env({})) == default
    assert cron_of(Settings.from_env({variable: " 45 2 * * 1-5 "})) == "45 2 * * 1-5"

    for wrong in ("61 0 * * *", "every day"):
        assert str(refused({variable: wrong})) == (
            f"{variable}={wrong!r} is not a cron schedule of 5 fields "
            "(minute hour day month weekday) such as '15 0 * * *'"
        )


@pytest.mark.parametrize(
    ("variable", "field", "default"),
    [
        ("PERSISTIQ_BASE_URL", "base_url", "https://api.persistiq.com/v1/"),
        ("PERSISTIQ_FAILURE_WEBHOOK_URL", "failure_webhook_url", None),
        ("PERSISTIQ_CODE_REPOSITORY_URL", "code_repository_url", None),
    ],
    ids=["base-url", "failure-webhook-url", "code-repository-url"],
)
def test_a_url_setting_must_be_http_or_https(variable, field, default):
    assert getattr(Settings.from_env({}), field) == default
    for url in ("http://127.0.0.1:8080/v1/", "https://example.com/hook"):
        assert getattr(Settings.from_env({variable: url}), field) == url

    for wrong in ("api.persistiq.com/v1", "ftp://api.persistiq.com/v1", "https://"):
        assert str(refused({variable: wrong})) == (
            f"{variable}={wrong!r} is not an http:// or https:// URL"
        )


# Imports every module of the package but the code location, with every setting wrong and
# dlt's folders in an empty one; reports the PERSISTIQ_* variables the package's own code read
# (other libraries copying the whole environment do not count) and whether os.environ changed.
# Then reads the settings once, to show a read by the package is seen.
IMPORT_EVERY_MODULE = """
import importlib, json, os, pkgutil, sys, traceback

OWN = os.path.join(sys.argv[1], "persistiq_dagster", "")
# The frames between a caller and os._Environ.__getitem__ (frozen in Python 3.11 and later).
BETWEEN = {"<frozen os>", "<frozen _collections_abc>", os.__file__}
read = []
getitem = os._Environ.__getitem__

def recording_getitem(environ, key):
    if isinstance(key, str) and key.startswith("PERSISTIQ_"):
        callers = [frame.filename for frame in traceback.extract_stack()[:-1]]
        reader = next(name for name in reversed(callers) if name not in BETWEEN)
        if reader.startswith(OWN):
            read.append(key)
    return getitem(environ, key)

os._Environ.__getitem__ = recording_getitem
before = dict(os.environ._data)
import persistiq_dagster
imported = []
for module in pkgutil.walk_packages(persistiq_dagster.__path__, "persistiq_dagster."):
    if module.name != "persistiq_dagster.definitions":
        importlib.import_module(module.name)
        imported.append(module.name)
after = dict(os.environ._data)
read_on_import, read[:] = sorted(set(read)), []
definitions_imported = "persistiq_dagster.definitions" in sys.modules
from persistiq_dagster.config import PersistIQConfigError, Settings
try:
    Settings.from_env()
except PersistIQConfigError as error:
    refused = str(error)
print(json.dumps({
    "imported": imported,
    "read_on_import": read_on_import,
    "environ_changed": sorted(
        key.decode() for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    ),
    "definitions_imported": definitions_imported,
    "read_by_settings": sorted(set(read)),
    "refused": refused,
}))
"""


def test_importing_a_module_reads_no_setting_and_creates_no_pipeline(tmp_path):
    """Only ``persistiq_dagster.definitions`` reads the environment when imported: every other
    module only defines, and no dlt pipeline (nor its folder) exists before the Definitions are
    built."""
    watched = tmp_path / "watched"
    home, dlt_data, pipelines = watched / "home", watched / "dlt", watched / "pipelines"
    for folder in (home, dlt_data, pipelines):
        folder.mkdir(parents=True)
    wrong = {name: "wrong!" for name in vars(config) if name.endswith("_ENV")}
    settings = {getattr(config, name): value for name, value in wrong.items()}
    settings.update(
        {
            config.START_DATE_ENV: "2024-13-45",
            config.PIPELINES_DIR_ENV: str(pipelines),
            config.DUCKDB_PATH_ENV: str(watched / "warehouse.duckdb"),
        }
    )
    env = project_env(tmp_path / "dagster_home", **settings)
    env.update(HOME=str(home), DLT_DATA_DIR=str(dlt_data))

    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE, str(PROJECT_DIR)],
        cwd=watched,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )

    assert completed.returncode == 0, completed.stderr[-4000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert {
        "persistiq_dagster.config",
        "persistiq_dagster.defs.assets",
        "persistiq_dagster.defs.build",
        "persistiq_dagster.defs.resources.warehouse",
        "persistiq_dagster.cli.connection_check",
        "persistiq_dagster.source.persistiq",
    } <= set(found["imported"])
    assert not found["definitions_imported"]
    assert found["read_on_import"] == []
    assert found["environ_changed"] == []
    left = sorted(str(path.relative_to(watched)) for path in watched.rglob("*"))
    assert left == ["dlt", "home", "pipelines"]
    # The same watch sees the settings read when they are asked for, and refused.
    assert found["read_by_settings"] == [config.DESTINATION_ENV]
    assert found["refused"].startswith("PERSISTIQ_DESTINATION='wrong!' is not a dlt destination")
