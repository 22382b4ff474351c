"""dbt's connection is written from the settings: nothing configured twice, no secret on a
command line or left on disk."""

import stat

import pytest
import yaml

from persistiq_dagster.config import PersistIQConfigError
from persistiq_dagster.defs.analytics.profile import profile_output, write_profile
from persistiq_dagster.defs.analytics.resource import PersistIQAnalytics
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse

SECRET = "s3cret-pw-91c2"


def test_duckdb_is_the_warehouse_file_with_the_models_schema(tmp_path):
    warehouse = PersistIQWarehouse(duckdb_path=str(tmp_path / "w.duckdb"))
    output = profile_output(warehouse, "answers")
    assert output["type"] == "duckdb"
    assert output["path"] == str((tmp_path / "w.duckdb").resolve())
    assert output["schema"] == "answers"


def test_postgres_takes_the_credentials_dlt_loads_with(monkeypatch):
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS",
        f"postgresql://loader:{SECRET}@db.internal:6543/sales?sslmode=require",
    )
    output = profile_output(PersistIQWarehouse(destination="postgres"), "persistiq_analytics")
    assert output == {
        "type": "postgres", "host": "db.internal", "port": 6543, "user": "loader",
        "password": SECRET, "dbname": "sales", "sslmode": "require", "threads": 4,
        "schema": "persistiq_analytics",
    }  # fmt: skip


def test_the_profile_file_is_readable_by_its_owner_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://u:{SECRET}@h:5432/d")
    path = write_profile(tmp_path, PersistIQWarehouse(destination="postgres"), "a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["persistiq"]["outputs"]["warehouse"]["password"] == (
        SECRET
    )


def test_the_secret_is_not_on_the_command_line():
    arguments = " ".join(PersistIQAnalytics().dbt_vars().values())
    assert "persistiq" in arguments and SECRET not in arguments


def test_a_destination_the_models_do_not_run_on_is_named(tmp_path):
    with pytest.raises(PersistIQConfigError, match="PERSISTIQ_DESTINATION=filesystem"):
        profile_output(PersistIQWarehouse(destination="filesystem"), "a")


def test_a_schema_named_like_the_duckdb_file_is_refused(tmp_path):
    warehouse = PersistIQWarehouse(duckdb_path=str(tmp_path / "answers.duckdb"))
    with pytest.raises(PersistIQConfigError, match="PERSISTIQ_ANALYTICS_SCHEMA=answers"):
        profile_output(warehouse, "answers")
