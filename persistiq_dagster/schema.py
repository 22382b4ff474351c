"""Column hints for every table: PersistIQ's documented fields, nullable unless marked.

Declaring a column with its type makes it exist, typed, even when every value in a load is
null or absent (the public docs' sample leads carry only ``id``, ``status`` and ``data``).
Nested objects are flattened by dlt into ``<parent>__<field>`` columns; fields not listed
here evolve into the tables as they appear.
"""

from dlt.common.schema.typing import TTableSchemaColumns


def _columns(**types: str) -> TTableSchemaColumns:
    return {name: {"data_type": data_type, "nullable": True} for name, data_type in types.items()}


def _required(columns: TTableSchemaColumns, *names: str) -> TTableSchemaColumns:
    for name in names:
        columns[name]["nullable"] = False
    return columns


LEAD_DATA_FIELDS = (
    "address", "city", "company_name", "email", "facebook", "first_name", "industry",
    "last_name", "linkedin", "phone", "salesforce_id", "snippet", "snippet1", "snippet2",
    "snippet3", "snippet4", "state", "title", "twitch_name", "twitter",
)  # fmt: skip

CAMPAIGN_STATS_FIELDS = (
    "prospects_bounced", "prospects_contacted", "prospects_opened", "prospects_optedout",
    "prospects_reached", "prospects_replied", "total_contacted", "total_prospects",
)  # fmt: skip

USERS_COLUMNS = _required(
    _columns(
        id="text",
        email="text",
        activated="bool",
        default_mailbox_id="text",
        name="text",
        salesforce_id="text",
    ),
    "id",
)

LEADS_COLUMNS = _required(
    _columns(
        id="text",
        owner_id="text",
        bounced="bool",
        optedout="bool",
        creator_id="text",
        status="text",
        last_sent_at="timestamp",
        sent_count="bigint",
        replied_count="bigint",
        created_at="timestamp",
        updated_at="timestamp",
        **{f"data__{field}": "text" for field in LEAD_DATA_FIELDS},
    ),
    "id",
)
# Two rows of one id in a load (PersistIQ paging a list that changes underneath): the latest
# updated_at is the one kept.
LEADS_COLUMNS["updated_at"]["dedup_sort"] = "desc"

CAMPAIGNS_COLUMNS = _required(
    _columns(
        id="text",
        name="text",
        creator__email="text",
        creator__id="text",
        creator__name="text",
        **{f"stats__{field}": "bigint" for field in CAMPAIGN_STATS_FIELDS},
    ),
    "id",
)

CAMPAIGN_LEADS_COLUMNS = _required(
    # The nested lead is cut to its id: the leads table holds the lead, current, once.
    _columns(id="text", campaign_id="text", mailbox_id="text", lead_id="text"),
    "id",
)

REPLY_BODY_COLUMNS = _columns(body="text", preview="text")
REPLIES_COLUMNS = _required(
    _columns(
        id="text",
        campaign_id="text",
        lead_id="text",
        sent_at="timestamp",
        kind="text",
        sentiment="text",
        from_email="text",
        to_emails="json",  # lists of addresses stay in one column, not child tables
        cc_emails="json",
        subject="text",
        step_message_id="text",
    ),
    "id",
)

# Two published shapes: OpenAPI (event_type, created_at, data{}) and PersistIQ's docs pages
# (kind, event_at, user_id, user{}, campaign{}, lead{}, params{}, diff{}). occurred_at,
# event_type, campaign_id, lead_id and user_id are filled from either, so queries need not care.
EVENTS_COLUMNS = _required(
    _columns(
        id="text",
        event_type="text",
        occurred_at="timestamp",
        campaign_id="text",
        lead_id="text",
        user_id="text",
        kind="text",
        created_at="timestamp",
        event_at="timestamp",
        params="json",
        diff="json",
    ),
    "id",
)


def _named() -> TTableSchemaColumns:
    return _required(_columns(id="text", name="text"), "id")


COLUMNS_BY_RESOURCE = {
    "users": USERS_COLUMNS,
    "leads": LEADS_COLUMNS,
    "campaigns": CAMPAIGNS_COLUMNS,
    "campaign_leads": CAMPAIGN_LEADS_COLUMNS,
    "replies": REPLIES_COLUMNS,
    "events": EVENTS_COLUMNS,
    "lead_statuses": _named(),
    "lead_fields": _required(_columns(id="text", name="text", label="text"), "id"),
    "tags": _named(),
    "dnc_domains": _named(),
}


def columns_for(table: str, reply_bodies: bool = False) -> TTableSchemaColumns:
    """The declared columns of ``table``; replies declare body and preview only when loaded,
    so a warehouse that does not load them has no such columns either."""
    columns = COLUMNS_BY_RESOURCE[table]
    if table == "replies" and reply_bodies:
        return {**columns, **REPLY_BODY_COLUMNS}
    return columns
