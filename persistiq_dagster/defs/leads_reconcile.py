"""The leads reconciliation: the leads PersistIQ deleted stop being current.

``updated_after`` never reports a deletion, so ``persistiq_leads_reconcile_job`` lists every
lead id (one request per 100 leads, plus one per lead missing from the list, asked by id to be
sure: ``source.deleted_leads``) and sets ``deleted_at`` on the leads PersistIQ no longer has,
or clears it on a lead that came back. The schedule ``persistiq_leads_reconcile_weekly`` runs
it (``PERSISTIQ_LEADS_RECONCILE_CRON``, Sundays at 05:00 by default; off until turned on, like
every schedule here). The run holds the warehouse from the first request to the last update,
as loads do, so a lead loaded meanwhile is never mistaken for a deleted one.

Each run records an observation of ``persistiq/leads`` with what it found; the leads row count,
the checks and the analytics models count the leads that are not deleted.
"""

from datetime import UTC, datetime

from dagster import (
    AssetObservation,
    DefaultScheduleStatus,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.names import asset_key
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse, step_holder
from persistiq_dagster.source.catalog import LEADS_PIPELINE
from persistiq_dagster.source.current_rows import count_current_rows, rows
from persistiq_dagster.source.deleted_leads import (
    Reconciliation,
    lead_exists,
    listed_lead_ids,
    reconcile_leads,
)
from persistiq_dagster.source.http.errors import explain_failure

JOB_NAME = "persistiq_leads_reconcile_job"
SCHEDULE_NAME = "persistiq_leads_reconcile_weekly"
LEADS_KEY = asset_key("leads")
SAMPLE = 20  # ids named in the log and the metadata


@op(name="persistiq_leads_reconcile")
def persistiq_leads_reconcile(
    context: OpExecutionContext, persistiq: PersistIQResource, warehouse: PersistIQWarehouse
) -> None:
    """Mark the leads PersistIQ deleted (``deleted_at``), unmark those that came back."""
    with warehouse.lock(step_holder(context), log=context.log.info):
        pipeline = warehouse.build_pipeline(LEADS_PIPELINE)
        with pipeline.sql_client() as client:
            try:
                rows(client, f"select 1 from {client.make_qualified_table_name('leads')} limit 1")
            except DatabaseUndefinedRelation:
                context.log.info("Leads are not in the warehouse yet: nothing to reconcile.")
                return
        reader, started = persistiq.build_reader(), datetime.now(UTC)
        try:
            listed = listed_lead_ids(reader)
            with pipeline.sql_client() as client:
                with client.begin_transaction():
                    found = reconcile_leads(client, listed, lead_exists(reader), started)
                current = count_current_rows(client, "leads")
        except Exception as error:
            explanation = explain_failure(error, persistiq.base_url, persistiq.max_retries)
            if explanation is None:
                raise
            raise Failure(description=f"{explanation} Nothing was marked.") from error
    context.log.info(summary(found, current))
    context.log_event(
        AssetObservation(asset_key=LEADS_KEY, metadata=observation_metadata(found, current))
    )


def summary(found: Reconciliation, current: int) -> str:
    named = ", ".join(found.deleted[:SAMPLE])
    return (
        f"PersistIQ lists {found.listed} leads; {len(found.deleted)} lead(s) found deleted"
        f"{': ' + named if named else ''}; {len(found.restored)} came back; "
        f"{current} current leads in the warehouse."
    )


def observation_metadata(found: Reconciliation, current: int) -> dict:
    return {
        "persistiq/leads_listed": found.listed,
        "persistiq/leads_deleted": len(found.deleted),
        "persistiq/leads_restored": len(found.restored),
        "persistiq/sample_deleted_ids": MetadataValue.json(found.deleted[:SAMPLE]),
        # Missing from the list but there when asked by id: the list moved while it was read.
        "persistiq/leads_missed_by_the_list": len(found.shifted),
        "dagster/row_count": current,
    }


@job(
    name=JOB_NAME,
    description=(
        "Find the leads PersistIQ deleted (every lead id is listed: one request per 100 leads) "
        "and set their deleted_at; a lead that came back is current again."
    ),
)
def persistiq_leads_reconcile_job() -> None:
    persistiq_leads_reconcile()


def build_leads_reconcile_schedule(
    settings: Settings, reconcile: JobDefinition
) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=SCHEDULE_NAME,
        job=reconcile,
        cron_schedule=settings.leads_reconcile_cron,
        execution_timezone=settings.timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Find the leads PersistIQ deleted, once a week.",
    )
