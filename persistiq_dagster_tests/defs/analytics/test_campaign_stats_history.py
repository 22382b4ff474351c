"""campaign_stats_daily from the scd2 history of campaigns: loads on three days (each load's
rows moved back to its day afterwards, as if it had run then), PersistIQ's stats at the end of
each day, and the change since the day before."""

from datetime import timedelta

import duckdb
import pytest
from dagster import AssetSelection

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, model_key
from persistiq_dagster_tests.support import build_models, run_assets

pytestmark = pytest.mark.slow

MODEL = AssetSelection.assets(model_key("campaign_stats_daily"))
ANALYTICS = AssetSelection.groups(ANALYTICS_GROUP_NAME)
STAT_FIELDS = {"contacted": "prospects_contacted", "replied": "prospects_replied"}


def move_back(warehouse, days: int, since=None) -> None:
    """Move the versions recorded since ``since`` (all when None) back by ``days`` days, and
    the retirements of that load with them."""
    shift = f"interval {days} day"
    with duckdb.connect(warehouse.duckdb_path) as connection:
        recorded = "" if since is None else f" where _dlt_valid_from >= '{since.isoformat()}'"
        retired = "" if since is None else f" and _dlt_valid_to >= '{since.isoformat()}'"
        connection.execute(
            f"update persistiq.campaigns set _dlt_valid_from = _dlt_valid_from - {shift}{recorded}"
        )
        connection.execute(
            f"update persistiq.campaigns set _dlt_valid_to = _dlt_valid_to - {shift} "
            f"where _dlt_valid_to is not null{retired}"
        )


def latest_version_time(warehouse):
    with duckdb.connect(warehouse.duckdb_path, read_only=True) as connection:
        found = connection.execute("select max(_dlt_valid_from) from persistiq.campaigns")
        return found.fetchone()[0]


def change(store, campaign_id: str, **more: int) -> dict:
    campaign = next(c for c in store.campaigns if c["id"] == campaign_id)
    campaign["stats"] = {
        **campaign["stats"],
        **{STAT_FIELDS[name]: campaign["stats"][STAT_FIELDS[name]] + n for name, n in more.items()},
    }
    store.bump()
    return {name: campaign["stats"][field] for name, field in STAT_FIELDS.items()}


def test_stats_at_the_end_of_each_day_and_their_change(persistiq, warehouse, store):
    changing = store.campaigns[1]["id"]
    first = {name: store.campaigns[1]["stats"][field] for name, field in STAT_FIELDS.items()}
    run_assets(persistiq, warehouse, select=["campaigns"])
    move_back(warehouse, 2)
    second = change(store, changing, contacted=10, replied=2)
    run_assets(persistiq, warehouse, select=["campaigns"])
    move_back(warehouse, 1, since=latest_version_time(warehouse) - timedelta(seconds=1))
    change(store, changing, contacted=3)
    run_assets(persistiq, warehouse, select=["campaigns"])
    last = change(store, changing, contacted=4, replied=1)  # later the same day: the one kept
    run_assets(persistiq, warehouse, select=["campaigns"])

    build_models(warehouse, Settings(), selection=MODEL.upstream() & ANALYTICS)

    with duckdb.connect(warehouse.duckdb_path, read_only=True) as connection:
        rows = connection.execute(
            "select day, contacted, replied, contacted_change, replied_change "
            "from persistiq_analytics.campaign_stats_daily where campaign_id = ? order by day",
            [changing],
        ).fetchall()
        others = connection.execute(
            "select count(*), count(distinct campaign_id) from "
            "persistiq_analytics.campaign_stats_daily where campaign_id <> ?",
            [changing],
        ).fetchone()
    days = [row[0] for row in rows]
    assert days == [days[2] - timedelta(days=2), days[2] - timedelta(days=1), days[2]]
    assert rows[0][1:] == (first["contacted"], first["replied"], None, None)
    assert rows[1][1:] == (second["contacted"], second["replied"], 10, 2)
    assert rows[2][1:] == (last["contacted"], last["replied"], 7, 1)
    # The others never changed: one row each, on the first day.
    assert others == (len(store.campaigns) - 1, len(store.campaigns) - 1)
