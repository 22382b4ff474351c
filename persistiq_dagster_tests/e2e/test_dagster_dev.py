"""End to end: a real ``dagster dev`` against the PersistIQ emulator, driven over GraphQL.

The webserver, daemon and code server run in their own process group, started with the
project's settings pointed at an emulator in this process and at files under ``tmp_path``.
Runs are launched through ``/graphql``, the endpoint the UI uses, on the implicit asset job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import requests

from persistiq_dagster.source.catalog import (
    ACTIVITY_PIPELINE,
    CORE_PIPELINE,
    LEADS_PIPELINE,
    TABLE_NAMES,
    is_snapshot,
    pipeline_tables,
)
from persistiq_dagster_tests.dagster_cli import (
    DAGSTER,
    MODULE,
    PROJECT_DIR,
    make_dagster_home,
    make_project_dagster_home,
    project_env,
)
from persistiq_dagster_tests.support import EMULATOR_DAYS, assert_each_page_once, ten_day_dataset
from persistiq_emulator import PersistIQEmulator

DATASET = "persistiq"
TABLES = TABLE_NAMES
ASSET_KEYS = [["persistiq", table] for table in TABLES]
# The asset keys of each dlt pipeline: one run each, as the UI launches them.
RUNS = {
    pipeline: [["persistiq", table] for table in pipeline_tables(pipeline)]
    for pipeline in (CORE_PIPELINE, LEADS_PIPELINE, ACTIVITY_PIPELINE)
}
PAGE_SIZE = 100
READY_TIMEOUT = 120.0
RUN_TIMEOUT = 180.0
STOP_GRACE = 15.0
SENSOR_INTERVAL = 5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"<no log: {error}>"
    return "\n".join(text.splitlines()[-lines:])


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM the whole group, wait, then SIGKILL it: dagster dev may ignore SIGTERM."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE)
    # Children (webserver, daemon, code server, run workers) may outlive the parent.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@dataclass
class DagsterDev:
    url: str
    log: Path
    proc: subprocess.Popen
    duckdb_path: Path
    pipelines_dir: Path
    dagster_home: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:2000]
        payload = response.json()
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- tail of {self.log} ---\n{log_tail(self.log)}")


WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_NODES_QUERY = """
query {
  assetNodes {
    assetKey { path }
    groupName
    jobNames
  }
}
"""

LAUNCH_RUN_MUTATION = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_STATUS_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}
"""


def wait_until_ready(server: DagsterDev) -> tuple[str, str]:
    """Poll until the webserver answers and the code location has loaded.

    Returns (location name, repository name).
    """
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            server.fail(f"dagster dev exited with code {server.proc.returncode} before ready")
        try:
            info = requests.get(f"{server.url}/server_info", timeout=5)
            if info.status_code == 200:
                data = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]
                entries = data.get("locationEntries") or []
                last = repr(data)
                for entry in entries:
                    location = entry.get("locationOrLoadError") or {}
                    if location.get("__typename") == "PythonError":
                        server.fail(f"code location failed to load: {location['message']}")
                    if entry["loadStatus"] == "LOADED" and location.get("repositories"):
                        return entry["name"], location["repositories"][0]["name"]
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(1)
    server.fail(f"dagster dev not ready after {READY_TIMEOUT:.0f} s; last: {last}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def emulator() -> Iterator[PersistIQEmulator]:
    store = ten_day_dataset(users=5, leads=250, campaigns=12)
    with PersistIQEmulator(store=store, page_size=PAGE_SIZE) as running:
        yield running


@contextlib.contextmanager
def running_dagster_dev(
    root: Path, dagster_home: Path, command: Sequence[str] | None = None, **settings: str
) -> Iterator[tuple[DagsterDev, str, str]]:
    """``dagster dev`` (or ``command``, such as ``dg dev``, given the host and port after it)
    in a process group of its own, from the project folder, with the environment's
    ``settings``, the DuckDB file and dlt's folder under ``root``; yields it with its code
    location and repository names once loaded, and ends the whole group afterwards, even on
    failure."""
    duckdb_path = root / "warehouse" / "persistiq_e2e.duckdb"
    pipelines_dir = root / "dlt_pipelines"
    log = root / "dagster_dev.log"
    port = free_port()
    env = project_env(
        dagster_home,
        PERSISTIQ_DUCKDB_PATH=str(duckdb_path),
        PERSISTIQ_PIPELINES_DIR=str(pipelines_dir),
        **settings,
    )
    command = [
        *(command or [str(DAGSTER), "dev", "-m", MODULE]),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server = DagsterDev(
            url=f"http://127.0.0.1:{port}",
            log=log,
            proc=proc,
            duckdb_path=duckdb_path,
            pipelines_dir=pipelines_dir,
            dagster_home=dagster_home,
        )
        location_name, repository_name = wait_until_ready(server)
        yield server, location_name, repository_name
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="module")
def dagster_dev(
    emulator: PersistIQEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DagsterDev, str, str]]:
    root = tmp_path_factory.mktemp("dagster_dev")
    with running_dagster_dev(
        root,
        make_project_dagster_home(root / "dagster_home"),
        PERSISTIQ_API_KEY=emulator.api_key,
        PERSISTIQ_BASE_URL=emulator.base_url,
        PERSISTIQ_LEADS_SENSOR_INTERVAL_SECONDS=str(SENSOR_INTERVAL),
    ) as running:
        yield running


def test_dagster_dev_lists_every_asset(dagster_dev) -> None:
    server, _, _ = dagster_dev
    nodes = server.graphql(ASSET_NODES_QUERY)["assetNodes"]
    by_key = {tuple(node["assetKey"]["path"]): node for node in nodes}
    for key in ASSET_KEYS:
        assert tuple(key) in by_key, f"{key} not among {sorted(by_key)}"
        node = by_key[tuple(key)]
        assert node["groupName"] == "persistiq", node
        assert "__ASSET_JOB" in node["jobNames"], node


def launch_run(server: DagsterDev, location: str, repository: str, keys, tags=None) -> str:
    """Launch a materialisation of ``keys`` the way the UI does; returns the run id."""
    execution_params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": repository,
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": key} for key in keys],
        },
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {
            "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()]
        },
    }
    result = server.graphql(LAUNCH_RUN_MUTATION, {"executionParams": execution_params})
    if result["launchRun"]["__typename"] != "LaunchRunSuccess":
        server.fail(f"launchRun did not succeed: {result}")
    return result["launchRun"]["run"]["runId"]


STEP_STATS_QUERY = """
query StepStats($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { stepStats { stepKey startTime endTime } } }
}
"""


def step_interval(server: DagsterDev, run_id: str) -> tuple[float, float]:
    """When the run's dlt step (the one that writes the warehouse) started and ended."""
    steps = server.graphql(STEP_STATS_QUERY, {"runId": run_id})["runOrError"]["stepStats"]
    (stats,) = [step for step in steps if step["stepKey"] in RUNS]
    return stats["startTime"], stats["endTime"]


def wait_for_run(server: DagsterDev, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        answer = server.graphql(RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
        assert answer["__typename"] == "Run", answer
        if answer["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return answer["status"]
        time.sleep(1)
    server.fail(f"run {run_id} not finished after {RUN_TIMEOUT:.0f} s")
    raise AssertionError("unreachable")


def served_ids(store, table: str) -> set[str]:
    if table == "campaign_leads":
        return {row["id"] for c in store.campaigns for row in store.campaign_leads_of(c["id"])}
    return {record["id"] for record in store.records(table)}


def test_dagster_dev_materialises_all_assets_over_graphql(
    dagster_dev, emulator: PersistIQEmulator
) -> None:
    """One run per dlt pipeline (the partitioned ones over every day of the emulator's data),
    launched at once: the pool makes each writer of the DuckDB file wait instead of failing."""
    server, location_name, repository_name = dagster_dev
    runs = [
        launch_run(
            server,
            location_name,
            repository_name,
            keys,
            None if pipeline == CORE_PIPELINE else EMULATOR_DAYS,
        )
        for pipeline, keys in RUNS.items()
    ]
    for run_id in runs:
        status = wait_for_run(server, run_id)
        if status != "SUCCESS":
            server.fail(f"run {run_id} ended as {status}")
    intervals = sorted(step_interval(server, run_id) for run_id in runs)
    for first, second in zip(intervals, intervals[1:], strict=False):
        assert first[1] <= second[0], f"steps writing one DuckDB file overlapped: {intervals}"

    store = emulator.store
    with duckdb.connect(str(server.duckdb_path), read_only=True) as connection:
        for table in TABLES:
            current = "_dlt_valid_to is null" if is_snapshot(table) else "true"
            id_rows = connection.execute(
                f"select id from {DATASET}.{table} where {current}"
            ).fetchall()
            ids = [row[0] for row in id_rows]
            assert len(ids) == len(set(ids)), f"{DATASET}.{table}: an id twice"
            assert set(ids) == served_ids(store, table), f"{DATASET}.{table} differs"

    records = emulator.requests
    assert records, "the emulator got no request"
    assert all(record.status == 200 for record in records), [
        (record.path, record.query, record.status) for record in records if record.status != 200
    ]
    for table in ("users", "leads", "events", "tags", "dnc_domains"):
        assert_each_page_once(emulator, f"/v1/{table}", len(store.records(table)))
    # Campaigns: listed once for campaign leads, once for replies (each its own run).
    assert [r.query.get("page", "1") for r in records if r.path == "/v1/campaigns"] == ["1"] * 2
    for campaign in store.campaigns:
        for table, served in (
            ("leads", store.campaign_leads_of(campaign["id"])),
            ("replies", store.replies_of(campaign["id"])),
        ):
            path = f"/v1/campaigns/{campaign['id']}/{table}"
            pages = [int(r.query.get("page", "1")) for r in records if r.path == path]
            assert sorted(pages) == list(range(1, max(1, -(-len(served) // PAGE_SIZE)) + 1))


START_SENSOR_MUTATION = """
mutation StartSensor($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""

RUNS_OF_JOB_QUERY = """
query RunsOfJob($job: String!) {
  runsOrError(filter: {pipelineName: $job}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def test_the_daemon_ticks_the_leads_sensor_and_its_run_loads_todays_updates(
    dagster_dev, emulator: PersistIQEmulator
) -> None:
    """Runs after the test above (same server): updates made now land in today's partition."""
    server, location_name, repository_name = dagster_dev
    updated = emulator.store.update_leads(count=3)  # updated_at: now
    selector = {
        "repositoryLocationName": location_name,
        "repositoryName": repository_name,
        "sensorName": "persistiq_leads_updates_sensor",
    }
    started = server.graphql(START_SENSOR_MUTATION, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor", started

    deadline = time.monotonic() + RUN_TIMEOUT
    runs: list[dict] = []
    while not runs and time.monotonic() < deadline:
        runs = server.graphql(RUNS_OF_JOB_QUERY, {"job": "persistiq_leads_job"})["runsOrError"][
            "results"
        ]
        time.sleep(1)
    if not runs:
        server.fail(f"the leads sensor requested no run within {RUN_TIMEOUT:.0f} s")
    (run,) = runs  # one update batch, one run: the next ticks find nothing new
    assert wait_for_run(server, run["runId"]) == "SUCCESS"
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags["dagster/partition"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert tags["dagster/sensor_name"] == "persistiq_leads_updates_sensor"
    # Today's events and replies are requested with today's leads.
    activity = server.graphql(RUNS_OF_JOB_QUERY, {"job": "persistiq_activity_job"})
    (activity_run,) = activity["runsOrError"]["results"]
    assert wait_for_run(server, activity_run["runId"]) == "SUCCESS"
    activity_tags = {tag["key"]: tag["value"] for tag in activity_run["tags"]}
    assert activity_tags["dagster/partition"] == tags["dagster/partition"]
    with duckdb.connect(str(server.duckdb_path), read_only=True) as connection:
        loaded = dict(connection.execute(f"select id, status from {DATASET}.leads").fetchall())
    statuses = {lead["id"]: lead["status"] for lead in emulator.store.leads}
    assert {lead_id: loaded[lead_id] for lead_id in updated} == {
        lead_id: statuses[lead_id] for lead_id in updated
    }


LATEST_MATERIALIZATION_QUERY = """
query Latest($assetKey: AssetKeyInput!) {
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp } }
  }
}
"""
RUN_TAGS_QUERY = """
query RunTags($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status tags { key value } } }
}
"""
# The automation sensor's second tick is the first that may request (the first only looks),
# then 30 s apart; and the models' run builds them.
AUTOMATION_TIMEOUT = 240.0


def test_the_models_follow_the_loads_with_nobody_acting(dagster_dev) -> None:
    """Runs after the loads above (same server, Dagster's default instance but for its home):
    nobody asks for the models, and Dagster's daemon builds them, campaign performance
    included, through the automation sensor that is on by default."""
    server, _, _ = dagster_dev
    key = {"path": ["persistiq_analytics", "campaign_performance"]}
    deadline = time.monotonic() + AUTOMATION_TIMEOUT
    materialized: list[dict] = []
    while not materialized and time.monotonic() < deadline:
        answer = server.graphql(LATEST_MATERIALIZATION_QUERY, {"assetKey": key})["assetOrError"]
        materialized = answer.get("assetMaterializations") or []
        time.sleep(2)
    if not materialized:
        server.fail(f"no model was built within {AUTOMATION_TIMEOUT:.0f} s of the loads")
    run = server.graphql(RUN_TAGS_QUERY, {"runId": materialized[0]["runId"]})["runOrError"]
    assert run["status"] == "SUCCESS", run
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert "persistiq_analytics_automation" in tags.values(), tags
    with duckdb.connect(str(server.duckdb_path), read_only=True) as connection:
        (campaigns,) = connection.execute(
            "select count(*) from persistiq_analytics.campaign_performance"
        ).fetchone()
    assert campaigns > 0


def test_definitions_validate_without_any_persistiq_setting(tmp_path: Path) -> None:
    """Definitions load with no PERSISTIQ_* variable at all: no key is needed until a run."""
    dagster_home = make_dagster_home(tmp_path / "dagster_home")
    env = project_env(dagster_home)
    assert not [name for name in env if name.startswith("PERSISTIQ_")]
    completed = subprocess.run(
        [str(DAGSTER), "definitions", "validate", "-m", MODULE],
        cwd=PROJECT_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "persistiq" in output.lower(), output[-4000:]
