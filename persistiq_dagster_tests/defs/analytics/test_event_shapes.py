"""PersistIQ publishes two shapes of event; the events model holds one. The same events served
in each shape give the same rows."""

import duckdb
import pytest
from dagster import AssetSelection

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, model_key
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster_tests.support import (
    build_models,
    persistiq_for,
    run_assets,
    ten_day_dataset,
)
from persistiq_emulator import PersistIQEmulator

pytestmark = pytest.mark.slow

EVENTS_MODEL = AssetSelection.assets(model_key("stg_persistiq__events"))


def events_model_rows(tmp_path, shape: str) -> list[tuple]:
    store = ten_day_dataset(users=3, leads=80, campaigns=4, seed=5, event_shape=shape)
    warehouse = PersistIQWarehouse(
        duckdb_path=str(tmp_path / f"{shape}.duckdb"), pipelines_dir=str(tmp_path / shape)
    )
    with PersistIQEmulator(store=store) as emulator:
        run_assets(persistiq_for(emulator), warehouse, select=["campaigns", "campaign_leads"])
        run_assets(persistiq_for(emulator), warehouse, select=["events"])
    selection = EVENTS_MODEL.upstream() & AssetSelection.groups(ANALYTICS_GROUP_NAME)
    build_models(warehouse, Settings(), selection=selection)
    with duckdb.connect(warehouse.duckdb_path, read_only=True) as connection:
        found = connection.execute(
            "select * from persistiq_analytics.stg_persistiq__events order by event_id"
        )
        return found.fetchall()


def test_both_published_shapes_give_the_same_rows(tmp_path):
    openapi, docs = events_model_rows(tmp_path, "openapi"), events_model_rows(tmp_path, "docs")
    assert openapi == docs
    assert len(openapi) > 100
    assert all(row[1] is not None and row[3] is not None for row in openapi)  # time, type
    assert sum(row[7] is not None for row in openapi) > 0  # a mailbox, through membership
