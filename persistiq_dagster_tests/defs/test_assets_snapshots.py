"""Campaign leads, the reference tables and mailboxes: every record PersistIQ holds, once,
as snapshots; a campaign gone between listing and reading is skipped, not a failure, but a
per-campaign list gone for too many campaigns fails the run before anything is written."""

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from persistiq_dagster.defs.names import SKIPPED_METADATA_KEY
from persistiq_dagster.defs.resources.dlt import PersistIQDltResource
from persistiq_dagster_tests.defs.test_load_errors import failure_text
from persistiq_dagster_tests.support import (
    LOAD_ASSETS,
    page_count,
    persistiq_for,
    query,
    run_assets,
    served_pages,
)

CURRENT = "_dlt_valid_to is null"
REFERENCE_TABLES = ["lead_statuses", "lead_fields", "tags", "dnc_domains"]
CORE = ["users", "campaigns", "campaign_leads", *REFERENCE_TABLES]


def current(warehouse, table: str, columns: str = "id") -> set:
    return set(query(warehouse, f"select {columns} from persistiq.{table} where {CURRENT}"))


def served_campaign_leads(store) -> set[tuple]:
    return {
        (row["id"], row["campaign_id"], row["mailbox_id"], row["lead"]["id"])
        for campaign in store.campaigns
        for row in store.campaign_leads_of(campaign["id"])
    }


def test_every_core_table_holds_what_persistiq_serves_one_request_per_page(
    store, emulator, persistiq, warehouse
):
    run_assets(persistiq, warehouse, select=CORE)

    assert current(warehouse, "campaign_leads", "id, campaign_id, mailbox_id, lead_id") == (
        served_campaign_leads(store)
    )
    for table in REFERENCE_TABLES:
        assert current(warehouse, table) == {(r["id"],) for r in store.records(table)}, table
    # A campaign without leads: one request, nothing loaded; one with several pages: each once.
    empty, long = store.campaigns[0]["id"], store.campaigns[1]["id"]
    assert store.campaign_leads_of(empty) == []
    assert served_pages(emulator, f"/v1/campaigns/{empty}/leads") == {1: 1}
    pages = page_count(len(store.campaign_leads_of(long)))
    assert pages > 1
    assert served_pages(emulator, f"/v1/campaigns/{long}/leads") == dict.fromkeys(
        range(1, pages + 1), 1
    )
    for campaign in store.campaigns[2:]:
        assert emulator.count(f"/v1/campaigns/{campaign['id']}/leads") == page_count(
            len(store.campaign_leads_of(campaign["id"]))
        )
    # Lists PersistIQ does not page are asked once, without a page; dnc_domains has two pages.
    for table in ("lead_statuses", "lead_fields"):
        (request,) = [r for r in emulator.requests if r.path == f"/v1/{table}"]
        assert "page" not in request.query
    assert served_pages(emulator, "/v1/dnc_domains") == {1: 1, 2: 1}


def test_the_nested_lead_is_cut_to_its_id(store, emulator, persistiq, warehouse):
    run_assets(persistiq, warehouse, select=["campaign_leads"])
    columns = {
        row[0]
        for row in query(
            warehouse,
            "select column_name from information_schema.columns "
            "where table_name = 'campaign_leads' and not starts_with(column_name, '_dlt')",
        )
    }
    assert columns == {"id", "campaign_id", "mailbox_id", "lead_id"}


def test_mailboxes_join_to_the_current_users(store, emulator, persistiq, warehouse):
    run_assets(persistiq, warehouse, select=["users"])
    joined = query(
        warehouse,
        "select u.id, m.id, m.email from persistiq.users__mailboxes m "
        f"join persistiq.users u on m._dlt_parent_id = u._dlt_id where u.{CURRENT}",
    )
    served = [(u["id"], m["id"], m["email"]) for u in store.users for m in u["mailboxes"]]
    assert sorted(joined) == sorted(served) and served
    campaign_ids = query(
        warehouse,
        "select m.id, c.value from persistiq.users__mailboxes__campaign_ids c "
        "join persistiq.users__mailboxes m on c._dlt_parent_id = m._dlt_id",
    )
    assert sorted(campaign_ids) == sorted(
        (m["id"], c) for u in store.users for m in u["mailboxes"] for c in m["campaign_ids"]
    )


def test_a_campaign_gone_before_its_leads_are_read_is_skipped_with_a_warning(
    store, emulator, persistiq, warehouse
):
    gone = store.campaigns[2]["id"]
    # PersistIQ's own 404 for a deleted campaign, after /campaigns has listed it.
    for table in ("leads", "replies"):
        emulator.inject(404, path=f"/v1/campaigns/{gone}/{table}")
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [LOAD_ASSETS.core],
        selection=[AssetKey(["persistiq", "campaign_leads"])],
        resources={"dlt": PersistIQDltResource(), "persistiq": persistiq, "warehouse": warehouse},
        instance=instance,
    )

    assert result.success
    (materialization,) = [e.materialization for e in result.get_asset_materialization_events()]
    assert materialization.metadata[SKIPPED_METADATA_KEY].value == [gone]
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if "were gone" in entry.user_message
    ]
    assert len(warnings) == 1 and gone in warnings[0]
    assert current(warehouse, "campaign_leads", "id, campaign_id, mailbox_id, lead_id") == {
        row for row in served_campaign_leads(store) if row[1] != gone
    }
    # The replies of the same campaign, read per day, follow the same rule.
    result = run_assets(persistiq, warehouse, select=["replies"])
    skipped = {
        tuple(event.materialization.metadata[SKIPPED_METADATA_KEY].value)
        for event in result.get_asset_materialization_events()  # one per day of the range
    }
    assert skipped == {(gone,)}
    loaded = {row[0] for row in query(warehouse, "select id from persistiq.replies")}
    assert loaded == {r["id"] for r in store.replies if r["campaign_id"] != gone}


def test_a_deleted_campaign_and_a_removed_tag_are_retired_not_deleted(
    store, emulator, persistiq, warehouse
):
    run_assets(persistiq, warehouse, select=CORE)
    deleted, dropped_tag = store.campaigns[1]["id"], store.tags[0]["id"]
    store.remove_campaign(deleted)
    store.replace("tags", store.tags[1:])

    run_assets(persistiq, warehouse, select=CORE)

    assert current(warehouse, "campaign_leads", "id, campaign_id, mailbox_id, lead_id") == (
        served_campaign_leads(store)
    )
    (retired,) = query(
        warehouse,
        "select count(*) from persistiq.campaign_leads "
        f"where campaign_id = '{deleted}' and _dlt_valid_to is not null",
    )[0]
    assert retired > 100  # the campaign with several pages: all its rows kept, as history
    assert current(warehouse, "tags") == {(t["id"],) for t in store.tags}
    assert query(
        warehouse,
        f"select _dlt_valid_to is not null from persistiq.tags where id = '{dropped_tag}'",
    ) == [(True,)]


def everything(warehouse, table: str) -> list[tuple]:
    """Every row of ``table``, history included, in a stable order."""
    return sorted(query(warehouse, f"select * from persistiq.{table}"), key=repr)


def test_a_list_gone_for_every_campaign_fails_the_run_and_writes_nothing(
    store, emulator, persistiq, warehouse
):
    run_assets(persistiq, warehouse, select=[*CORE, "events", "replies"])
    before = {t: everything(warehouse, t) for t in (*CORE, "events", "replies")}
    store.users[0]["first_name"] = "Changed"  # would be a new version, were anything loaded
    store.bump()
    emulator.missing_campaign_lists = frozenset({"leads", "replies"})

    for tables, path in ((CORE, "leads"), (["events", "replies"], "replies")):
        result = run_assets(persistiq, warehouse, select=tables, raise_on_error=False)

        # A fifth of 12 is 2.4: the third 404 is one too many, and no fourth is asked.
        assert not result.success
        text = failure_text(result)
        assert (
            f"PersistIQ answered 404 on campaigns/{{campaign_id}}/{path} for 3 of the 12 "
            "campaigns it had just listed, more than PERSISTIQ_MAX_MISSING_CAMPAIGNS_SHARE=0.2 "
            "allows, so the run stopped reading"
        ) in text
        assert "Nothing was loaded and no row was retired." in text
        asked = [r for r in emulator.requests if r.path.endswith(f"/{path}") and r.status == 404]
        assert len(asked) == 3
        emulator.clear_requests()
    assert {t: everything(warehouse, t) for t in before} == before


@pytest.mark.parametrize(
    ("share", "fails"), [(0.2, True), (0.25, False)], ids=["over-the-share", "at-the-share"]
)
def test_a_list_gone_for_more_than_the_share_of_campaigns_fails(
    store, emulator, warehouse, share, fails
):
    gone = [campaign["id"] for campaign in store.campaigns[:3]]  # 3 of 12: a quarter
    for campaign in gone:
        emulator.inject(404, path=f"/v1/campaigns/{campaign}/leads")
    persistiq = persistiq_for(emulator, max_missing_campaigns_share=share)

    result = run_assets(persistiq, warehouse, select=["campaign_leads"], raise_on_error=False)

    assert result.success is not fails
    if fails:
        assert "for 3 of the 12 campaigns" in failure_text(result)
        assert query(warehouse, "select count(*) from information_schema.tables "
                     "where table_name = 'campaign_leads'") == [(0,)]  # fmt: skip
    else:
        (event,) = result.get_asset_materialization_events()
        assert sorted(event.materialization.metadata[SKIPPED_METADATA_KEY].value) == sorted(gone)
        assert {row[1] for row in current(warehouse, "campaign_leads", "id, campaign_id")} == {
            c["id"] for c in store.campaigns[3:] if store.campaign_leads_of(c["id"])
        }
