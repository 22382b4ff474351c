"""The one dbt build of the session (``models`` in conftest: ``models_dataset()`` loaded, every
model built, days cut in Los Angeles), read by every test here; built once, for the fast tier.

- Each model's figures against the same figures computed in Python from the emulator's own
  records (``analytics_oracle``), not by running SQL.
- The checks that name what they found (``defs/analytics/checks.py``): event types the seed does
  not map, and a campaign whose loaded replies disagree with PersistIQ's prospects_replied.
  Both WARN, the run succeeds, and nothing is dropped.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import duckdb
from dagster import AssetCheckKey, AssetCheckSeverity, AssetSelection

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.analytics.checks import REPLIES_CHECK
from persistiq_dagster.defs.names import model_key
from persistiq_dagster_tests import analytics_oracle as oracle
from persistiq_dagster_tests.support import (
    DELETED_LEADS,
    EXTRA_REPLIED,
    UNMAPPED_EVENT_TYPES,
    build_models,
    query,
    replied_leads,
)

SCHEMA = "persistiq_analytics"
MODELS = (
    "campaign_performance", "campaign_daily", "campaign_stats_daily", "mailbox_daily",
    "lead_funnel",
)  # fmt: skip


def model_rows(models, model: str) -> list[dict]:
    with duckdb.connect(models.warehouse.duckdb_path, read_only=True) as connection:
        cursor = connection.execute(f"select * from {SCHEMA}.{model}")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_every_model_seed_and_check_is_built_and_passes(models):
    built = {event.asset_key.path[-1] for event in models.result.get_asset_materialization_events()}
    assert set(MODELS) <= built and "persistiq_event_types" in built
    assert len(built) == 16
    # Every check ran with its model (which fail, and why: test_checks).
    assert len(models.result.get_asset_check_evaluations()) == 39


def test_campaign_performance_matches_the_emulators_records(models):
    rows = model_rows(models, "campaign_performance")
    oracle.assert_matches("campaign_performance", rows, models.store, models.timezone)
    # The figures are not all zero or all null: the comparison could fail.
    assert sum(row["replies"] for row in rows) == len(oracle.loaded_replies(models.store)) > 0
    assert any(row["reply_rate"] for row in rows)


def test_campaign_daily_counts_each_day_in_the_timezone(models):
    rows = model_rows(models, "campaign_daily")
    oracle.assert_matches("campaign_daily", rows, models.store, models.timezone)
    assert sum(row["sent"] for row in rows) > 0
    # Days are cut in Los Angeles: an event at 00:00:00Z is on the day before.
    in_utc = oracle.campaign_daily(models.store, "UTC")
    assert in_utc != oracle.campaign_daily(models.store, models.timezone)


def test_mailbox_daily_reaches_mailboxes_through_campaign_membership(models):
    rows = model_rows(models, "mailbox_daily")
    oracle.assert_matches("mailbox_daily", rows, models.store, models.timezone)
    assert sum(row["replies"] for row in rows) > 0


def test_lead_funnel_counts_current_leads_by_status_and_owner(models):
    rows = model_rows(models, "lead_funnel")
    named = {row["status"]: row["status_name"] for row in rows}
    oracle.assert_matches("lead_funnel", rows, models.store, models.timezone)
    assert sum(row["leads"] for row in rows) == len(models.store.leads)
    # Every status (lowercase, e.g. opted_out) has its account's name (Opted out); leads
    # without a status (the contract allows it) are a row of their own, with neither.
    assert named.pop(None) is None
    assert named and all(named.values())
    assert named["opted_out"] == "Opted out"
    # The leads PersistIQ deleted keep their rows in persistiq.leads, and are not counted.
    deleted = query(
        models.warehouse, "select count(*) from persistiq.leads where deleted_at is not null"
    )
    assert deleted == [(DELETED_LEADS,)]


def test_campaign_stats_daily_has_the_one_snapshot_of_each_campaign(models):
    """One load: one row per campaign, PersistIQ's stats, no change yet (a history of
    several days is in test_campaign_stats_history)."""
    found = {row["campaign_id"]: row for row in model_rows(models, "campaign_stats_daily")}
    assert found.keys() == {campaign["id"] for campaign in models.store.campaigns}
    for campaign in models.store.campaigns:
        row = found[campaign["id"]]
        for name, field in oracle.STATS.items():
            assert row[name] == campaign["stats"][field]
            assert row[f"{name}_change"] is None
        recorded = row["recorded_at"]
        assert row["day"] == recorded.astimezone(ZoneInfo(models.timezone)).date()
        assert recorded <= datetime.now(ZoneInfo("UTC"))


def test_events_model_has_one_shape_and_maps_every_type(models):
    rows = model_rows(models, "stg_persistiq__events")
    assert len(rows) == len(models.store.events)
    assert set(rows[0]) == {
        "event_id", "occurred_at", "activity", "event_type", "campaign_id", "lead_id",
        "user_id", "mailbox_id",
    }  # fmt: skip
    activities = oracle.event_activities()
    assert all(row["activity"] == activities.get(row["event_type"]) for row in rows)
    assert sum(row["activity"] is None for row in rows) == 3  # the unmapped types, kept


def test_a_successful_build_leaves_no_profile_or_artifacts(models):
    assert models.result.success
    assert models.runs_dir.is_dir() and list(models.runs_dir.iterdir()) == []


# -- the checks ------------------------------------------------------------------------------


def evaluations(result) -> dict:
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def disagreeing(store) -> dict:
    """The campaign models_dataset() gave PersistIQ more replied leads than were loaded."""
    return next(
        c
        for c in store.campaigns
        if c["stats"]["prospects_replied"] != len(replied_leads(store, c["id"]))
    )


def test_unmapped_event_types_warn_naming_each_type_and_its_count(models):
    assert models.result.success  # a warning does not fail the run
    types = evaluations(models.result)["event_types_mapped"]
    assert not types.passed and types.severity == AssetCheckSeverity.WARN
    assert "email_forwarded (2), meeting_booked (1)" in types.description
    assert types.metadata["unmapped_events"].value == sum(UNMAPPED_EVENT_TYPES.values())
    # The events are kept, with no activity.
    kept = query(
        models.warehouse,
        "select count(*), count(activity) from persistiq_analytics.stg_persistiq__events",
    )
    assert kept == [(len(models.store.events), len(models.store.events) - 3)]


def test_a_campaign_whose_stats_disagree_warns_by_name(models):
    replies = evaluations(models.result)[REPLIES_CHECK]
    assert not replies.passed and replies.severity == AssetCheckSeverity.WARN
    campaign = disagreeing(models.store)
    loaded = campaign["stats"]["prospects_replied"] - EXTRA_REPLIED
    assert replies.description.startswith(f"1 of {len(models.store.campaigns)} campaigns")
    assert (
        f"{campaign['name']} ({campaign['id']}): {loaded} loaded, PersistIQ says "
        f"{campaign['stats']['prospects_replied']}"
    ) in replies.description


def test_every_other_check_passes(models):
    failed = sorted(name for name, e in evaluations(models.result).items() if not e.passed)
    assert failed == ["event_types_mapped", REPLIES_CHECK]
    assert len(evaluations(models.result)) == 39


def test_a_campaigns_total_is_read_under_either_name(models):
    """PersistIQ names it total_contacted or total_prospects (both in models_dataset())."""
    found = dict(
        query(
            models.warehouse,
            f"select campaign_id, total_prospects from {SCHEMA}.stg_persistiq__campaigns",
        )
    )
    stats = {c["id"]: c["stats"] for c in models.store.campaigns}
    assert found == {
        campaign_id: s.get("total_contacted", s.get("total_prospects"))
        for campaign_id, s in stats.items()
    }
    assert {"total_contacted", "total_prospects"} <= {key for s in stats.values() for key in s}


def test_a_campaign_that_contacted_nobody_has_no_rates(models):
    silent = next(c for c in models.store.campaigns if c["stats"]["prospects_contacted"] == 0)
    found = query(
        models.warehouse,
        "select contacted, reply_rate, open_rate, positive_reply_rate "
        f"from persistiq_analytics.campaign_performance where campaign_id = '{silent['id']}'",
    )
    assert found == [(0, None, None, None)]


def test_a_tolerance_wide_enough_lets_the_disagreement_pass(models):
    """The check alone, run again on the built models with the tolerance either side of the
    campaign's 5-lead gap."""
    campaign = disagreeing(models.store)
    needed = EXTRA_REPLIED / campaign["stats"]["prospects_replied"]
    only_this_check = AssetSelection.checks(
        AssetCheckKey(model_key("campaign_performance"), REPLIES_CHECK)
    )
    passed = {}
    for tolerance in (needed - 0.01, needed + 0.01):
        settings = Settings(timezone=models.timezone, reply_tolerance=min(1.0, tolerance))
        result = build_models(models.warehouse, settings, selection=only_this_check)
        assert result.get_asset_materialization_events() == []  # nothing rebuilt
        passed[tolerance > needed] = evaluations(result)[REPLIES_CHECK].passed
    assert passed == {False: False, True: True}
