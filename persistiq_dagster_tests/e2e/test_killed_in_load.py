"""A run killed during dlt's load step, on DuckDB and on PostgreSQL (the kill during extract
is in ``test_cli_materialize``): each table is either as it was or fully loaded, never half,
and the next run is exact.

The run is ``dagster asset materialize`` of the snapshots in a process group of its own,
killed (SIGKILL) as soon as dlt has merged one table of the package, before the package is
loaded: dlt loads table by table, each table's merge (scd2) one SQL job in a transaction.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.catalog import CORE_PIPELINE, pipeline_tables
from persistiq_dagster.source.current_rows import rows
from persistiq_dagster_tests.dagster_cli import (
    DAGSTER,
    MODULE,
    PROJECT_DIR,
    make_dagster_home,
    project_env,
)
from persistiq_dagster_tests.support import persistiq_for, run_assets, ten_day_dataset
from persistiq_emulator import PersistIQEmulator

CORE_TABLES = pipeline_tables(CORE_PIPELINE)
TIMEOUT = 180


@pytest.fixture(params=["duckdb", "postgres"])
def settings(request, tmp_path, monkeypatch) -> dict[str, str]:
    """The PERSISTIQ_* settings of the warehouse, for the CLI and for this process."""
    common = {
        "PERSISTIQ_PIPELINES_DIR": str(tmp_path / "dlt_pipelines"),
        # One load job at a time, each as INSERT statements: a load step long enough to kill.
        "PERSISTIQ_LOADER_FILE_FORMAT": "insert_values",
        "LOAD__WORKERS": "1",
    }
    if request.param == "duckdb":
        return {**common, "PERSISTIQ_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb")}
    postgres = request.getfixturevalue("postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.url)
    dataset = f"killed_{tmp_path.name[-12:].lower().replace('-', '_')}"
    return {
        **common,
        "PERSISTIQ_DESTINATION": "postgres",
        "PERSISTIQ_DATASET": dataset,
        "DESTINATION__POSTGRES__CREDENTIALS": postgres.url,
    }


def warehouse_of(settings: dict[str, str]) -> PersistIQWarehouse:
    return PersistIQWarehouse.from_settings(Settings.from_env(settings))


def table_rows(warehouse: PersistIQWarehouse) -> dict[str, list]:
    """Every row of every snapshot table, history included, in a stable order."""
    found = {}
    with warehouse.build_pipeline(CORE_PIPELINE).sql_client() as client:
        for table in CORE_TABLES:
            name = client.make_qualified_table_name(table)
            found[table] = sorted(
                tuple(map(str, row)) for row in rows(client, f"select * from {name}")
            )
    return found


def current_ids(warehouse: PersistIQWarehouse) -> dict[str, set[str]]:
    with warehouse.build_pipeline(CORE_PIPELINE).sql_client() as client:
        return {
            table: {
                str(row[0])
                for row in rows(
                    client,
                    f"select id from {client.make_qualified_table_name(table)} "
                    "where _dlt_valid_to is null",
                )
            }
            for table in CORE_TABLES
        }


def served_ids(store) -> dict[str, set[str]]:
    return {
        table: {str(r["id"]) for r in store.records(table)}
        if table != "campaign_leads"
        else {str(link["id"]) for link in store.campaign_leads}
        for table in CORE_TABLES
    }


def merged_a_table(pipelines_dir: Path) -> bool:
    """dlt has merged a table (its ``.sql`` job is done) of a package it is still loading."""
    # The warehouse keeps dlt's state in a folder of its own under the pipelines folder.
    return any(pipelines_dir.glob(f"*/{CORE_PIPELINE}/load/normalized/*/completed_jobs/*.sql"))


def test_a_run_killed_in_the_load_step_leaves_each_table_whole(settings, tmp_path):
    store = ten_day_dataset(users=5, leads=345, campaigns=12, seed=7)
    warehouse = warehouse_of(settings)
    with PersistIQEmulator(store=store) as emulator:
        persistiq = persistiq_for(emulator)
        run_assets(persistiq, warehouse, select=CORE_TABLES)
        before, before_ids = table_rows(warehouse), current_ids(warehouse)
        # Every table changes: a record of each leaves (a campaign with its members).
        store.remove_campaign(store.campaigns[1]["id"])
        for table in ("users", "lead_statuses", "lead_fields", "tags", "dnc_domains"):
            store.replace(table, store.records(table)[1:])
        after_ids = served_ids(store)
        assert all(after_ids[t] != before_ids[t] for t in CORE_TABLES)

        env = project_env(
            make_dagster_home(tmp_path / "dagster_home"),
            PERSISTIQ_API_KEY=emulator.api_key,
            PERSISTIQ_BASE_URL=emulator.base_url,
            **settings,
        )
        select = ",".join(f"persistiq/{table}" for table in CORE_TABLES)
        killed = subprocess.Popen(
            [str(DAGSTER), "asset", "materialize", "-m", MODULE, "--select", select],
            cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        pipelines_dir = Path(settings["PERSISTIQ_PIPELINES_DIR"])
        try:
            deadline = time.monotonic() + TIMEOUT
            while not merged_a_table(pipelines_dir) and time.monotonic() < deadline:
                assert killed.poll() is None, "the run ended before its load step was seen"
                time.sleep(0.005)
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait(timeout=30)
        # Killed inside the load step: the package is still being loaded, not done.
        assert merged_a_table(pipelines_dir)

        killed_rows, killed_ids = table_rows(warehouse), current_ids(warehouse)
        states = {}
        for table in CORE_TABLES:
            if killed_rows[table] == before[table]:
                states[table] = "unchanged"
            else:
                assert killed_ids[table] == after_ids[table], table  # whole, not half
                states[table] = "loaded"
        assert "loaded" in states.values(), states  # the kill came after a table's merge

        run_assets(persistiq, warehouse, select=CORE_TABLES)

    assert current_ids(warehouse) == after_ids
