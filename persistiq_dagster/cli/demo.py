"""``make demo``: load everything from the bundled PersistIQ emulator into DuckDB, build the
analytics models, and print the answers.

Starts the emulator on loopback, builds the Definitions from the environment's settings
pointed at it (``build_defs``), runs their asset jobs in process (the same assets, checks and
resources ``dagster dev`` uses), then builds the models (the group ``persistiq_analytics``).
It prints a line per step, then one line per table (current rows in the warehouse next to
records on the server), the checks, and the campaigns by reply rate. Dagster's own log goes to
a file beside the warehouse, which the demo names.
"""

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import AssetSelection, materialize

from persistiq_dagster.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DUCKDB_PATH_ENV,
    PROJECT_DIR,
    PersistIQConfigError,
    Settings,
)
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME
from persistiq_dagster.defs.partitions import partition_range_tags
from persistiq_dagster.source.current_rows import DELETED_AT_COLUMN, VALID_TO_COLUMN, is_snapshot
from persistiq_emulator import EmulatorStore, PersistIQEmulator, make_dataset
from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS

MAILBOXES_TABLE = "users__mailboxes"  # a child table of users: current with its user
ASSET_JOBS = ("persistiq_users_campaigns_job", "persistiq_leads_job", "persistiq_activity_job")
PARTITIONED_JOBS = ("persistiq_leads_job", "persistiq_activity_job")

DEMO_DUCKDB_PATH = str(PROJECT_DIR / "data" / "persistiq_demo.duckdb")
TOP_CAMPAIGNS = 10
PERFORMANCE_SQL = """
select campaign_name, contacted, replied, reply_rate, positive_replies, positive_reply_rate
from {schema}.campaign_performance
order by reply_rate desc nulls last, replied desc, campaign_name
limit {limit}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m persistiq_dagster.cli.demo")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--leads", type=int, default=2345)
    parser.add_argument("--campaigns", type=int, default=30)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    store = make_dataset(users=args.users, leads=args.leads, campaigns=args.campaigns)
    with PersistIQEmulator(store=store) as emulator:
        try:  # the environment's settings, pointed at the emulator and the demo's file
            settings = Settings.from_env(
                {
                    **os.environ,
                    BASE_URL_ENV: emulator.base_url,
                    DUCKDB_PATH_ENV: os.getenv(DUCKDB_PATH_ENV, "").strip() or DEMO_DUCKDB_PATH,
                }
            )
        except PersistIQConfigError as error:
            print(error, file=sys.stderr)
            return 2
        os.environ[API_KEY_ENV] = emulator.api_key  # the key is read when a run starts
        log_path = Path(settings.duckdb_path).with_suffix(".log")
        print(f"Dagster's log: {log_path}")
        defs = build_defs(settings)

        # Partitioned jobs run every day the emulator's data spans, as one run (a backfill).
        every_day = partition_range_tags(*DEFAULT_UPDATED_DAYS)
        results = []
        for name in ASSET_JOBS:
            if name not in {job.name for job in defs.jobs or ()}:
                continue
            print(f"Running {name} ...", flush=True)
            with output_to(log_path):
                tags = every_day if name in PARTITIONED_JOBS else None
                results.append(defs.resolve_job_def(name).execute_in_process(tags=tags))
        if settings.runs_analytics and all(result.success for result in results):
            print("Building the analytics models (dbt) ...", flush=True)
            with output_to(log_path):
                results.append(
                    materialize(
                        [*defs.assets, *(defs.asset_checks or ())],
                        selection=AssetSelection.groups(ANALYTICS_GROUP_NAME),
                        resources=defs.resources,
                        raise_on_error=False,
                    )
                )
        served = served_counts(store, settings.enabled_tables)
        checks = [check for result in results for check in result.get_asset_check_evaluations()]
        pages = emulator.count()
    if not all(result.success for result in results):
        print(f"The demo run failed; see Dagster's log: {log_path}", file=sys.stderr)
        return 1
    duckdb_path, dataset = settings.duckdb_path, settings.dataset
    print(f"\nLoaded from {emulator.base_url} in {pages} requests into {duckdb_path}")
    print(f"{'table':<36}{'rows':>8}{'on server':>11}")
    with duckdb.connect(duckdb_path, read_only=True) as connection:
        for table, expected in served.items():
            (rows,) = connection.execute(current_rows_sql(dataset, table)).fetchone()
            print(f"{dataset + '.' + table:<36}{rows:>8}{expected:>11}")
        if settings.runs_analytics:
            print_campaign_performance(connection, settings.analytics_schema)
    failed = [f"{c.asset_key.to_user_string()} {c.check_name}" for c in checks if not c.passed]
    print(f"Asset checks: {len(checks) - len(failed)} of {len(checks)} passed", *failed, sep="\n  ")
    query = f"select * from {settings.analytics_schema}.campaign_performance limit 5"
    snippet = f"import duckdb; duckdb.connect('{duckdb_path}').sql('{query}').show()"
    print(f'\nQuery it: {sys.executable} -c "{snippet}"')
    return 0


def print_campaign_performance(connection: duckdb.DuckDBPyConnection, schema: str) -> None:
    """The top campaigns by reply rate, from the model campaign_performance."""
    rows = connection.execute(PERFORMANCE_SQL.format(schema=schema, limit=TOP_CAMPAIGNS))
    print(f"\nTop campaigns by reply rate ({schema}.campaign_performance)")
    print(f"{'campaign':<32}{'contacted':>10}{'replied':>8}{'rate':>7}{'positive':>9}{'rate':>7}")
    for name, contacted, replied, rate, positive, positive_rate in rows.fetchall():
        print(
            f"{name[:31]:<32}{contacted:>10}{replied:>8}{percent(rate):>7}"
            f"{positive:>9}{percent(positive_rate):>7}"
        )


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Everything written to stdout and stderr while the block runs, Dagster's log and dbt's
    included, appended to ``path`` instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def served_counts(store: EmulatorStore, tables: tuple[str, ...]) -> dict[str, int]:
    """What the emulator holds, per table (all its events and replies fall in the demo's days)."""
    served = {}
    for table in tables:
        if table == "campaign_leads":
            served[table] = sum(len(store.campaign_leads_of(c["id"])) for c in store.campaigns)
        else:
            served[table] = len(store.records(table))
        if table == "users":
            served[MAILBOXES_TABLE] = sum(len(user.get("mailboxes") or []) for user in store.users)
    return served


def current_rows_sql(dataset: str, table: str) -> str:
    if table == MAILBOXES_TABLE:
        return (
            f"select count(*) from {dataset}.{table} m join {dataset}.users u "
            f"on m._dlt_parent_id = u._dlt_id where u.{VALID_TO_COLUMN} is null"
        )
    current = f"{VALID_TO_COLUMN} is null" if is_snapshot(table) else "true"
    if table == "leads":
        current = f"{DELETED_AT_COLUMN} is null"
    return f"select count(*) from {dataset}.{table} where {current}"


if __name__ == "__main__":
    sys.exit(main())
