"""Benchmark: the analytics models (dbt) on a big warehouse, and what dbt adds to loading the
Definitions.

    .venv/bin/python -m bench.analytics                 # 1M leads, 1M events, 3 builds
    .venv/bin/python -m bench.analytics --rows 100000 --repeats 1 --baseline HEAD~1

1. Build: every table is loaded from the emulator through the project's own jobs (a small
   dataset), then leads and events are grown in DuckDB to ``--rows`` each (copies of the loaded
   rows with new ids, events spread over 60 days, so the models group and join as they would),
   and every model is built ``--repeats`` times (``dagster.materialize`` of the group
   ``persistiq_analytics``, checks included, in this process). Prints the median (min-max).
2. Definitions: ``dg check defs`` in the project, against the same command in a git worktree of
   ``--baseline`` (default: the last commit before the models), both with this venv
   (``PYTHONPATH`` points Python at the worktree's package), ``--repeats`` + 2 runs each.

Every figure also goes to bench/results/analytics-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
from dagster import AssetSelection, materialize

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME
from persistiq_dagster.defs.partitions import partition_range_tags
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
BASELINE = "c82e2b2"  # the last commit before the analytics models
LOAD_JOBS = ("persistiq_users_campaigns_job", "persistiq_leads_job", "persistiq_activity_job")


def load(settings: Settings) -> None:
    """Every table, through the project's jobs, from a small emulated account."""
    store = make_dataset(users=5, leads=2345, campaigns=30, events=4000, replies=600)
    with PersistIQEmulator(store=store) as emulator:
        os.environ["PERSISTIQ_API_KEY"] = emulator.api_key
        defs = build_defs(replace(settings, base_url=emulator.base_url))
        every_day = partition_range_tags(*DEFAULT_UPDATED_DAYS)
        for name in LOAD_JOBS:
            job = defs.resolve_job_def(name)
            tags = None if name == LOAD_JOBS[0] else every_day
            assert job.execute_in_process(tags=tags).success, name


def grow(duckdb_path: str, dataset: str, rows: int) -> dict[str, int]:
    """Leads and events grown to ``rows`` each from the loaded ones, with new ids."""
    with duckdb.connect(duckdb_path) as connection:
        for table, days in (("leads", None), ("events", 60)):
            name = f"{dataset}.{table}"
            (have,) = connection.execute(f"select count(*) from {name}").fetchone()
            shifted = (
                f", occurred_at + to_days(cast(i % {days} as integer)) as occurred_at"
                if days
                else ""
            )
            connection.execute(
                f"""
                insert into {name} by name
                select t.* exclude (n) replace ('{table}_bench_' || i as id{shifted})
                from range({rows - have}) r(i)
                join (select *, row_number() over () - 1 as n from {name}) t
                  on t.n = i % {have}
                """
            )
        return {
            table: connection.execute(f"select count(*) from {dataset}.{table}").fetchone()[0]
            for table in ("leads", "events", "replies", "campaign_leads", "campaigns")
        }


def build(settings: Settings) -> float:
    defs = build_defs(settings)
    started = time.perf_counter()
    result = materialize(
        [*defs.assets, *(defs.asset_checks or ())],
        selection=AssetSelection.groups(ANALYTICS_GROUP_NAME),
        resources=defs.resources,
        raise_on_error=False,
    )
    elapsed = time.perf_counter() - started
    assert result.success, "the models failed to build"
    return elapsed


def check_defs_seconds(folder: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "dg"), "check", "defs"], cwd=folder, env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def definitions_load(baseline: str, runs: int) -> dict[str, list[float]]:
    """``dg check defs`` here and in a worktree of ``baseline``, alternately."""
    with tempfile.TemporaryDirectory() as folder:
        worktree = Path(folder) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), baseline],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        try:
            here = {**os.environ, "DAGSTER_HOME": str(Path(folder) / "home_here")}
            there = {
                **os.environ,
                "DAGSTER_HOME": str(Path(folder) / "home_baseline"),
                "PYTHONPATH": str(worktree),
            }
            for home in (here, there):
                Path(home["DAGSTER_HOME"]).mkdir()
            times: dict[str, list[float]] = {"with_models": [], "baseline": []}
            for _ in range(runs):
                times["with_models"].append(check_defs_seconds(ROOT, here))
                times["baseline"].append(check_defs_seconds(worktree, there))
            return times
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            duckdb_path=str(Path(folder) / "bench.duckdb"),
            pipelines_dir=str(Path(folder) / "dlt"),
        )
        load(settings)
        counts = grow(settings.duckdb_path, settings.dataset, args.rows)
        print("rows:", ", ".join(f"{table} {n:,}" for table, n in counts.items()), flush=True)
        builds = [build(settings) for _ in range(args.repeats)]
    print(f"build every model: {summary(builds)}", flush=True)
    loads = definitions_load(args.baseline, args.repeats + 2)
    growth = statistics.median(loads["with_models"]) - statistics.median(loads["baseline"])
    print(f"dg check defs: {summary(loads['with_models'])} with the models, "
          f"{summary(loads['baseline'])} at {args.baseline}: {growth:+.2f} s")  # fmt: skip

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"analytics-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps({"rows": counts, "builds": builds, "check_defs": loads}, indent=2))
    print(f"figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
