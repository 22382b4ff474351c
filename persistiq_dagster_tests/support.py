"""What the tests share beyond fixtures: the project as the default settings build it, the
standard data, and helpers to load it, build the models and read the warehouse.

Kept out of ``conftest.py`` so that pytest, and pytest-xdist's controller, which runs no test,
start without importing Dagster, dlt and dbt; the fixtures there import this when first used.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import requests
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    materialize,
)

from persistiq_dagster.config import DEFAULT_CONCURRENT_REQUESTS, Settings
from persistiq_dagster.defs.analytics.resource import PersistIQAnalytics
from persistiq_dagster.defs.assets import build_load_assets
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.jobs import build_load_jobs
from persistiq_dagster.defs.leads_reconcile import persistiq_leads_reconcile_job
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME
from persistiq_dagster.defs.partitions import daily_partitions, partition_range_tags
from persistiq_dagster.defs.resources.dlt import PersistIQDltResource
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.catalog import (
    ACTIVITY_PIPELINE,
    CORE_PIPELINE,
    LEADS_PIPELINE,
    TABLE_NAMES,
    pipeline_tables,
)
from persistiq_dagster_tests.analytics_oracle import loaded_replies
from persistiq_emulator import EmulatorStore, PersistIQEmulator, make_dataset
from persistiq_emulator.variants import DATA_VARIANTS

# The project as the default settings build it: what a user gets with no PERSISTIQ_* set.
DEFAULT_SETTINGS = Settings()
DEFAULT_DEFS = build_defs(DEFAULT_SETTINGS)
PARTITIONS = daily_partitions(DEFAULT_SETTINGS)
LOAD_ASSETS = build_load_assets(DEFAULT_SETTINGS, PARTITIONS)
LOAD_JOBS = build_load_jobs(LOAD_ASSETS)
CORE_TABLES = pipeline_tables(CORE_PIPELINE)
ACTIVITY_TABLES = pipeline_tables(ACTIVITY_PIPELINE)


# The tests' data spans ten days, not the emulator's default two months: a run over a range of
# days records a materialisation per day, which costs more than the load itself at 61 days.
TEST_DAYS = ("2024-01-01", "2024-01-10")
TEST_SPAN = {
    "updated_from": datetime(2024, 1, 1, tzinfo=UTC),
    "updated_to": datetime(2024, 1, 10, 12, tzinfo=UTC),
}


def ten_day_dataset(**options) -> EmulatorStore:
    """``make_dataset`` with its leads, events and replies in ``TEST_DAYS``."""
    return make_dataset(**{**TEST_SPAN, **options})


def standard_store() -> EmulatorStore:
    """The standard data: 5 users, 345 leads, 12 campaigns over ``TEST_DAYS``."""
    return ten_day_dataset(users=5, leads=345, campaigns=12, seed=7)


def persistiq_for(emulator: PersistIQEmulator, **overrides) -> PersistIQResource:
    """The API resource pointed at ``emulator``, with quick retries for tests.

    Build a new resource to change a setting: Dagster keeps the config a resource was
    constructed with, so ``model_copy(update=...)`` would not reach the run.
    """
    settings = {
        "api_key": emulator.api_key,
        "base_url": emulator.base_url,
        "max_retries": 2,
        "backoff_factor": 0.01,
        "max_retry_delay": 0.05,
        **overrides,
    }
    return PersistIQResource(**settings)


def duckdb_warehouse(folder: Path) -> PersistIQWarehouse:
    """A DuckDB warehouse, with dlt's pipelines, in ``folder``."""
    return PersistIQWarehouse(
        duckdb_path=str(folder / "warehouse.duckdb"), pipelines_dir=str(folder / "dlt_pipelines")
    )


def postgres_warehouse(dataset: str, folder: Path) -> PersistIQWarehouse:
    """A PostgreSQL warehouse in ``dataset`` (dlt's credentials set by the caller)."""
    return PersistIQWarehouse(
        destination="postgres",
        dataset_name=dataset,
        loader_file_format="insert_values",  # as PERSISTIQ_DESTINATION=postgres defaults to
        pipelines_dir=str(folder / "dlt_pipelines"),
    )


# Every day ten_day_dataset() spreads its records over, as one run (a backfill).
EMULATOR_DAYS = partition_range_tags(*TEST_DAYS)


def run_assets(
    persistiq: PersistIQResource,
    warehouse: PersistIQWarehouse,
    select: Sequence[str] = ("users", "campaigns", "leads"),
    raise_on_error: bool = True,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
    instance: DagsterInstance | None = None,
) -> ExecuteInProcessResult:
    """Materialise the selected PersistIQ assets in process, in one run per multi-asset.

    Leads, events and replies run for ``partition_key``, or ``tags``, or by default the days
    the emulator's data spans, in one run. Returns the last run's result, or the first that
    failed.
    """
    resources = {"dlt": PersistIQDltResource(), "persistiq": persistiq, "warehouse": warehouse}
    window = {
        "partition_key": partition_key,
        "tags": None if partition_key else (tags or EMULATOR_DAYS),
    }
    runs = []
    for assets, names, partitioned in (
        (LOAD_ASSETS.core, CORE_TABLES, False),
        (LOAD_ASSETS.leads, ("leads",), True),
        (LOAD_ASSETS.activity, ACTIVITY_TABLES, True),
    ):
        selected = [AssetKey(["persistiq", name]) for name in select if name in names]
        if selected:
            runs.append(
                {"assets": [assets], "selection": selected, **(window if partitioned else {})}
            )
    for run in runs:
        result = materialize(
            resources=resources, raise_on_error=raise_on_error, instance=instance, **run
        )
        if not result.success:
            return result
    return result


@dataclass(frozen=True)
class Loaded:
    """Every table loaded once from the standard data: for tests that only read what a load
    reported and wrote. ``results``: the run of each dlt pipeline, by pipeline name."""

    store: EmulatorStore
    warehouse: PersistIQWarehouse
    results: dict[str, ExecuteInProcessResult]


def load_everything(folder: Path) -> Loaded:
    """The standard data, every table loaded once into a warehouse in ``folder``."""
    store, warehouse = standard_store(), duckdb_warehouse(folder)
    with PersistIQEmulator(store=store) as emulator:
        results = {
            pipeline: run_assets(persistiq_for(emulator), warehouse, select=tables)
            for pipeline, tables in (
                (CORE_PIPELINE, CORE_TABLES),
                (LEADS_PIPELINE, ("leads",)),
                (ACTIVITY_PIPELINE, ACTIVITY_TABLES),
            )
        }
    return Loaded(store, warehouse, results)


# The models are built on the standard load with days cut 8 hours west of UTC (a timezone
# with summer time): events and replies near midnight UTC fall on the day before.
MODELS_TIMEZONE = "America/Los_Angeles"


def build_models(
    warehouse: PersistIQWarehouse,
    settings: Settings = DEFAULT_SETTINGS,
    selection: AssetSelection | None = None,
    raise_on_error: bool = True,
    runs_dir: Path | None = None,
) -> ExecuteInProcessResult:
    """Materialise the analytics models (and seed, and their checks) on ``warehouse``; dbt's
    run folders under ``runs_dir`` (the system's temporary folder when None)."""
    defs = build_defs(settings)
    analytics = PersistIQAnalytics.from_settings(settings)
    if runs_dir is not None:
        runs_dir.mkdir(parents=True, exist_ok=True)
        analytics = PersistIQAnalytics(**{**analytics.model_dump(), "runs_dir": str(runs_dir)})
    resources = {**(defs.resources or {}), "warehouse": warehouse, "analytics": analytics}
    return materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection or AssetSelection.groups(ANALYTICS_GROUP_NAME),
        resources=resources,
        raise_on_error=raise_on_error,
    )


# What the models' data holds beyond the standard data, for the checks to find.
UNMAPPED_EVENT_TYPES = {"email_forwarded": 2, "meeting_booked": 1}
EXTRA_REPLIED = 5  # PersistIQ counts this many more replied leads for one campaign


def models_dataset() -> EmulatorStore:
    """The standard data with every variant of it PersistIQ's contract allows, plus events
    of types the seed does not map, a campaign whose prospects_replied is 5 above its loaded
    replies, and one that contacted nobody."""
    store = ten_day_dataset(users=5, leads=345, campaigns=12, seed=7, variants=DATA_VARIANTS)
    # A reply without a time or a lead cannot count as a replied lead in the models: PersistIQ's
    # stats are made to agree with the rest, so that the one campaign below is the only one
    # the replies check finds disagreeing.
    for campaign in store.campaigns:
        campaign["stats"]["prospects_replied"] = len(replied_leads(store, campaign["id"]))
    template = next(event for event in store.events if event["event_type"] == "email_sent")
    kinds = [kind for kind, count in UNMAPPED_EVENT_TYPES.items() for _ in range(count)]
    for number, kind in enumerate(kinds):
        store.events.append({**template, "id": f"evt_unmapped{number}", "event_type": kind})
    replied = next(c for c in store.campaigns if c["stats"]["prospects_replied"] > 0)
    replied["stats"] = {
        **replied["stats"],
        "prospects_replied": replied["stats"]["prospects_replied"] + EXTRA_REPLIED,
    }
    silent = next(c for c in store.campaigns if not store.replies_of(c["id"]))
    silent["stats"] = dict.fromkeys(silent["stats"], 0)
    store.bump()
    return store


def replied_leads(store: EmulatorStore, campaign_id: str) -> set[str]:
    """The leads with a reply to the campaign that a load holds (see loaded_replies)."""
    return {
        reply["lead_id"]
        for reply in loaded_replies(store)
        if reply["campaign_id"] == campaign_id and reply["lead_id"] is not None
    }


@dataclass(frozen=True)
class Models:
    """Every table loaded once from ``models_dataset()`` and the models built on it, days cut
    in ``MODELS_TIMEZONE``; read-only for tests."""

    store: EmulatorStore
    warehouse: PersistIQWarehouse
    result: ExecuteInProcessResult
    timezone: str
    runs_dir: Path  # dbt's run folders: empty once every run succeeded


DELETED_LEADS = 2  # leads in no campaign that PersistIQ deletes after the load


def load_and_build_models(folder: Path) -> Models:
    """``models_dataset()`` loaded into a warehouse in ``folder``, ``DELETED_LEADS`` of its
    leads then deleted in PersistIQ and found so by the reconciliation, and the models built."""
    store, warehouse = models_dataset(), duckdb_warehouse(folder)
    with PersistIQEmulator(store=store) as emulator:
        persistiq = persistiq_for(emulator)
        run_assets(persistiq, warehouse, select=TABLE_NAMES)
        in_campaigns = {link["lead_id"] for link in store.campaign_leads}
        alone = [lead["id"] for lead in store.leads if lead["id"] not in in_campaigns]
        store.remove_leads(alone[:DELETED_LEADS])
        reconcile = persistiq_leads_reconcile_job.execute_in_process(
            resources={"persistiq": persistiq, "warehouse": warehouse}
        )
        assert reconcile.success
    settings, runs = Settings(timezone=MODELS_TIMEZONE), folder / "dbt_runs"
    result = build_models(warehouse, settings, runs_dir=runs)
    return Models(store, warehouse, result, MODELS_TIMEZONE, runs)


def with_test_resources(defs: Definitions, **resources) -> Definitions:
    """``defs`` as ``build_defs`` made them, with ``resources`` in place of the settings'."""
    return Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        executor=defs.executor,
        resources={**(defs.resources or {}), **resources},
    )


def query(warehouse: PersistIQWarehouse, sql: str) -> list[tuple]:
    with duckdb.connect(warehouse.duckdb_path, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def count_rows(warehouse: PersistIQWarehouse, table: str) -> int:
    return query(warehouse, f"select count(*) from persistiq.{table}")[0][0]


def page_count(records: int, page_size: int = 100) -> int:
    return max(1, -(-records // page_size))


def served_pages(emulator: PersistIQEmulator, path: str) -> Counter[int]:
    """How many times each page of ``path`` was answered 200."""
    return Counter(
        int(r.query.get("page", "1"))
        for r in emulator.requests
        if r.path == path and r.status == 200
    )


def assert_each_page_once(
    emulator: PersistIQEmulator,
    path: str,
    records: int,
    concurrency: int = DEFAULT_CONCURRENT_REQUESTS,
) -> int:
    """Every page of the list answered 200 exactly once; beyond its last page, only the
    reader's guesses: at most ``min(pages, concurrency) - 1``. Returns the 200s counted."""
    served, pages = served_pages(emulator, path), page_count(records)
    assert {page: served[page] for page in range(1, pages + 1)} == dict.fromkeys(
        range(1, pages + 1), 1
    )
    past_the_end = sum(count for page, count in served.items() if page > pages)
    assert past_the_end <= min(pages, concurrency) - 1
    return sum(served.values())


def scan(http: requests.Session, url: str, params: dict | None = None) -> list[dict]:
    """Read pages 1, 2, ... with our own params until next_page is null; return the bodies.

    Only the page number is taken from next_page (the safe way: the URL may drop filters).
    """
    pages, page = [], 1
    while True:
        response = http.get(url, params={**(params or {}), "page": page})
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if pages[-1]["next_page"] is None:
            return pages
        page += 1
        assert page < 1000, "endless paging"
