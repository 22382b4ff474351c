"""The models' step holds the warehouse lock, like every step that touches the warehouse: while
a load holds it, the models wait, and past the bound fail naming the holder, having built
nothing; and dbt leaves no profile (with its password) or artifacts behind."""

import re
from pathlib import Path

import duckdb
import pytest

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.analytics.assets import excluded_models
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster_tests.defs.test_load_errors import failure_text
from persistiq_dagster_tests.lock_holder import HOLDER, lock_held_elsewhere
from persistiq_dagster_tests.support import build_models


@pytest.mark.slow
def test_models_wait_for_the_warehouse_lock_and_build_nothing_without_it(loaded, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(Path(loaded.warehouse.duckdb_path).read_bytes())  # loaded, no models yet
    warehouse = PersistIQWarehouse(
        duckdb_path=str(copy), pipelines_dir=str(tmp_path / "p"), lock_timeout_seconds=0.5
    )
    with lock_held_elsewhere(tmp_path / "warehouse.duckdb.lock"):
        result = build_models(warehouse, Settings(), raise_on_error=False)

    assert not result.success
    text = failure_text(result)
    assert "The warehouse is still in use after 0.5 s" in text and HOLDER in text
    with duckdb.connect(str(copy), read_only=True) as connection:
        schemas = connection.execute("select schema_name from information_schema.schemata")
        assert "persistiq_analytics" not in {row[0] for row in schemas.fetchall()}


def test_models_on_a_table_left_out_are_left_out():
    sources = {"users", "users__mailboxes", "events", "replies", "leads"}
    assert excluded_models(("users", "leads", "replies"), sources) == "source:persistiq.events+"
    assert excluded_models(("leads",), sources) == (
        "source:persistiq.events+ source:persistiq.replies+ source:persistiq.users+ "
        "source:persistiq.users__mailboxes+"
    )
    assert excluded_models(("users", "events", "replies", "leads"), sources) is None


@pytest.mark.slow
def test_a_failed_build_names_the_missing_table_and_keeps_only_dbts_log(tmp_path):
    """Models built on a warehouse nothing was loaded into: dbt's error names the table; the
    profile is gone, the log the error points to is there."""
    warehouse = PersistIQWarehouse(
        duckdb_path=str(tmp_path / "empty.duckdb"), pipelines_dir=str(tmp_path / "p")
    )
    result = build_models(warehouse, Settings(), raise_on_error=False, runs_dir=tmp_path / "runs")

    assert not result.success
    text = failure_text(result)
    assert re.search(r'Table with name "?persistiq\.\w+"? does not exist', text), text[:3000]
    (folder,) = (tmp_path / "runs").iterdir()
    assert not (folder / "profiles.yml").exists()
    assert str(folder / "target" / "dbt.log") in text and (folder / "target" / "dbt.log").exists()
