"""Checks on the models that name what they found, beyond dbt's tests:

- ``event_types_mapped`` on the events model: WARN when events carry a type the seed
  ``persistiq_event_types`` does not map, naming each type and its count. Such events stay in
  the models (activity null); only the counts by activity leave them out.
- ``replied_leads_match_persistiq`` on campaign performance: per campaign, the distinct leads
  with a loaded reply against PersistIQ's own prospects_replied; WARN, naming the campaigns,
  where they differ by more than ``PERSISTIQ_REPLY_RECONCILIATION_TOLERANCE`` of PersistIQ's
  count. Replies of days never loaded, or deleted replies, show up here.

Both hold the warehouse lock and run after their model is built (declarative automation).
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    multi_asset_check,
)
from dlt.destinations.sql_client import SqlClientBase

from persistiq_dagster import config
from persistiq_dagster.defs.analytics.automation import with_its_asset
from persistiq_dagster.defs.analytics.resource import PersistIQAnalytics
from persistiq_dagster.defs.checks import held_sql_client
from persistiq_dagster.defs.names import WAREHOUSE_POOL, model_key
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.catalog import CORE_PIPELINE
from persistiq_dagster.source.current_rows import rows

EVENTS_MODEL = "stg_persistiq__events"
PERFORMANCE_MODEL = "campaign_performance"
EVENT_TYPES_CHECK = "event_types_mapped"
REPLIES_CHECK = "replied_leads_match_persistiq"
NAMED_AT_MOST = 10  # campaigns or types named in a check's description


def build_analytics_checks(models: set[str], tolerance: float) -> list[AssetChecksDefinition]:
    """The checks of the models among ``models`` (those built for the settings)."""
    specs = [
        AssetCheckSpec(
            name,
            asset=model_key(model),
            description=description,
            automation_condition=with_its_asset(),
        )
        for name, model, description in (
            (
                EVENT_TYPES_CHECK,
                EVENTS_MODEL,
                "Every event type is mapped to an activity by the seed persistiq_event_types.",
            ),
            (
                REPLIES_CHECK,
                PERFORMANCE_MODEL,
                "Per campaign, distinct leads with a loaded reply match PersistIQ's "
                f"prospects_replied within {tolerance:.0%} "
                f"({config.REPLY_TOLERANCE_ENV}).",
            ),
        )
        if model in models
    ]
    if not specs:
        return []

    @multi_asset_check(
        name="persistiq_analytics_checks", specs=specs, can_subset=True, pool=WAREHOUSE_POOL
    )
    def analytics_checks(
        context: AssetCheckExecutionContext,
        analytics: PersistIQAnalytics,
        warehouse: PersistIQWarehouse,
    ) -> Iterator[AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        with held_sql_client(context, warehouse, CORE_PIPELINE) as client:
            if EVENT_TYPES_CHECK in selected:
                yield check_event_types(client, analytics.schema_name)
            if REPLIES_CHECK in selected:
                yield check_replied_leads(client, analytics.schema_name, tolerance)

    return [analytics_checks]


def check_event_types(client: SqlClientBase, schema: str) -> AssetCheckResult:
    unmapped = rows(
        client,
        f"select event_type, count(*) from {schema}.{EVENTS_MODEL} where activity is null "
        "group by event_type order by count(*) desc, event_type",
    )
    named = ", ".join(f"{kind or '(no type)'} ({count})" for kind, count in unmapped)
    return AssetCheckResult(
        asset_key=model_key(EVENTS_MODEL),
        check_name=EVENT_TYPES_CHECK,
        passed=not unmapped,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"Event types not in the seed persistiq_event_types: {named}. Their events are "
            "kept with activity null and counted by no activity; add each type to "
            "persistiq_dagster/dbt_project/seeds/persistiq_event_types.csv."
            if unmapped
            else "Every event type is mapped."
        ),
        metadata={
            "unmapped_types": len(unmapped),
            "unmapped_events": sum(count for _, count in unmapped),
            "unmapped": MetadataValue.json({kind or "": count for kind, count in unmapped}),
        },
    )


def check_replied_leads(client: SqlClientBase, schema: str, tolerance: float) -> AssetCheckResult:
    campaigns = rows(
        client,
        f"select campaign_id, campaign_name, replied, replied_leads from {schema}."
        f"{PERFORMANCE_MODEL} order by campaign_id",
    )
    apart = [
        (campaign_id, name, replied or 0, loaded)
        for campaign_id, name, replied, loaded in campaigns
        if abs(loaded - (replied or 0)) > tolerance * (replied or 0)
    ]
    named = "; ".join(
        f"{name} ({campaign_id}): {loaded} loaded, PersistIQ says {replied}"
        for campaign_id, name, replied, loaded in apart[:NAMED_AT_MOST]
    )
    more = f"; and {len(apart) - NAMED_AT_MOST} more" if len(apart) > NAMED_AT_MOST else ""
    return AssetCheckResult(
        asset_key=model_key(PERFORMANCE_MODEL),
        check_name=REPLIES_CHECK,
        passed=not apart,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{len(apart)} of {len(campaigns)} campaigns have replied leads apart from "
            f"PersistIQ's prospects_replied by more than {tolerance:.0%}: {named}{more}. "
            "Load the days of their replies, or raise "
            f"{config.REPLY_TOLERANCE_ENV}."
            if apart
            else f"All {len(campaigns)} campaigns within {tolerance:.0%} of PersistIQ's "
            "prospects_replied."
        ),
        metadata={
            "campaigns": len(campaigns),
            "campaigns_apart": len(apart),
            "apart": MetadataValue.json(
                [
                    {"campaign_id": c, "name": n, "persistiq": r, "loaded": lo}
                    for c, n, r, lo in apart
                ]
            ),
        },
    )
