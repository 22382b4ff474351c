"""``make demo``: load everything from the bundled PersistIQ emulator into DuckDB.

Starts the emulator on loopback, points the project's settings at it, runs the Definitions'
two jobs in process (the same assets, checks and resources ``dagster dev`` uses), then prints
one line per table: current rows in the warehouse next to records on the server.
"""

import argparse
import os
import sys

import duckdb

from persistiq_dagster import settings
from persistiq_dagster.emulator import PersistIQEmulator, make_dataset
from persistiq_dagster.emulator.data import DEFAULT_UPDATED_DAYS
from persistiq_dagster.partitions import partition_range_tags
from persistiq_dagster.tables import VALID_TO_COLUMN, is_snapshot

DEMO_DUCKDB_PATH = str(settings.PROJECT_DIR / "data" / "persistiq_demo.duckdb")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m persistiq_dagster.demo")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--leads", type=int, default=2345)
    parser.add_argument("--campaigns", type=int, default=30)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    store = make_dataset(users=args.users, leads=args.leads, campaigns=args.campaigns)
    with PersistIQEmulator(store=store) as emulator:
        os.environ[settings.API_KEY_ENV] = emulator.api_key
        os.environ[settings.BASE_URL_ENV] = emulator.base_url
        os.environ.setdefault(settings.DUCKDB_PATH_ENV, DEMO_DUCKDB_PATH)
        from persistiq_dagster.definitions import defs  # reads the settings just set

        results = [
            defs.resolve_job_def("persistiq_users_campaigns_job").execute_in_process(),
            # Every day the emulator's leads were updated in, as one run (a backfill).
            defs.resolve_job_def("persistiq_leads_job").execute_in_process(
                tags=partition_range_tags(*DEFAULT_UPDATED_DAYS)
            ),
        ]
        served = {name: len(getattr(store, name)) for name in ("users", "campaigns", "leads")}
        checks = [check for result in results for check in result.get_asset_check_evaluations()]
        pages = emulator.count()
    if not all(result.success for result in results):
        print("The demo run failed; see the Dagster log above.", file=sys.stderr)
        return 1
    duckdb_path = os.environ[settings.DUCKDB_PATH_ENV]
    dataset = os.getenv(settings.DATASET_ENV, settings.DEFAULT_DATASET)
    print(f"\nLoaded from {emulator.base_url} in {pages} requests into {duckdb_path}")
    print(f"{'table':<22}{'rows':>8}{'on server':>11}")
    with duckdb.connect(duckdb_path, read_only=True) as connection:
        for table, expected in served.items():
            current = f"{VALID_TO_COLUMN} is null" if is_snapshot(table) else "true"
            (rows,) = connection.execute(
                f"select count(*) from {dataset}.{table} where {current}"
            ).fetchone()
            print(f"{dataset + '.' + table:<22}{rows:>8}{expected:>11}")
    failed = [f"{c.asset_key.to_user_string()} {c.check_name}" for c in checks if not c.passed]
    print(f"Asset checks: {len(checks) - len(failed)} of {len(checks)} passed", *failed, sep="\n  ")
    query = f"select * from {dataset}.leads limit 5"
    snippet = f"import duckdb; duckdb.connect('{duckdb_path}').sql('{query}').show()"
    print(f'\nQuery it: {sys.executable} -c "{snippet}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
