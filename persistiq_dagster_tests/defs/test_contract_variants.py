"""What the load does with each variant of the data PersistIQ's contract allows and the default
emulator never sends (persistiq_emulator/variants.py): every table loaded once with all the
variants at once, then read; the variants that need a window of their own run one."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance

from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster_tests.support import (
    ACTIVITY_TABLES,
    CORE_TABLES,
    count_rows,
    duckdb_warehouse,
    persistiq_for,
    query,
    run_assets,
    served_pages,
    ten_day_dataset,
)
from persistiq_emulator import EmulatorStore, PersistIQEmulator
from persistiq_emulator.data import (
    event_time,
    parse_timestamp,
    reply_campaign_id,
    reply_time,
)
from persistiq_emulator.variants import CONTRACT_VARIANTS, ODD_EMPLOYEES, server_settings

EVENTS = 1_200  # more than two pages of 500
UNTIMED = "persistiq/records_without_time"


def contract_store(*variants: str) -> EmulatorStore:
    return ten_day_dataset(leads=345, campaigns=12, events=EVENTS, seed=7, variants=variants)


@dataclass(frozen=True)
class Varied:
    store: EmulatorStore
    warehouse: PersistIQWarehouse
    metadata: dict[str, dict]  # the last materialisation's metadata values, by table
    emulator: PersistIQEmulator  # stopped; its log of requests stays


@pytest.fixture(scope="module")
def varied(tmp_path_factory) -> Varied:
    """Every table loaded once, every variant at once, the days of the data in one run."""
    store = contract_store(*CONTRACT_VARIANTS)
    warehouse = duckdb_warehouse(tmp_path_factory.mktemp("variants"))
    metadata = {}
    with PersistIQEmulator(store=store, **server_settings(CONTRACT_VARIANTS)) as emulator:
        for tables in (CORE_TABLES, ("leads",), ACTIVITY_TABLES):
            result = run_assets(persistiq_for(emulator), warehouse, select=tables)
            for event in result.get_asset_materialization_events():
                values = {k: v.value for k, v in event.materialization.metadata.items()}
                metadata[event.asset_key.path[-1]] = values
    return Varied(store, warehouse, metadata, emulator)


def utc(text: str) -> datetime:
    return parse_timestamp(text).astimezone(UTC)


def lead_time(lead: dict) -> datetime | None:
    return utc(lead["updated_at"]) if "updated_at" in lead else None


def loaded_times(varied: Varied, table: str, column: str) -> dict[str, datetime | None]:
    rows = query(varied.warehouse, f"select id, {column} from persistiq.{table}")
    return {row_id: moment and moment.astimezone(UTC) for row_id, moment in rows}


def test_every_record_of_every_table_is_loaded_once(varied):
    store = varied.store
    for table, expected in (
        ("leads", store.leads),
        ("campaigns", store.campaigns),
        ("events", store.events),
        ("replies", store.replies),
        ("campaign_leads", store.campaign_leads),
        ("lead_fields", store.lead_fields),
    ):
        assert count_rows(varied.warehouse, table) == len(expected), table
        rows = query(varied.warehouse, f"select count(distinct id) from persistiq.{table}")
        assert rows == [(len(expected),)], table


def test_leads_without_times_load_with_null_times_and_are_counted(varied):
    undated = {lead["id"] for lead in varied.store.leads if "updated_at" not in lead}
    loaded = loaded_times(varied, "leads", "updated_at")
    assert {lead_id for lead_id, moment in loaded.items() if moment is None} == undated
    assert varied.metadata["leads"][UNTIMED] == len(undated) > 0


def test_a_days_leads_are_that_days_updates_and_every_lead_without_a_time(tmp_path):
    """PersistIQ sends a lead without updated_at with every updated_after: each day's run
    loads it (merged on id: one row) and counts it."""
    store = contract_store("leads_without_times", "precise_times")
    warehouse, instance = duckdb_warehouse(tmp_path), DagsterInstance.ephemeral()
    undated = [lead["id"] for lead in store.leads if "updated_at" not in lead]
    with PersistIQEmulator(store=store) as emulator:
        days = []
        for day in ("2024-01-04", "2024-01-05"):
            result = run_assets(
                persistiq_for(emulator), warehouse, ["leads"], partition_key=day, instance=instance
            )
            (event,) = result.get_asset_materialization_events()
            days.append(event.materialization.metadata[UNTIMED].value)
    start, end = datetime(2024, 1, 4, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC)
    dated = {
        lead["id"]
        for lead in store.leads
        if "updated_at" in lead and start <= utc(lead["updated_at"]) < end
    }
    assert days == [len(undated), len(undated)]
    assert {row[0] for row in query(warehouse, "select id from persistiq.leads")} == (
        dated | set(undated)
    )
    assert count_rows(warehouse, "leads") == len(dated) + len(undated)


def test_times_with_fractions_and_offsets_load_as_the_same_instants_in_utc(varied):
    store = varied.store
    for table, column, records, time_of in (
        ("events", "occurred_at", store.events, event_time),
        ("replies", "sent_at", store.replies, reply_time),
        ("leads", "updated_at", store.leads, lead_time),
    ):
        expected = {record["id"]: time_of(record) for record in records}
        assert loaded_times(varied, table, column) == expected, table
    assert any(e["created_at"].endswith("-07:00") for e in store.events)
    assert any(e["created_at"].endswith("+05:30") for e in store.events)
    assert any(".250Z" in e["created_at"] for e in store.events)


def test_an_event_at_midnight_written_west_of_utc_lands_in_its_utc_day(tmp_path):
    store = contract_store("precise_times")
    midnight = next(e for e in store.events if e["created_at"].endswith("T17:00:00-07:00"))
    day = event_time(midnight).astimezone(UTC).date()  # its own date() is the day before
    warehouse = duckdb_warehouse(tmp_path)
    with PersistIQEmulator(store=store) as emulator:
        run_assets(persistiq_for(emulator), warehouse, ["events"], partition_key=f"{day}")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    in_day = {e["id"] for e in store.events if start <= event_time(e) < start + timedelta(days=1)}
    assert {row[0] for row in query(warehouse, "select id from persistiq.events")} == in_day
    assert midnight["id"] in in_day


def test_campaign_totals_under_either_name_are_loaded(varied):
    totals = dict(
        query(
            varied.warehouse,
            "select id, coalesce(stats__total_contacted, stats__total_prospects) "
            "from persistiq.campaigns",
        )
    )
    expected = {
        c["id"]: c["stats"].get("total_contacted", c["stats"].get("total_prospects"))
        for c in varied.store.campaigns
    }
    assert totals == expected
    assert any("total_prospects" in c["stats"] for c in varied.store.campaigns)
    assert any("total_contacted" in c["stats"] for c in varied.store.campaigns)


def test_null_lead_status_owner_and_creator_stay_null(varied):
    for column in ("status", "owner_id", "creator_id"):
        loaded = dict(query(varied.warehouse, f"select id, {column} from persistiq.leads"))
        assert loaded == {lead["id"]: lead[column] for lead in varied.store.leads}, column
        assert None in loaded.values(), column


def test_null_reply_fields_stay_null_but_campaign_which_is_the_one_read(varied):
    rows = query(
        varied.warehouse, "select id, campaign_id, lead_id, from_email from persistiq.replies"
    )
    expected = {
        reply["id"]: (reply_campaign_id(reply), reply["lead_id"], reply["from_email"])
        for reply in varied.store.replies
    }
    assert {row[0]: row[1:] for row in rows} == expected
    assert any(reply["campaign_id"] is None for reply in varied.store.replies)


def test_replies_without_a_time_are_counted_when_sent_and_absent_when_not(varied, tmp_path):
    untimed = [r["id"] for r in varied.store.replies if reply_time(r) is None]
    # The shared load's server sends them in every window: loaded once, counted.
    assert varied.metadata["replies"][UNTIMED] == len(untimed) > 0
    assert loaded_times(varied, "replies", "sent_at").keys() >= set(untimed)
    # PersistIQ may instead filter them out of every window (the emulator's default).
    store = contract_store("null_reply_fields")
    warehouse = duckdb_warehouse(tmp_path)
    with PersistIQEmulator(store=store) as emulator:
        result = run_assets(persistiq_for(emulator), warehouse, ["replies"])
    event = result.get_asset_materialization_events()[-1]  # one a day, the run's counts
    assert event.materialization.metadata[UNTIMED].value == 0
    assert count_rows(warehouse, "replies") == len(store.replies) - len(untimed)


def test_lead_data_of_any_json_type_is_kept(varied):
    types = dict(
        query(
            varied.warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'persistiq' and table_name = 'leads'",
        )
    )
    assert {
        column: types[column]
        for column in (
            "data__phone", "data__employees", "data__employees__v_text", "data__is_customer",
            "data__annual_revenue", "data__office__city", "data__office__floor",
        )
    } == {
        "data__phone": "VARCHAR", "data__employees": "BIGINT",
        "data__employees__v_text": "VARCHAR", "data__is_customer": "BOOLEAN",
        "data__annual_revenue": "DOUBLE", "data__office__city": "VARCHAR",
        "data__office__floor": "BIGINT",
    }  # fmt: skip
    typed = {lead["id"]: lead["data"] for lead in varied.store.leads if "employees" in lead["data"]}
    rows = query(
        varied.warehouse,
        "select id, data__phone, coalesce(cast(data__employees as varchar), "
        "data__employees__v_text), data__is_customer, data__annual_revenue, data__office__floor "
        "from persistiq.leads where data__is_customer is not null",
    )
    assert {row[0]: row[1:] for row in rows} == {
        lead_id: (
            str(data["phone"]), str(data["employees"]), data["is_customer"],
            data["annual_revenue"], data["office"]["floor"],
        )
        for lead_id, data in typed.items()
    }  # fmt: skip
    assert ODD_EMPLOYEES in {row[2] for row in rows}
    languages = query(
        varied.warehouse,
        "select leads.id, list(languages.value order by languages._dlt_list_idx) "
        "from persistiq.leads__data__languages as languages join persistiq.leads as leads "
        "on languages._dlt_parent_id = leads._dlt_id group by leads.id",
    )
    assert dict(languages) == {lead_id: data["languages"] for lead_id, data in typed.items()}


def test_pages_of_500_events_are_each_read_once(varied):
    served = served_pages(varied.emulator, "/v1/events")
    pages = -(-EVENTS // 500)
    assert {page: served[page] for page in range(1, pages + 1)} == dict.fromkeys(
        range(1, pages + 1), 1
    )
    assert varied.metadata["events"]["persistiq/pages"] == pages


def test_next_page_urls_that_keep_the_filters_read_each_page_once_filtered(varied):
    leads = [r for r in varied.emulator.requests if r.path == "/v1/leads" and r.status == 200]
    assert leads and all("updated_after" in r.query for r in leads)
    served = served_pages(varied.emulator, "/v1/leads")
    pages = -(-len(varied.store.leads) // 100)
    assert {page: served[page] for page in range(1, pages + 1)} == dict.fromkeys(
        range(1, pages + 1), 1
    )
