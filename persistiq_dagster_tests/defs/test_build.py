"""The Definitions offer what PERSISTIQ_EXCLUDE_TABLES leaves, and nothing for the rest.

Each case builds the Definitions from its own settings, in this process.
"""

import pytest

from persistiq_dagster.config import EXCLUDE_TABLES_ENV, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.source.catalog import TABLE_NAMES


def definitions_with(**environ: str) -> dict:
    defs = build_defs(Settings.from_env(environ))
    graph = defs.resolve_asset_graph()
    return {
        "assets": sorted(key.path[-1] for key in graph.get_all_asset_keys()),
        "checked": sorted({key.asset_key.path[-1] for key in graph.asset_check_keys}),
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
    ("excluded", "activity"),
    [
        pytest.param("", True, id="everything"),
        pytest.param("replies", True, id="no replies"),
        pytest.param("events,replies,tags", False, id="no events, replies or tags"),
    ],
)
def test_excluded_tables_have_no_asset_check_or_job(excluded, activity):
    found = definitions_with(**{EXCLUDE_TABLES_ENV: excluded})

    left_out = {name for name in excluded.split(",") if name}
    assert found["assets"] == sorted(set(TABLE_NAMES) - left_out)
    assert found["checked"] == found["assets"]
    assert ("persistiq_activity_job" in found["jobs"]) is activity
    assert ("persistiq_activity_daily" in found["schedules"]) is activity
    assert ("persistiq_activity_job" in found["sensor_jobs"]) is activity
    assert {"persistiq_users_campaigns_job", "persistiq_leads_job"} <= set(found["jobs"])
    assert "persistiq_connection_check_job" in found["jobs"]
