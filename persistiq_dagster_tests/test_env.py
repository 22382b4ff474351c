"""Settings read when the code location loads: a wrong value fails in one line naming it."""

import subprocess
import sys

import dlt.destinations
import pytest
from dlt.common.destination import Destination
from dlt.common.exceptions import MissingDependencyException

from persistiq_dagster import env
from persistiq_dagster.catalog import TABLE_NAMES
from persistiq_dagster.errors import PersistIQConfigError
from persistiq_dagster_tests.dagster_cli import DAGSTER, MODULE, PROJECT_DIR, project_env

CLI_TIMEOUT = 180


@pytest.fixture(autouse=True)
def no_persistiq_settings(monkeypatch):
    """Every test starts from the defaults, whatever the shell running pytest has set."""
    for name in (
        "PERSISTIQ_START_DATE",
        "PERSISTIQ_TIMEZONE",
        "PERSISTIQ_DESTINATION",
        "PERSISTIQ_LOADER_FILE_FORMAT",
        "PERSISTIQ_CONCURRENT_REQUESTS",
        "PERSISTIQ_DUCKDB_MEMORY_LIMIT",
        "PERSISTIQ_EXCLUDE_TABLES",
        "PERSISTIQ_LOAD_REPLY_BODIES",
    ):
        monkeypatch.delenv(name, raising=False)


def test_start_date_defaults_and_accepts_iso_dates(monkeypatch):
    assert env.start_date_from_env() == "2024-01-01"
    monkeypatch.setenv("PERSISTIQ_START_DATE", " 20230315 ")
    assert env.start_date_from_env() == "2023-03-15"


def test_a_bad_start_date_names_the_variable(monkeypatch):
    monkeypatch.setenv("PERSISTIQ_START_DATE", "2024-13-45")

    with pytest.raises(PersistIQConfigError) as raised:
        env.start_date_from_env()

    assert str(raised.value) == (
        "PERSISTIQ_START_DATE='2024-13-45' is not an ISO 8601 date such as 2024-01-01 "
        "(month must be in 1..12)"
    )
    assert raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("variable", "read", "default", "accepted", "refused", "complaint"),
    [
        (
            "PERSISTIQ_CONCURRENT_REQUESTS",
            lambda: env.persistiq_from_env().concurrent_requests,
            8,
            ("3", 3),
            "0",
            "is not a whole number of at least 1",
        ),
        (
            "PERSISTIQ_DUCKDB_MEMORY_LIMIT",
            lambda: env.warehouse_from_env().duckdb_memory_limit,
            "128MB",
            ("2GB", "2GB"),
            "lots",
            "is not an amount of memory such as 128MB or 2GB",
        ),
    ],
    ids=["concurrent-requests", "duckdb-memory-limit"],
)
def test_a_setting_has_a_default_takes_a_value_and_names_itself_when_wrong(
    monkeypatch, variable, read, default, accepted, refused, complaint
):
    assert read() == default
    monkeypatch.setenv(variable, accepted[0])
    assert read() == accepted[1]
    monkeypatch.setenv(variable, refused)

    with pytest.raises(PersistIQConfigError) as raised:
        read()

    assert str(raised.value) == f"{variable}={refused!r} {complaint}"


def test_timezone_defaults_and_accepts_iana_names(monkeypatch):
    assert env.timezone_from_env() == "UTC"
    monkeypatch.setenv("PERSISTIQ_TIMEZONE", "Europe/Berlin")
    assert env.timezone_from_env() == "Europe/Berlin"


@pytest.mark.parametrize("value", ["Mars/Olympus", "../etc/passwd", "/etc/localtime"])
def test_a_bad_timezone_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("PERSISTIQ_TIMEZONE", value)

    with pytest.raises(PersistIQConfigError) as raised:
        env.timezone_from_env()

    assert str(raised.value) == (
        f"PERSISTIQ_TIMEZONE={value!r} is not an IANA timezone name such as UTC or Europe/Berlin"
    )
    assert raised.value.__suppress_context__


def test_the_default_warehouse_is_duckdb_with_parquet():
    warehouse = env.warehouse_from_env()

    assert (warehouse.destination, warehouse.loader_file_format) == ("duckdb", "parquet")


@pytest.mark.parametrize("value", ["bogus", "csv", "model"])
def test_a_format_the_destination_cannot_load_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("PERSISTIQ_LOADER_FILE_FORMAT", value)

    with pytest.raises(PersistIQConfigError) as raised:
        env.warehouse_from_env()

    assert str(raised.value) == (
        f"PERSISTIQ_LOADER_FILE_FORMAT={value!r} is not a format duckdb can load; "
        "use one of insert_values, parquet, jsonl"
    )


def test_formats_are_those_of_the_chosen_destination(monkeypatch):
    monkeypatch.setenv("PERSISTIQ_LOADER_FILE_FORMAT", "csv")

    assert env.loader_file_format_from_env(Destination.from_reference("filesystem")) == "csv"
    monkeypatch.delenv("PERSISTIQ_LOADER_FILE_FORMAT")
    with pytest.raises(PersistIQConfigError) as raised:
        env.loader_file_format_from_env(Destination.from_reference("qdrant"))

    assert str(raised.value) == (
        "PERSISTIQ_LOADER_FILE_FORMAT='parquet' (the default) is not a format qdrant can load; "
        "use one of jsonl"
    )


def test_an_unknown_destination_names_the_variable(monkeypatch):
    monkeypatch.setenv("PERSISTIQ_DESTINATION", "nosuch")

    with pytest.raises(PersistIQConfigError) as raised:
        env.warehouse_from_env()

    message = str(raised.value)
    assert message.startswith("PERSISTIQ_DESTINATION='nosuch' is not a dlt destination; use one of")
    assert "duckdb, " in message and "postgres, " in message
    assert "\n" not in message


WITHOUT_PSYCOPG2 = """
import sys
sys.modules["psycopg2"] = None  # as if the postgres extra were not installed
from persistiq_dagster import env
try:
    env.warehouse_from_env()
except env.PersistIQConfigError as error:
    print(error)
"""


def test_postgres_without_psycopg2_names_the_variable_and_the_extra(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG2],
        cwd=PROJECT_DIR,
        env=project_env(tmp_path, PERSISTIQ_DESTINATION="postgres"),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert completed.stdout.strip() == (
        "PERSISTIQ_DESTINATION='postgres' needs psycopg2, which is not installed; "
        "run pip install -e '.[postgres]'"
    ), completed.stderr[-2000:]


def test_another_destination_missing_its_client_names_dlts_extra(monkeypatch):
    def missing(_factory):
        raise MissingDependencyException("dlt duckdb destination", ["duckdb"])

    monkeypatch.setattr(dlt.destinations.duckdb, "client_class", property(missing))

    with pytest.raises(PersistIQConfigError) as raised:
        env.warehouse_from_env()

    assert str(raised.value) == (
        "PERSISTIQ_DESTINATION='duckdb' needs duckdb, which is not installed; "
        "run pip install 'dlt[duckdb]'"
    )


def test_the_cli_names_a_bad_start_date_in_one_line(tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    command = [str(DAGSTER), "asset", "materialize", "-m", MODULE, "--select", "persistiq/users"]

    result = subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env=project_env(dagster_home, PERSISTIQ_START_DATE="2024-13-45"),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )

    output = (result.stdout + result.stderr).splitlines()
    named = [line for line in output if "PERSISTIQ_START_DATE" in line and "2024-13-45" in line]
    assert result.returncode != 0
    assert named == [
        "persistiq_dagster.errors.PersistIQConfigError: PERSISTIQ_START_DATE='2024-13-45' "
        "is not an ISO 8601 date such as 2024-01-01 (month must be in 1..12)"
    ]


def test_every_table_is_loaded_unless_excluded(monkeypatch):
    assert env.enabled_tables_from_env() == TABLE_NAMES
    monkeypatch.setenv("PERSISTIQ_EXCLUDE_TABLES", " replies, events ")
    enabled = env.enabled_tables_from_env()
    assert "replies" not in enabled and "events" not in enabled
    assert len(enabled) == len(TABLE_NAMES) - 2


@pytest.mark.parametrize(
    ("excluded", "complaint"),
    [
        ("leads", "names leads (leads cannot be left out)"),
        ("evnets", "names evnets (unknown tables)"),
    ],
)
def test_excluding_a_required_or_unknown_table_names_the_variable(monkeypatch, excluded, complaint):
    monkeypatch.setenv("PERSISTIQ_EXCLUDE_TABLES", excluded)
    with pytest.raises(PersistIQConfigError, match=r"PERSISTIQ_EXCLUDE_TABLES=") as raised:
        env.enabled_tables_from_env()
    assert complaint in str(raised.value)
    assert "events, replies" in str(raised.value)  # what it takes


@pytest.mark.parametrize(("raw", "loaded"), [("", False), ("TRUE", True), ("no", False)])
def test_reply_bodies_are_off_unless_turned_on(monkeypatch, raw, loaded):
    monkeypatch.setenv("PERSISTIQ_LOAD_REPLY_BODIES", raw)
    assert env.persistiq_from_env().load_reply_bodies is loaded


def test_a_reply_bodies_value_that_is_not_yes_or_no_names_the_variable(monkeypatch):
    monkeypatch.setenv("PERSISTIQ_LOAD_REPLY_BODIES", "maybe")
    with pytest.raises(PersistIQConfigError, match="PERSISTIQ_LOAD_REPLY_BODIES='maybe' is not"):
        env.persistiq_from_env()


def test_postgres_loads_with_dlts_own_format_unless_told(monkeypatch):
    monkeypatch.setenv("PERSISTIQ_DESTINATION", "postgres")
    assert env.warehouse_from_env().loader_file_format == "insert_values"
    monkeypatch.setenv("PERSISTIQ_LOADER_FILE_FORMAT", "csv")
    assert env.warehouse_from_env().loader_file_format == "csv"
