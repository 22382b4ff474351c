"""The Definitions offer what PERSISTIQ_EXCLUDE_TABLES leaves, and nothing for the rest.

Each case builds the Definitions from its own settings, in this process.
"""

import pytest

from persistiq_dagster.config import EXCLUDE_TABLES_ENV, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, ASSET_KEY_PREFIX
from persistiq_dagster.source.catalog import TABLE_NAMES


def definitions_with(**environ: str) -> dict:
    defs = build_defs(Settings.from_env(environ))
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    return {
        "assets": sorted(key.path[-1] for key in keys if key.path[0] == ASSET_KEY_PREFIX),
        "models": sorted(key.path[-1] for key in keys if key.path[0] == ANALYTICS_GROUP_NAME),
        "checked": sorted(
            {
                check.asset_key.path[-1]
                for check in graph.asset_check_keys
                if check.asset_key.path[0] == ASSET_KEY_PREFIX
            }
        ),
        "jobs": sorted(job.name for job in defs.jobs),
        "schedules": sorted(schedule.name for schedule in defs.schedules),
        "sensor_jobs": sorted(
            job.name
            for sensor in defs.sensors
            if sensor.name == "persistiq_leads_updates_sensor"
            for job in sensor.jobs
        ),
    }


@pytest.mark.parametrize(
    ("excluded", "activity", "models_left_out"),
    [
        pytest.param("", True, set(), id="everything"),
        pytest.param(
            "replies",
            True,
            {"stg_persistiq__replies", "campaign_performance", "campaign_daily", "mailbox_daily"},
            id="no replies",
        ),
        pytest.param(
            "events,replies,tags",
            False,
            {
                "stg_persistiq__events",
                "stg_persistiq__replies",
                "campaign_performance",
                "campaign_daily",
                "mailbox_daily",
            },
            id="no events, replies or tags",
        ),  # fmt: skip
    ],
)
def test_excluded_tables_have_no_asset_check_or_job(excluded, activity, models_left_out):
    found = definitions_with(**{EXCLUDE_TABLES_ENV: excluded})

    left_out = {name for name in excluded.split(",") if name}
    assert found["assets"] == sorted(set(TABLE_NAMES) - left_out)
    assert found["checked"] == found["assets"]
    assert ("persistiq_activity_job" in found["jobs"]) is activity
    assert ("persistiq_activity_daily" in found["schedules"]) is activity
    assert ("persistiq_activity_job" in found["sensor_jobs"]) is activity
    assert {"persistiq_users_campaigns_job", "persistiq_leads_job"} <= set(found["jobs"])
    assert "persistiq_connection_check_job" in found["jobs"]
    # The models built on a table left out are left out; the others stay.
    assert set(found["models"]) == set(ALL_MODELS) - models_left_out


ALL_MODELS = definitions_with()["models"]


def test_the_models_are_every_staging_model_mart_and_the_seed():
    assert len(ALL_MODELS) == 16
    assert {"persistiq_event_types", "lead_funnel", "campaign_stats_daily"} <= set(ALL_MODELS)


def test_no_models_on_a_warehouse_they_do_not_run_on():
    found = definitions_with(PERSISTIQ_DESTINATION="filesystem")
    assert found["models"] == [] and found["assets"] == sorted(TABLE_NAMES)


def test_the_models_can_be_left_out():
    found = definitions_with(PERSISTIQ_ANALYTICS="false")
    assert found["models"] == [] and found["assets"] == sorted(TABLE_NAMES)
    defs = build_defs(Settings.from_env({"PERSISTIQ_ANALYTICS": "false"}))
    assert "analytics" not in (defs.resources or {})
    assert not [sensor for sensor in defs.sensors if "analytics" in sensor.name]
    assert build_defs(Settings()).resources.get("analytics") is not None
