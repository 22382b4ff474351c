"""End to end: Dagster's ``dg`` command line on the project, run from the project folder as the
README says, against the emulator, each with a DAGSTER_HOME of its own under ``tmp_path``.

``dg`` finds the project through ``[tool.dg]`` in pyproject.toml: the module
``persistiq_dagster.definitions`` and the code location ``persistiq_dagster``, as ``make dev``
and ``workspace.yaml`` name it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from persistiq_dagster.source.catalog import TABLE_NAMES
from persistiq_dagster_tests.dagster_cli import (
    PROJECT_DIR,
    make_dagster_home,
    make_project_dagster_home,
    project_env,
)
from persistiq_dagster_tests.e2e.test_dagster_dev import (
    launch_run,
    running_dagster_dev,
    wait_for_run,
)
from persistiq_emulator import PersistIQEmulator, make_dataset

DG = Path(sys.executable).parent / "dg"
LOCATION = "persistiq_dagster"
TIMEOUT = 300


@pytest.fixture(scope="module")
def emulator() -> Iterator[PersistIQEmulator]:
    with PersistIQEmulator(store=make_dataset(users=4, leads=240, campaigns=6)) as running:
        yield running


def dg(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``dg`` from the project folder, with a fresh default DAGSTER_HOME and the DuckDB file
    and dlt's folder under ``tmp_path``."""
    env = project_env(
        make_dagster_home(tmp_path / "dagster_home"),
        PERSISTIQ_DUCKDB_PATH=str(tmp_path / "warehouse" / "persistiq_dg.duckdb"),
        PERSISTIQ_PIPELINES_DIR=str(tmp_path / "dlt_pipelines"),
        **settings,
    )
    return subprocess.run(
        [str(DG), *args],
        cwd=PROJECT_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


def dg_launch(
    tmp_path: Path, emulator: PersistIQEmulator, assets: str, *window: str
) -> subprocess.CompletedProcess[str]:
    """``dg launch --assets <assets> [window]`` against the emulator."""
    return dg(
        tmp_path,
        "launch",
        "--assets",
        assets,
        *window,
        PERSISTIQ_API_KEY=emulator.api_key,
        PERSISTIQ_BASE_URL=emulator.base_url,
    )


def rows(tmp_path: Path, table: str) -> set[str]:
    path = tmp_path / "warehouse" / "persistiq_dg.duckdb"
    with duckdb.connect(str(path), read_only=True) as connection:
        found = connection.execute(f"select id from persistiq.{table}").fetchall()
    return {row_id for (row_id,) in found}


def test_dg_check_defs_loads_the_definitions(tmp_path):
    checked = dg(tmp_path, "check", "defs")
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr


def test_dg_check_defs_fails_on_a_wrong_setting_and_names_it_in_one_line(tmp_path):
    """Through the CLI once: a wrong setting stops the code location from loading, and the
    output names it in one line (every other case of every setting: test_config.py)."""
    checked = dg(tmp_path, "check", "defs", PERSISTIQ_START_DATE="2024-13-45")
    output = (checked.stdout + checked.stderr).splitlines()
    named = [line for line in output if "PERSISTIQ_START_DATE" in line and "2024-13-45" in line]
    assert checked.returncode != 0
    assert named == [
        "persistiq_dagster.config.PersistIQConfigError: PERSISTIQ_START_DATE='2024-13-45' "
        "is not an ISO 8601 date such as 2024-01-01 (month must be in 1..12)"
    ], output[-30:]


def test_dg_list_defs_shows_assets_with_lineage_owners_and_code(tmp_path):
    listed = dg(tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    found = json.loads(listed.stdout)
    every = {asset["asset_key"]: asset for asset in found["assets"]}
    assets = {key: asset for key, asset in every.items() if asset["group_name"] == "persistiq"}
    assert sorted(assets) == sorted(f"persistiq/{name}" for name in TABLE_NAMES)
    models = {key: a for key, a in every.items() if a["group_name"] == "persistiq_analytics"}
    assert len(models) == 16 and len(every) == len(assets) + len(models)
    assert every["persistiq_analytics/stg_persistiq__leads"]["dependency_keys"] == [
        "persistiq/leads"
    ]
    assert all(model["owners"] == [{"team": "data-engineering"}] for model in models.values())
    for key, asset in assets.items():
        derived = key in ("persistiq/campaign_leads", "persistiq/replies")
        assert asset["dependency_keys"] == (["persistiq/campaigns"] if derived else []), key
        assert asset["owners"] == [{"team": "data-engineering"}], key
        assert {"key": "source", "value": "persistiq"} in asset["tags"], key
        assert asset["source"].startswith("persistiq_dagster/defs/assets.py:"), key
        assert asset["group_name"] == "persistiq"
    assert {job["name"] for job in found["jobs"]} >= {
        "persistiq_users_campaigns_job",
        "persistiq_leads_job",
        "persistiq_activity_job",
    }
    assert {s["name"] for s in found["schedules"]} >= {"persistiq_leads_daily"}
    assert {s["name"] for s in found["sensors"]} >= {"persistiq_leads_updates_sensor"}


def test_dg_launch_loads_users_and_campaigns_into_the_instance(tmp_path, emulator):
    launched = dg_launch(tmp_path, emulator, "persistiq/users,persistiq/campaigns")
    assert launched.returncode == 0, launched.stderr[-4000:]
    # As the README runs it (.venv/bin/dg, no venv activated): no warning about venvs, and none
    # of the "superseded" kind dagster asset materialize prints.
    said = launched.stdout + launched.stderr
    assert "virtual environment" not in said and "Warning" not in said, said[-3000:]
    assert rows(tmp_path, "users") == {user["id"] for user in emulator.store.users}
    assert rows(tmp_path, "campaigns") == {c["id"] for c in emulator.store.campaigns}
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        for table in ("users", "campaigns"):
            assert instance.get_latest_materialization_event(AssetKey(["persistiq", table]))


@pytest.mark.parametrize(
    ("window", "days"),
    [
        pytest.param(["--partition", "2024-01-20"], ["2024-01-20"], id="one day"),
        pytest.param(
            ["--partition-range", "2024-01-20...2024-01-22"],
            ["2024-01-20", "2024-01-21", "2024-01-22"],
            id="a range in one run",
        ),
    ],
)
def test_dg_launch_loads_leads_by_partition(tmp_path, emulator, window, days):
    launched = dg_launch(tmp_path, emulator, "persistiq/leads", *window)
    assert launched.returncode == 0, launched.stderr[-4000:]
    expected = {lead["id"] for lead in emulator.store.leads if lead["updated_at"][:10] in days}
    assert expected, "the emulator has leads updated on these days"
    assert rows(tmp_path, "leads") == expected
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert len(instance.get_runs()) == 1
        materialized = instance.get_materialized_partitions(AssetKey(["persistiq", "leads"]))
        assert sorted(materialized) == days


DBT_OWN_OBJECTS = {
    "dagster_dbt/manifest", "dagster_dbt/dagster_dbt_translator", "dagster_dbt/project",
}  # fmt: skip
ASSET_PAGES_QUERY = """
query {
  assetNodes {
    assetKey { path }
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    dependencyKeys { path }
    metadataEntries {
      __typename
      label
      ... on TextMetadataEntry { text }
      ... on TableSchemaMetadataEntry { schema { columns { name description } } }
      ... on CodeReferencesMetadataEntry {
        codeReferences { ... on LocalFileCodeReference { filePath lineNumber } }
      }
    }
  }
}
"""


def test_dg_dev_serves_the_code_location_make_dev_serves(tmp_path, emulator):
    """``dg dev`` with the DAGSTER_HOME ``make dev`` sets: the code location is
    ``persistiq_dagster``, its runs land in that instance, and the asset pages show owners,
    lineage, column descriptions and code links, and nothing "(unserializable)"."""
    dagster_home = make_project_dagster_home(tmp_path / "dagster_home")
    with running_dagster_dev(
        tmp_path,
        dagster_home,
        command=[str(DG), "dev"],
        PERSISTIQ_API_KEY=emulator.api_key,
        PERSISTIQ_BASE_URL=emulator.base_url,
    ) as (server, location, repository):
        assert location == LOCATION
        nodes = server.graphql(ASSET_PAGES_QUERY)["assetNodes"]
        pages = {"/".join(node["assetKey"]["path"]): node for node in nodes}
        assert pages["persistiq/replies"]["dependencyKeys"] == [
            {"path": ["persistiq", "campaigns"]}
        ]
        for key, page in pages.items():
            assert page["owners"] == [{"team": "data-engineering"}], key
            entries = {entry["label"]: entry for entry in page["metadataEntries"]}
            unreadable = {
                entry["label"]
                for entry in page["metadataEntries"]
                if "unserializable" in (entry.get("text") or "")
            }
            if key.startswith("persistiq_analytics/"):
                # dagster-dbt reads these three objects back from the metadata when a run
                # starts, so they cannot be replaced by words as dagster-dlt's are.
                assert unreadable <= DBT_OWN_OBJECTS, (key, unreadable)
                if key.endswith("persistiq_event_types"):
                    continue
                columns = entries["dagster/column_schema"]["schema"]["columns"]
                assert columns and all(column["description"] for column in columns), key
                (reference,) = entries["dagster/code_references"]["codeReferences"]
                assert reference["filePath"].endswith(f"{key.split('/')[1]}.sql"), key
                continue
            assert unreadable == set(), (key, unreadable)
            columns = entries["dagster/column_schema"]["schema"]["columns"]
            assert columns and all(column["description"] for column in columns), key
            (reference,) = entries["dagster/code_references"]["codeReferences"]
            assert reference["filePath"].endswith("persistiq_dagster/defs/assets.py"), key
            assert entries["dagster/table_name"]["text"].endswith(f"persistiq.{key[10:]}")

        run_id = launch_run(
            server, location, repository, [["persistiq", "users"], ["persistiq", "campaigns"]]
        )
        assert wait_for_run(server, run_id) == "SUCCESS"
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert run.remote_job_origin.location_name == LOCATION
