"""The leads reconciliation: a lead PersistIQ deleted stops being current, keeps its row with
``deleted_at``, and is current again when it comes back; every request goes through the
budget, and a lead the list missed is asked for before it is marked."""

from datetime import UTC, datetime

from dagster import DagsterInstance

from persistiq_dagster.defs.leads_reconcile import LEADS_KEY, persistiq_leads_reconcile_job
from persistiq_dagster_tests.support import (
    DEFAULT_DEFS,
    assert_each_page_once,
    persistiq_for,
    query,
    run_assets,
    ten_day_dataset,
)


def reconcile(persistiq, warehouse, instance=None):
    return persistiq_leads_reconcile_job.execute_in_process(
        resources={"persistiq": persistiq, "warehouse": warehouse},
        instance=instance or DagsterInstance.ephemeral(),
    )


def deleted_at(warehouse) -> dict[str, datetime | None]:
    return dict(query(warehouse, "select id, deleted_at from persistiq.leads"))


def observed(instance) -> dict:
    (record,) = instance.fetch_observations(LEADS_KEY, limit=10).records
    return {key: value.value for key, value in record.asset_observation.metadata.items()}


def test_a_deleted_lead_is_marked_once_and_current_again_when_it_comes_back(
    store, emulator, persistiq, warehouse
):
    run_assets(persistiq, warehouse, select=["leads"])
    removed = [lead["id"] for lead in store.leads[10:13]]
    kept = store.lead(removed[0])
    store.remove_leads(removed)
    emulator.clear_requests()
    before, instance = datetime.now(UTC), DagsterInstance.ephemeral()

    assert reconcile(persistiq, warehouse, instance).success

    marks = deleted_at(warehouse)
    assert {lead for lead, at in marks.items() if at is not None} == set(removed)
    assert all(before <= marks[lead] <= datetime.now(UTC) for lead in removed)
    assert len(marks) == len(store.leads) + 3  # the rows stay
    # One pass over the list (a request per 100 leads), and each missing lead asked once.
    assert_each_page_once(emulator, "/v1/leads", len(store.leads))
    asked = sorted(r.path for r in emulator.requests if r.path.startswith("/v1/leads/"))
    assert asked == sorted(f"/v1/leads/{lead}" for lead in removed)
    assert observed(instance) == {
        "persistiq/leads_listed": len(store.leads),
        "persistiq/leads_deleted": 3,
        "persistiq/leads_restored": 0,
        "persistiq/sample_deleted_ids": sorted(removed),
        "persistiq/leads_missed_by_the_list": 0,
        "dagster/row_count": len(store.leads),
    }

    # Found gone once: a second run keeps the first time. One lead comes back.
    store.leads.append(kept)
    store.bump()
    assert reconcile(persistiq, warehouse).success
    again = deleted_at(warehouse)
    assert again[removed[0]] is None
    assert {lead: again[lead] for lead in removed[1:]} == {
        lead: marks[lead] for lead in removed[1:]
    }


def test_the_leads_row_count_and_checks_count_undeleted_leads(
    store, emulator, persistiq, warehouse
):
    run_assets(persistiq, warehouse, select=["leads"])
    store.remove_leads([store.leads[0]["id"]])
    reconcile(persistiq, warehouse)

    result = run_assets(persistiq, warehouse, select=["leads"])

    counts = {
        event.materialization.metadata["dagster/row_count"].value
        for event in result.get_asset_materialization_events()
    }
    assert counts == {len(store.leads)}


def test_a_lead_the_list_missed_is_asked_for_and_not_marked(warehouse, make_emulator):
    store = ten_day_dataset(users=2, leads=40, campaigns=2, seed=3)  # one page of leads
    emulator = make_emulator(store)
    persistiq = persistiq_for(emulator, concurrent_requests=1)
    run_assets(persistiq, warehouse, select=["leads"])
    missed = store.leads[5]["id"]
    page = {
        "status": "success",
        "errors": [],
        "leads": [lead for lead in store.leads if lead["id"] != missed],
        "has_more": False,
        "next_page": None,
    }
    emulator.inject(200, body=page, path="/v1/leads")  # the list moved while it was read

    result = reconcile(persistiq, warehouse)

    assert result.success
    assert all(at is None for at in deleted_at(warehouse).values())
    assert [r.status for r in emulator.requests if r.path == f"/v1/leads/{missed}"] == [200]


def test_before_any_leads_load_it_asks_nothing(emulator, persistiq, warehouse):
    assert reconcile(persistiq, warehouse).success
    assert emulator.requests == []


def test_the_job_and_its_weekly_schedule_are_in_the_definitions():
    (schedule,) = [
        s for s in DEFAULT_DEFS.schedules if s.name == "persistiq_leads_reconcile_weekly"
    ]
    assert schedule.job_name == "persistiq_leads_reconcile_job"
    assert schedule.cron_schedule == "0 5 * * 0"
    assert DEFAULT_DEFS.resolve_job_def("persistiq_leads_reconcile_job") is not None
