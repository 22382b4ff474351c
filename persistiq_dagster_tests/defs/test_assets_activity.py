"""Events and replies by day: every record in its day, once; a backfill equals a full load;
reply bodies stay out of the warehouse unless asked for."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance

from persistiq_dagster.defs.partitions import partition_range_tags
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster_tests.support import (
    TEST_DAYS,
    assert_each_page_once,
    page_count,
    persistiq_for,
    query,
    run_assets,
    served_pages,
    ten_day_dataset,
)
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.data import event_campaign_id, event_time, public, reply_time
from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS

ACTIVITY = ["events", "replies"]
BODY_FRAGMENT = "了解しました"  # in the emulator's reply bodies (and previews)


def ids(warehouse: PersistIQWarehouse, table: str) -> set[str]:
    return {row[0] for row in query(warehouse, f"select id from persistiq.{table}")}


def warehouse_at(root: Path) -> PersistIQWarehouse:
    return PersistIQWarehouse(
        duckdb_path=str(root / "warehouse.duckdb"), pipelines_dir=str(root / "dlt_pipelines")
    )


@pytest.mark.parametrize("event_shape", ["openapi", pytest.param("docs", marks=pytest.mark.slow)])
def test_a_range_of_days_loads_every_event_and_reply_once_in_one_pass(event_shape, warehouse):
    store = ten_day_dataset(users=5, leads=345, campaigns=12, seed=7, event_shape=event_shape)
    with PersistIQEmulator(store=store) as emulator:
        run_assets(persistiq_for(emulator), warehouse, select=ACTIVITY)

    assert ids(warehouse, "events") == {event["id"] for event in store.events}
    assert ids(warehouse, "replies") == {reply["id"] for reply in store.replies}
    # Either shape gives the same columns to query by.
    (missing,) = query(
        warehouse,
        "select count(*) filter (where occurred_at is null or event_type is null) "
        "from persistiq.events",
    )[0:1]
    assert missing == (0,)
    by_campaign = dict(query(warehouse, "select id, campaign_id from persistiq.events"))
    assert by_campaign == {event["id"]: event_campaign_id(event) for event in store.events}
    assert any(by_campaign.values())
    # One pass: every page of /events once, every campaign's replies once, one window.
    assert_each_page_once(emulator, "/v1/events", len(store.events))
    for campaign in store.campaigns:
        path = f"/v1/campaigns/{campaign['id']}/replies"
        pages = page_count(len(store.replies_of(campaign["id"])))
        assert served_pages(emulator, path) == {page: 1 for page in range(1, pages + 1)}
    windows = {
        (r.query.get("start_at"), r.query.get("end_at"))
        for r in emulator.requests
        if r.path == "/v1/events" or r.path.endswith("/replies")
    }
    first, last = (date.fromisoformat(day) for day in TEST_DAYS)
    day_before, day_after = first - timedelta(days=1), last + timedelta(days=1)
    assert windows == {(f"{day_before}T23:59:59Z", f"{day_after}T00:00:01Z")}


@pytest.mark.parametrize(
    "window_ends", ["inclusive", pytest.param("exclusive", marks=pytest.mark.slow)]
)
def test_a_days_partition_holds_that_days_events_and_replies_and_nothing_else(
    window_ends, store, warehouse
):
    """Days chosen around records at exactly midnight, whatever the server does at its ends."""
    midnight = next(
        moment
        for moment in map(event_time, store.events)
        if moment and moment == moment.replace(hour=0, minute=0, second=0)
    )
    with PersistIQEmulator(store=store, window_ends=window_ends) as emulator:
        persistiq = persistiq_for(emulator)
        for day in (midnight - timedelta(days=1), midnight):
            start = day.replace(hour=0, minute=0, second=0)
            end = start + timedelta(days=1)
            fresh = warehouse_at(Path(warehouse.duckdb_path).parent / f"{start:%Y%m%d}")
            run_assets(persistiq, fresh, select=ACTIVITY, partition_key=f"{start:%Y-%m-%d}")

            expected_events = {e["id"] for e in store.events if start <= event_time(e) < end}
            expected_replies = {r["id"] for r in store.replies if start <= reply_time(r) < end}
            assert ids(fresh, "events") == expected_events, start
            assert set(_ids_or_none(fresh, "replies")) == expected_replies, start
    assert any(event_time(e) == midnight for e in store.events)


def _ids_or_none(warehouse: PersistIQWarehouse, table: str) -> set[str]:
    """A day without replies leaves no replies table (dlt creates it with its first row)."""
    exists = query(
        warehouse,
        f"select count(*) from information_schema.tables where table_name = '{table}'",
    )[0][0]
    return ids(warehouse, table) if exists else set()


@pytest.mark.slow
def test_a_backfill_in_pieces_equals_one_full_load(tmp_path):
    store = make_dataset(users=5, leads=345, campaigns=12, seed=7)  # two months, in three pieces
    whole, pieces = warehouse_at(tmp_path / "whole"), warehouse_at(tmp_path / "pieces")
    with PersistIQEmulator(store=store) as emulator:
        persistiq = persistiq_for(emulator)
        all_days = partition_range_tags(*DEFAULT_UPDATED_DAYS)
        run_assets(persistiq, whole, select=ACTIVITY, tags=all_days)
        for first, last in (
            ("2024-01-01", "2024-01-20"),
            ("2024-01-21", "2024-02-10"),
            ("2024-02-11", "2024-03-01"),
        ):
            run_assets(persistiq, pieces, select=ACTIVITY, tags=partition_range_tags(first, last))

    for table, columns in (
        ("events", "id, occurred_at, event_type, campaign_id, lead_id, user_id"),
        ("replies", "id, sent_at, campaign_id, lead_id, subject, to_emails::varchar"),
    ):
        sql = f"select {columns} from persistiq.{table} order by id"
        assert query(whole, sql) == query(pieces, sql)
        assert len(query(whole, sql)) == len(getattr(store, table))


def test_reply_bodies_are_nowhere_in_the_warehouse_or_dlts_files_by_default(emulator, tmp_path):
    run_assets(persistiq_for(emulator), warehouse_at(tmp_path), select=["replies"])
    columns = {
        row[0]
        for row in query(
            warehouse_at(tmp_path),
            "select column_name from information_schema.columns where table_name = 'replies'",
        )
    }
    assert "subject" in columns and not {"body", "preview"} & columns
    assert not _files_holding(tmp_path, BODY_FRAGMENT.encode())
    assert not _files_holding(tmp_path / "dlt_pipelines", b'"body"')  # not even in a schema


def test_reply_bodies_load_when_turned_on(emulator, tmp_path):
    """The other side of the test above: the search finds bodies where they are."""
    persistiq = persistiq_for(emulator, load_reply_bodies=True)
    run_assets(persistiq, warehouse_at(tmp_path), select=["replies"])
    bodies = dict(query(warehouse_at(tmp_path), "select id, body from persistiq.replies"))
    assert bodies == {reply["id"]: reply["body"] for reply in emulator.store.replies}
    assert _files_holding(tmp_path / "dlt_pipelines", b'"body"')
    assert _files_holding(tmp_path, BODY_FRAGMENT.encode())  # in the DuckDB file


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.mark.slow
def test_events_read_several_pages_at_a_time_whatever_the_page_size(tmp_path):
    """PersistIQ's docs say 500 events a page; nothing assumes 100."""
    store = ten_day_dataset(users=3, leads=50, campaigns=3, seed=3, events=1234, replies=0)
    with PersistIQEmulator(store=store, page_size=500) as emulator:
        run_assets(persistiq_for(emulator), warehouse_at(tmp_path), select=["events"])
        served = served_pages(emulator, "/v1/events")
    assert ids(warehouse_at(tmp_path), "events") == {event["id"] for event in store.events}
    assert {page: served[page] for page in (1, 2, 3)} == {1: 1, 2: 1, 3: 1}
    assert sum(served.values()) <= 3 + 2  # pages past the end: at most min(3, 8) - 1


def test_window_bounds_are_recorded_in_the_materialisation(emulator, warehouse):
    result = run_assets(
        persistiq_for(emulator), warehouse, select=["events"], partition_key="2024-01-05"
    )
    (materialization,) = [
        event.materialization for event in result.get_asset_materialization_events()
    ]
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["persistiq/window_start"] == "2024-01-05T00:00:00Z"
    assert metadata["persistiq/start_at"] == "2024-01-04T23:59:59Z"
    assert metadata["persistiq/end_at"] == "2024-01-06T00:00:01Z"
    start = datetime(2024, 1, 5, tzinfo=UTC)
    in_day = [
        e for e in emulator.store.events if start <= event_time(e) < start + timedelta(days=1)
    ]
    assert metadata["persistiq/rows"] == len(in_day) > 0


def test_an_event_without_a_time_is_counted_and_reported_not_placed_silently(
    store, emulator, persistiq, warehouse
):
    """PersistIQ's contract lets an event's time be null: such an event cannot be placed in a
    day, so each window read keeps it, counts it, and says so; merged on id, it is one row."""
    timed = public(store.events[0])
    untimed = {**timed, "id": "evt_no_time", "created_at": None, "event_at": None}
    page = {
        "status": "success", "errors": [], "events": [timed, untimed],
        "has_more": False, "next_page": None,
    }  # fmt: skip
    instance, results = DagsterInstance.ephemeral(), []
    for day in ("2024-01-03", "2024-01-04"):
        emulator.inject(200, body=page, path="/v1/events")
        results.append(
            run_assets(
                persistiq, warehouse, select=["events"], partition_key=day, instance=instance
            )
        )

    for result in results:
        (event,) = result.get_asset_materialization_events()
        assert event.materialization.metadata["persistiq/records_without_time"].value == 1
        said = [entry.user_message for entry in instance.all_logs(result.run_id)]
        assert sum("1 events record(s) had no time" in message for message in said) == 1
    assert query(warehouse, "select count(*) from persistiq.events where id = 'evt_no_time'") == [
        (1,)
    ]
