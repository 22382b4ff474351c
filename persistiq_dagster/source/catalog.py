"""Every table the project loads: its PersistIQ endpoint, how it loads, and its dlt pipeline.

Three dlt pipelines, one ``@dlt_assets`` each, because one multi-asset has one partitions
definition and dlt keeps state per pipeline:

- ``persistiq_core``: snapshots, every record on every run, kept with history (scd2): users
  (with their mailboxes as a child table), campaigns, the leads of each campaign, and the
  reference tables.
- ``persistiq_leads``: leads, by the day they were last updated (``updated_after``).
- ``persistiq_activity``: events and replies, by the day they happened (``start_at``/``end_at``).
"""

from dataclasses import dataclass

# How a table loads; also its asset's tag ``persistiq/loads``, to select by, e.g.
# ``dagster asset materialize --select 'tag:persistiq/loads=snapshot'``.
LOADS_TAG = "persistiq/loads"
SNAPSHOT = "snapshot"  # every current record on each run; scd2 history
BY_UPDATE_DAY = "daily_by_updated_at"  # daily partitions, updated_after + client-side end
BY_DAY = "daily"  # daily partitions, server-side start_at/end_at window

# dlt's write dispositions: snapshots keep history (scd2); the rest merge on id.
SNAPSHOT_WRITE_DISPOSITION = {"disposition": "merge", "strategy": "scd2"}
MERGE_WRITE_DISPOSITION = {"disposition": "merge", "strategy": "delete-insert"}

# The dlt pipelines; each pipeline's dlt schema has its name.
CORE_PIPELINE = "persistiq_core"
LEADS_PIPELINE = "persistiq_leads"
ACTIVITY_PIPELINE = "persistiq_activity"


@dataclass(frozen=True)
class Table:
    name: str  # the table, the dlt resource, and the key PersistIQ puts the records under
    path: str  # below the API root; {campaign_id} when read once per campaign
    pipeline: str
    loads: str
    description: str
    optional: bool = True  # PERSISTIQ_EXCLUDE_TABLES may leave it out

    @property
    def per_campaign(self) -> bool:
        return "{campaign_id}" in self.path

    @property
    def snapshot(self) -> bool:
        return self.loads == SNAPSHOT


TABLES = (
    Table(
        "users",
        "users",
        CORE_PIPELINE,
        SNAPSHOT,
        "PersistIQ users of the account (GET /users), with history: current rows have "
        "_dlt_valid_to null. Their mailboxes are the child table users__mailboxes.",
        optional=False,
    ),
    Table(
        "campaigns",
        "campaigns",
        CORE_PIPELINE,
        SNAPSHOT,
        "PersistIQ campaigns with creator and stats (GET /campaigns), with history: current "
        "rows have _dlt_valid_to null; earlier stats stay as closed versions.",
        optional=False,
    ),
    Table(
        "campaign_leads",
        "campaigns/{campaign_id}/leads",
        CORE_PIPELINE,
        SNAPSHOT,
        "Which lead is in which campaign, sent from which mailbox (GET "
        "/campaigns/{id}/leads for every campaign), with history: a lead taken out of a "
        "campaign is retired. The lead itself is in leads (join on lead_id).",
    ),
    Table(
        "lead_statuses",
        "lead_statuses",
        CORE_PIPELINE,
        SNAPSHOT,
        "The account's lead statuses (GET /lead_statuses), with history.",
    ),
    Table(
        "lead_fields",
        "lead_fields",
        CORE_PIPELINE,
        SNAPSHOT,
        "The account's lead fields, custom ones included (GET /lead_fields), with history.",
    ),
    Table(
        "tags",
        "tags",
        CORE_PIPELINE,
        SNAPSHOT,
        "The account's tags (GET /tags), with history.",
    ),
    Table(
        "dnc_domains",
        "dnc_domains",
        CORE_PIPELINE,
        SNAPSHOT,
        "Do-not-contact domains (GET /dnc_domains), with history.",
    ),
    Table(
        "leads",
        "leads",
        LEADS_PIPELINE,
        BY_UPDATE_DAY,
        "PersistIQ leads (GET /leads), one partition per day of updated_at, merged on id.",
        optional=False,
    ),
    Table(
        "events",
        "events",
        ACTIVITY_PIPELINE,
        BY_DAY,
        "What happened (GET /events): emails sent, opened, replied, bounced, status changes; "
        "one partition per day of occurred_at, merged on id.",
    ),
    Table(
        "replies",
        "campaigns/{campaign_id}/replies",
        ACTIVITY_PIPELINE,
        BY_DAY,
        "Replies to each campaign (GET /campaigns/{id}/replies), one partition per day of "
        "sent_at, merged on id. body and preview only with PERSISTIQ_LOAD_REPLY_BODIES.",
    ),
)
TABLES_BY_NAME = {table.name: table for table in TABLES}
TABLE_NAMES = tuple(TABLES_BY_NAME)
SNAPSHOT_TABLES = tuple(table.name for table in TABLES if table.snapshot)
OPTIONAL_TABLES = tuple(table.name for table in TABLES if table.optional)
PARENT_TABLE = "campaigns"  # the list the per-campaign tables are read for


def pipeline_tables(pipeline: str, enabled: tuple[str, ...] = TABLE_NAMES) -> tuple[str, ...]:
    """The ``enabled`` tables ``pipeline`` loads, in catalogue order."""
    return tuple(name for name in enabled if TABLES_BY_NAME[name].pipeline == pipeline)


def is_snapshot(table: str) -> bool:
    return table in SNAPSHOT_TABLES


PIPELINES = tuple(dict.fromkeys(table.pipeline for table in TABLES))
