"""The Definitions offer what PERSISTIQ_EXCLUDE_TABLES leaves, and nothing for the rest.

Settings are read when the code location loads, so each case loads the Definitions afresh in
a subprocess with only that setting.
"""

import json

import pytest

from persistiq_dagster.catalog import TABLE_NAMES
from persistiq_dagster_tests.dagster_cli import python_in_project

LIST_DEFINITIONS = """
import json
from persistiq_dagster.definitions import defs
graph = defs.resolve_asset_graph()
print(json.dumps({
    "assets": sorted(key.path[-1] for key in graph.get_all_asset_keys()),
    "checked": sorted({key.asset_key.path[-1] for key in graph.asset_check_keys}),
    "jobs": sorted(job.name for job in defs.jobs),
    "schedules": sorted(schedule.name for schedule in defs.schedules),
    "sensor_jobs": sorted(
        job.name for sensor in defs.sensors if sensor.name == "persistiq_leads_updates_sensor"
        for job in sensor.jobs
    ),
}))
"""


def definitions_with(tmp_path, **settings: str) -> dict:
    completed = python_in_project(LIST_DEFINITIONS, tmp_path, **settings)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("excluded", "activity"),
    [
        pytest.param("", True, id="everything"),
        pytest.param("replies", True, id="no replies"),
        pytest.param("events,replies,tags", False, id="no events, replies or tags"),
    ],
)
def test_excluded_tables_have_no_asset_check_or_job(tmp_path, excluded, activity):
    found = definitions_with(tmp_path, PERSISTIQ_EXCLUDE_TABLES=excluded)

    left_out = {name for name in excluded.split(",") if name}
    assert found["assets"] == sorted(set(TABLE_NAMES) - left_out)
    assert found["checked"] == found["assets"]
    assert ("persistiq_activity_job" in found["jobs"]) is activity
    assert ("persistiq_activity_daily" in found["schedules"]) is activity
    assert ("persistiq_activity_job" in found["sensor_jobs"]) is activity
    assert {"persistiq_users_campaigns_job", "persistiq_leads_job"} <= set(found["jobs"])
    assert "persistiq_connection_check_job" in found["jobs"]
