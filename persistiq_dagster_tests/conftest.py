"""Shared fixtures: a PersistIQ emulator on loopback and a DuckDB warehouse in tmp_path."""

from collections.abc import Iterator, Sequence

import duckdb
import pytest
from dagster import AssetKey, ExecuteInProcessResult, materialize
from dagster_dlt import DagsterDltResource

from persistiq_dagster.assets import persistiq_core_assets, persistiq_leads_assets
from persistiq_dagster.emulator import EmulatorStore, PersistIQEmulator, make_dataset
from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse

ALL_ASSETS = [persistiq_core_assets, persistiq_leads_assets]


@pytest.fixture
def store() -> EmulatorStore:
    return make_dataset(users=5, leads=345, campaigns=12, seed=7)


@pytest.fixture
def emulator(store: EmulatorStore) -> Iterator[PersistIQEmulator]:
    with PersistIQEmulator(store=store) as running:
        yield running


def persistiq_for(emulator: PersistIQEmulator, **overrides) -> PersistIQResource:
    """The API resource pointed at ``emulator``, with quick retries for tests.

    Build a new resource to change a setting: Dagster keeps the config a resource was
    constructed with, so ``model_copy(update=...)`` would not reach the run.
    """
    settings = {
        "api_key": emulator.api_key,
        "base_url": emulator.base_url,
        "max_retries": 2,
        "backoff_factor": 0.01,
        "max_retry_delay": 0.05,
        **overrides,
    }
    return PersistIQResource(**settings)


@pytest.fixture
def persistiq(emulator: PersistIQEmulator) -> PersistIQResource:
    return persistiq_for(emulator)


@pytest.fixture
def warehouse(tmp_path) -> PersistIQWarehouse:
    return PersistIQWarehouse(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        pipelines_dir=str(tmp_path / "dlt_pipelines"),
    )


def run_assets(
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
    select: Sequence[str] | None = None,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """Materialise the PersistIQ assets (all, or ``select`` like ``["leads"]``) in process."""
    selection = [AssetKey(["persistiq", name]) for name in select] if select else None
    return materialize(
        ALL_ASSETS,
        selection=selection,
        resources={"dlt": DagsterDltResource(), "persistiq": persistiq, "warehouse": warehouse},
        raise_on_error=raise_on_error,
    )


def query(warehouse: PersistIQWarehouse, sql: str) -> list[tuple]:
    with duckdb.connect(warehouse.duckdb_path, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def count_rows(warehouse: PersistIQWarehouse, table: str) -> int:
    return query(warehouse, f"select count(*) from persistiq.{table}")[0][0]


def page_count(records: int, page_size: int = 100) -> int:
    return max(1, -(-records // page_size))
