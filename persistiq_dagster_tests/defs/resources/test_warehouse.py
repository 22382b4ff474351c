"""The warehouse resource: dlt state per warehouse, the lock that keeps writers apart in any
Dagster instance, and a DuckDB path that cannot be written."""

import os
import signal
import time
from pathlib import Path

import pytest

from persistiq_dagster.config import PIPELINES_DIR_ENV, PersistIQConfigError, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.defs.resources.warehouse_lock import WarehouseBusyError, warehouse_lock
from persistiq_dagster_tests.defs.test_load_errors import failure_text
from persistiq_dagster_tests.lock_holder import HOLDER, hold_lock, lock_held_elsewhere
from persistiq_dagster_tests.support import count_rows, run_assets


def test_a_second_writer_waits_for_the_first(tmp_path):
    lock_path = tmp_path / "warehouse.duckdb.lock"
    holder = hold_lock(lock_path, seconds=1.0)
    try:
        waited: list[str] = []
        with warehouse_lock(lock_path, "run b", timeout=60, log=waited.append):
            assert lock_path.with_suffix(".done").exists(), "got the lock while it was held"
        assert HOLDER in waited[0]  # the wait says who holds the warehouse
    finally:
        holder.kill()
        holder.wait()


def test_past_the_bound_the_error_names_the_holder_and_the_setting(tmp_path):
    lock_path = tmp_path / "warehouse.duckdb.lock"
    with (
        lock_held_elsewhere(lock_path) as holder,
        pytest.raises(WarehouseBusyError) as raised,
        warehouse_lock(lock_path, "run b", timeout=0.5),
    ):
        pass
    message = str(raised.value)
    assert HOLDER in message and f"pid {holder.pid}" in message
    assert "PERSISTIQ_WAREHOUSE_LOCK_TIMEOUT_SECONDS" in message


def test_a_killed_holder_frees_the_lock(tmp_path):
    lock_path = tmp_path / "warehouse.duckdb.lock"
    holder = hold_lock(lock_path, seconds=60)
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with warehouse_lock(lock_path, "run b", timeout=30):
        pass
    assert time.monotonic() - started < 25  # far from the bound: the OS freed it at once


@pytest.mark.slow
def test_each_warehouse_keeps_its_own_dlt_state_and_loads_exactly(
    emulator, store, persistiq, tmp_path
):
    shared_dir = str(tmp_path / "dlt_pipelines")
    warehouse_a, warehouse_b = (
        PersistIQWarehouse(duckdb_path=str(tmp_path / name), pipelines_dir=shared_dir)
        for name in ("a.duckdb", "b.duckdb")
    )
    assert warehouse_a.working_dir() != warehouse_b.working_dir()
    assert warehouse_a.working_dir().parent == Path(shared_dir)

    def load(warehouse: PersistIQWarehouse) -> dict[str, bool]:
        result = run_assets(persistiq, warehouse)
        assert {table: count_rows(warehouse, table) for table in ("users", "campaigns")} == {
            "users": len(store.users),
            "campaigns": len(store.campaigns),
        }
        assert count_rows(warehouse, "leads") == len(store.leads)
        return {
            event.asset_key.path[-1]: event.materialization.metadata["first_run"].value
            for event in result.get_asset_materialization_events()
        }

    assert load(warehouse_a) == {"leads": True}
    assert load(warehouse_b) == {"leads": True}  # a new warehouse starts clean
    assert load(warehouse_a) == {"leads": False}


def test_a_duckdb_path_that_cannot_be_written_says_so(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    warehouse = PersistIQWarehouse(duckdb_path=str(blocker / "warehouse.duckdb"))

    with pytest.raises(PersistIQConfigError) as raised, warehouse.lock("run a"):
        pass

    message = str(raised.value)
    assert message.startswith(f"Cannot write {blocker / 'warehouse.duckdb'}")
    assert "PERSISTIQ_DUCKDB_PATH" in message
    assert "credentials" not in message and "internet" not in message


def test_loading_the_definitions_writes_dlt_state_only_under_the_pipelines_dir(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_default"))  # dlt's default home
    build_defs(Settings.from_env({PIPELINES_DIR_ENV: str(tmp_path / "chosen")}))

    assert not (tmp_path / "dlt_default" / "pipelines").exists()
    assert list((tmp_path / "chosen").iterdir()), "the chosen folder holds the working state"


@pytest.mark.slow
def test_dlt_passes_uncompressed_files_unless_the_user_says_otherwise(
    emulator, persistiq, warehouse, monkeypatch
):
    monkeypatch.delenv("PERSISTIQ_LEADS__DATA_WRITER__DISABLE_COMPRESSION", raising=False)
    monkeypatch.setenv("PERSISTIQ_CORE__DATA_WRITER__DISABLE_COMPRESSION", "false")

    warehouse.build_pipeline("persistiq_leads")
    warehouse.build_pipeline("persistiq_core")

    assert os.environ["PERSISTIQ_LEADS__DATA_WRITER__DISABLE_COMPRESSION"] == "true"
    assert os.environ["PERSISTIQ_CORE__DATA_WRITER__DISABLE_COMPRESSION"] == "false"
    run_assets(persistiq, warehouse)  # loads as before, either way
    assert count_rows(warehouse, "leads") == len(emulator.store.leads)
    assert count_rows(warehouse, "users") == len(emulator.store.users)


@pytest.mark.slow
def test_loads_run_under_the_duckdb_memory_limit(emulator, store, persistiq, tmp_path):
    warehouse = PersistIQWarehouse(
        duckdb_path=str(tmp_path / "w.duckdb"),
        pipelines_dir=str(tmp_path / "p"),
        duckdb_memory_limit="64MB",
    )
    run_assets(persistiq, warehouse)

    with warehouse.build_pipeline("persistiq_leads").sql_client() as client:
        ((limit,),) = client.execute_sql("select current_setting('memory_limit')")
        ((order,),) = client.execute_sql("select current_setting('preserve_insertion_order')")
    assert limit in ("64.0 MB", "61.0 MiB")  # DuckDB shows the amount in its own unit
    assert order is False
    assert count_rows(warehouse, "leads") == len(store.leads)


@pytest.mark.slow
def test_duckdb_out_of_memory_names_the_setting_and_loses_nothing(
    emulator, store, persistiq, tmp_path
):
    paths = {"duckdb_path": str(tmp_path / "w.duckdb"), "pipelines_dir": str(tmp_path / "p")}
    starved = PersistIQWarehouse(**paths, duckdb_memory_limit="1MB")

    result = run_assets(persistiq, starved, select=["leads"], raise_on_error=False)

    assert not result.success
    assert "DuckDB ran out of the memory PERSISTIQ_DUCKDB_MEMORY_LIMIT allows it (1MB)" in (
        failure_text(result)
    )
    # The next run of the same window reads PersistIQ again (dagster-dlt drops the failed
    # run's package) and loads everything, once.
    read_before = emulator.count("/v1/leads")
    enough = PersistIQWarehouse(**paths)  # the default limit
    run_assets(persistiq, enough, select=["leads"])
    assert emulator.count("/v1/leads") > read_before
    assert count_rows(enough, "leads") == len(store.leads)


def test_out_of_memory_anywhere_in_the_error_chain_names_the_setting(tmp_path):
    """The explanation alone, in the fast tier; a real load running out: the test above."""
    warehouse = PersistIQWarehouse(
        duckdb_path=str(tmp_path / "w.duckdb"), duckdb_memory_limit="1MB"
    )
    try:
        try:
            raise RuntimeError("Out of Memory Error: could not allocate block of size 256 KiB")
        except RuntimeError as duckdb_error:
            raise ValueError("the load step failed") from duckdb_error
    except ValueError as error:
        load_failure = error

    explained = warehouse.explain_failure(load_failure)

    assert explained is not None
    assert "DuckDB ran out of the memory PERSISTIQ_DUCKDB_MEMORY_LIMIT allows it (1MB)" in explained
    assert "PERSISTIQ_DUCKDB_MEMORY_LIMIT=1GB" in explained
    assert "that run reads PersistIQ again" in explained and "pending" not in explained
    assert warehouse.explain_failure(ValueError("another failure")) is None
    assert PersistIQWarehouse(destination="postgres").explain_failure(load_failure) is None


def test_a_load_takes_the_warehouse_lock_before_reading_persistiq(emulator, persistiq, tmp_path):
    """The asset step itself holds the lock: while another run has the warehouse, a load
    waits, and past the bound fails naming that run, having read nothing."""
    warehouse = PersistIQWarehouse(
        duckdb_path=str(tmp_path / "w.duckdb"),
        pipelines_dir=str(tmp_path / "p"),
        lock_timeout_seconds=0.5,
    )
    with lock_held_elsewhere(tmp_path / "w.duckdb.lock"):
        result = run_assets(persistiq, warehouse, select=["users"], raise_on_error=False)

    assert not result.success
    text = failure_text(result)
    assert "The warehouse is still in use after 0.5 s" in text and HOLDER in text
    assert emulator.count() == 0
