"""The CLI in Dagster's default instance (a fresh, empty DAGSTER_HOME: no pool limit), as most
users and deployments run it: correct without any of the project's instance settings."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from persistiq_dagster_tests.analytics_oracle import campaign_performance
from persistiq_dagster_tests.dagster_cli import (
    DAGSTER,
    MODULE,
    PROJECT_DIR,
    make_dagster_home,
    project_env,
)
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS

CORE = ["--select", "persistiq/users,persistiq/campaigns"]
LEADS = ["--select", "persistiq/leads", "--partition-range", "...".join(DEFAULT_UPDATED_DAYS)]
# Three checks per table (ids, rows, schema), leads' owners, and one freshness check per table.
CHECKS_PER_RUN = {"core": 8, "leads": 5}
# Twice: a fresh instance on an empty warehouse, then another on the loaded one.
REPEATS = 2
# The load checks' names: the rest are the models' (dbt tests and the two that name findings).
LOAD_CHECK_NAMES = {
    "id_unique_and_not_null", "rows_match_last_load", "owner_id_not_null",
    "schema_unchanged", "freshness_check",
}  # fmt: skip
TIMEOUT = 300


@pytest.fixture(scope="module")
def emulator() -> Iterator[PersistIQEmulator]:
    with PersistIQEmulator(store=make_dataset(users=5, leads=345, campaigns=12)) as running:
        yield running


def cli(
    emulator: PersistIQEmulator,
    home: Path,
    duckdb_path: Path,
    *args: str,
    command: tuple[str, ...] = ("asset", "materialize"),
) -> subprocess.Popen:
    """``dagster asset materialize`` (or ``command``) as the README shows it, in ``home``, on
    ``duckdb_path``."""
    env = project_env(
        make_dagster_home(home),
        PERSISTIQ_API_KEY=emulator.api_key,
        PERSISTIQ_BASE_URL=emulator.base_url,
        PERSISTIQ_DUCKDB_PATH=str(duckdb_path),
        PERSISTIQ_PIPELINES_DIR=str(duckdb_path.parent / "dlt_pipelines"),
    )
    return subprocess.Popen(
        [str(DAGSTER), *command, "-m", MODULE, *args],
        cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def finish(process: subprocess.Popen) -> str:
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the CLI did not finish in {TIMEOUT} s:\n{output[-4000:]}") from None
    assert process.returncode == 0, output[-6000:]
    return output


def check_results(home: Path) -> list[tuple[str, bool]]:
    """(check name, passed) for every asset check evaluated in the instance at ``home``."""
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS] * len(runs)
        return [
            (data.check_name, data.passed)
            for run in runs
            for entry in instance.all_logs(
                run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if (data := entry.dagster_event.event_specific_data) is not None
        ]


def table_ids(duckdb_path: Path, table: str, where: str = "true") -> list[str]:
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        found = connection.execute(f"select id from persistiq.{table} where {where}")
        return sorted(row[0] for row in found.fetchall())


def assert_exact(emulator: PersistIQEmulator, duckdb_path: Path) -> None:
    store = emulator.store
    assert table_ids(duckdb_path, "leads") == sorted(lead["id"] for lead in store.leads)
    for table in ("users", "campaigns"):
        current = table_ids(duckdb_path, table, "_dlt_valid_to is null")
        assert current == sorted(record["id"] for record in store.records(table))


def test_the_readme_commands_succeed_in_fresh_default_instances(emulator, tmp_path):
    duckdb_path = tmp_path / "warehouse" / "persistiq_warehouse.duckdb"
    for attempt in range(REPEATS):
        home = tmp_path / f"dagster_home_{attempt}"
        finish(cli(emulator, home, duckdb_path, *CORE))
        finish(cli(emulator, home, duckdb_path, *LEADS))
        results = check_results(home)
        assert len(results) == CHECKS_PER_RUN["core"] + CHECKS_PER_RUN["leads"], results
        assert all(passed for _, passed in results), (attempt, results)
        assert_exact(emulator, duckdb_path)


def test_two_runs_started_at_once_on_one_duckdb_file_both_succeed(emulator, tmp_path):
    duckdb_path = tmp_path / "warehouse" / "persistiq_warehouse.duckdb"
    homes = [tmp_path / "dagster_home_a", tmp_path / "dagster_home_b"]
    emulator.latency = 1.0  # 4 pages: each run reads for 4 s or more, so the two overlap
    try:
        both = [cli(emulator, home, duckdb_path, *LEADS) for home in homes]
        outputs = [finish(process) for process in both]
    finally:
        emulator.latency = 0.0

    for home in homes:
        results = check_results(home)
        assert len(results) == CHECKS_PER_RUN["leads"] and all(p for _, p in results), results
    assert table_ids(duckdb_path, "leads") == sorted(lead["id"] for lead in emulator.store.leads)
    # One of them waited for the other's lock rather than failing on DuckDB's.
    assert any("Waiting up to" in output for output in outputs), outputs[0][-3000:]


ACTIVITY = [
    "--select", "persistiq/events,persistiq/replies",
    "--partition-range", "...".join(DEFAULT_UPDATED_DAYS),
]  # fmt: skip
SNAPSHOTS = ["--select", "tag:persistiq/loads=snapshot"]
MODELS = ["--select", "group:persistiq_analytics"]


def test_load_then_build_the_models_from_the_cli(emulator, tmp_path):
    """Every table loaded, then every model built, by the CLI in a fresh default instance:
    campaign performance as computed from the emulator's own records, every check passing."""
    duckdb_path = tmp_path / "warehouse" / "persistiq_warehouse.duckdb"
    home = tmp_path / "dagster_home"
    for selection in (SNAPSHOTS, LEADS, ACTIVITY, MODELS):
        finish(cli(emulator, home, duckdb_path, *selection))

    results = check_results(home)
    analytics = [(name, passed) for name, passed in results if name not in LOAD_CHECK_NAMES]
    assert len(analytics) == 39 and all(passed for _, passed in analytics), analytics
    expected = campaign_performance(emulator.store)
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        found = connection.execute(
            "select campaign_id, leads, replied, replies, positive_replies "
            "from persistiq_analytics.campaign_performance"
        ).fetchall()
    assert {row[0]: row[1:] for row in found} == {
        campaign_id: (c["leads"], c["replied"], c["replies"], c["positive_replies"])
        for campaign_id, c in expected.items()
    }


def test_the_leads_reconciliation_marks_deleted_leads_from_the_cli(tmp_path):
    """The README's on-demand command: leads PersistIQ deleted after the load get deleted_at,
    the others stay current."""
    duckdb_path = tmp_path / "warehouse" / "persistiq_warehouse.duckdb"
    home = tmp_path / "dagster_home"
    with PersistIQEmulator(store=make_dataset(users=3, leads=150, campaigns=3)) as emulator:
        finish(cli(emulator, home, duckdb_path, *LEADS))
        deleted = [lead["id"] for lead in emulator.store.leads[:2]]
        emulator.store.remove_leads(deleted)
        job = ("-j", "persistiq_leads_reconcile_job")
        output = finish(cli(emulator, home, duckdb_path, *job, command=("job", "execute")))

        assert "2 lead(s) found deleted" in output
        assert table_ids(duckdb_path, "leads", "deleted_at is not null") == sorted(deleted)
        assert table_ids(duckdb_path, "leads", "deleted_at is null") == sorted(
            lead["id"] for lead in emulator.store.leads
        )
