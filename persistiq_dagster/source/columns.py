"""Column hints for every table: PersistIQ's documented fields, nullable unless marked.

Each column is declared once, with its type and a one-line description:
``name=(data_type, description)``. The type makes the column exist, typed, even when every
value in a load is null or absent (the public docs' sample leads carry only ``id``, ``status``
and ``data``); the description, what the value is and its unit or format, is kept in dlt's
schema. Nested objects are flattened by dlt into ``<parent>__<field>`` columns; fields not
listed here evolve into the tables as they appear. Where PersistIQ documents a field by its
name alone, the description says so rather than guess.
"""

from collections.abc import Callable, Mapping

from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract.hints import TResourceNestedHints

from persistiq_dagster.config import LOAD_REPLY_BODIES_ENV

# How every timestamp column holds its value.
INSTANT = "timestamp in UTC (PersistIQ sends ISO 8601)"


def _columns(**declared: tuple[str, str]) -> TTableSchemaColumns:
    """Column hints from ``name=(data_type, description)``, all nullable."""
    return {
        name: {"data_type": data_type, "nullable": True, "description": description}
        for name, (data_type, description) in declared.items()
    }


def _table(**declared: tuple[str, str]) -> TTableSchemaColumns:
    """A top-level table's columns: ``id``, PersistIQ's key, is never null."""
    columns = _columns(**declared)
    columns["id"]["nullable"] = False
    return columns


# The fields of a lead's ``data`` object, text as entered; accounts may add custom fields,
# which evolve in as further ``data__<field>`` columns.
LEAD_DATA_DESCRIPTIONS = {
    "address": "The lead's street address",
    "city": "The lead's city",
    "company_name": "Name of the lead's company",
    "email": "The lead's email address",
    "facebook": "The lead's Facebook profile, as entered",
    "first_name": "The lead's first name",
    "industry": "The industry of the lead's company",
    "last_name": "The lead's last name",
    "linkedin": "The lead's LinkedIn profile, as entered",
    "phone": "The lead's phone number, free text",
    "salesforce_id": "The lead's id in Salesforce, where the account links one",
    "snippet": "Free-text snippet for email templates; snippet1..4 are further ones",
    "snippet1": "Further free-text snippet for email templates, 1 of snippet1..4",
    "snippet2": "Further free-text snippet for email templates, 2 of snippet1..4",
    "snippet3": "Further free-text snippet for email templates, 3 of snippet1..4",
    "snippet4": "Further free-text snippet for email templates, 4 of snippet1..4",
    "state": "The lead's state or region",
    "title": "The lead's job title",
    "twitch_name": "The lead's Twitch user name",
    "twitter": "The lead's Twitter handle, as entered",
}
LEAD_DATA_FIELDS = tuple(LEAD_DATA_DESCRIPTIONS)

# The counts of a campaign's ``stats`` object.
CAMPAIGN_STATS_DESCRIPTIONS = {
    "prospects_bounced": "Number of the campaign's prospects whose email bounced",
    "prospects_contacted": "Number of the campaign's prospects it has emailed",
    "prospects_opened": "Number of the campaign's prospects who opened an email",
    "prospects_optedout": "Number of the campaign's prospects who opted out",
    "prospects_reached": "Number of the campaign's prospects reached; PersistIQ does not define it",
    "prospects_replied": "Number of the campaign's prospects who replied",
    "total_contacted": "Number of prospects in the campaign; some answers name it total_prospects",
    "total_prospects": "Number of prospects in the campaign; some answers name it total_contacted",
}
CAMPAIGN_STATS_FIELDS = tuple(CAMPAIGN_STATS_DESCRIPTIONS)

USERS_COLUMNS = _table(
    id=(
        "text",
        "PersistIQ's id of the user (u_...); the owner_id/creator_id/user_id columns join it",
    ),
    email=("text", "The user's email address"),
    activated=("bool", "Whether PersistIQ marks the user activated (documented by name only)"),
    default_mailbox_id=("text", "Id of the user's default mailbox; matches users__mailboxes.id"),
    name=("text", "The user's name"),
    salesforce_id=("text", "The user's id in Salesforce, where the account links one"),
)

LEADS_COLUMNS = _table(
    id=("text", "PersistIQ's id of the lead (l_...); lead_id in other tables joins it"),
    owner_id=("text", "The user who owns the lead; joins users.id"),
    bounced=("bool", "Whether email to the lead has bounced"),
    optedout=("bool", "Whether the lead has opted out of emails"),
    creator_id=("text", "The user who created the lead; joins users.id"),
    status=("text", "The lead's status, e.g. active; the account's statuses are in lead_statuses"),
    last_sent_at=("timestamp", f"When PersistIQ last emailed the lead: {INSTANT}"),
    sent_count=("bigint", "Number of emails sent to the lead"),
    replied_count=("bigint", "Number of replies received from the lead"),
    created_at=("timestamp", f"When the lead was created: {INSTANT}; not always sent"),
    updated_at=(
        "timestamp",
        f"When the lead last changed: {INSTANT}; the load's cursor, not always sent",
    ),
    deleted_at=(
        "timestamp",
        "When the leads reconciliation first found the lead deleted in PersistIQ: timestamp "
        "in UTC; null while PersistIQ has it",
    ),
    **{
        f"data__{field}": ("text", f"{description} (data.{field})")
        for field, description in LEAD_DATA_DESCRIPTIONS.items()
    },
)
# Two rows of one id in a load (PersistIQ paging a list that changes underneath): the latest
# updated_at is the one kept.
LEADS_COLUMNS["updated_at"]["dedup_sort"] = "desc"

CAMPAIGNS_COLUMNS = _table(
    id=("text", "PersistIQ's id of the campaign (c_...); campaign_id in other tables joins it"),
    name=("text", "The campaign's name"),
    creator__email=("text", "Email address of the user who created the campaign (creator.email)"),
    creator__id=("text", "The user who created the campaign; joins users.id (creator.id)"),
    creator__name=("text", "Name of the user who created the campaign (creator.name)"),
    **{
        f"stats__{field}": ("bigint", f"{description} (stats.{field})")
        for field, description in CAMPAIGN_STATS_DESCRIPTIONS.items()
    },
)

# The nested lead is cut to its id: the leads table holds the lead, current, once.
CAMPAIGN_LEADS_COLUMNS = _table(
    id=("text", "PersistIQ's id of the lead's place in the campaign (cl_...)"),
    campaign_id=("text", "The campaign; joins campaigns.id"),
    mailbox_id=("text", "The mailbox the campaign emails the lead from; joins users__mailboxes.id"),
    lead_id=(
        "text",
        "The lead; joins leads.id (PersistIQ sends the whole lead; only its id is kept)",
    ),
)

REPLY_BODY_COLUMNS = _columns(
    body=(
        "text",
        f"Full text of the reply; personal data, loaded only with {LOAD_REPLY_BODIES_ENV}",
    ),
    preview=(
        "text",
        f"Start of the reply's text; personal data, loaded only with {LOAD_REPLY_BODIES_ENV}",
    ),
)
REPLIES_COLUMNS = _table(
    id=("text", "PersistIQ's id of the reply"),
    campaign_id=("text", "The campaign replied to; joins campaigns.id"),
    lead_id=("text", "The lead of the reply; joins leads.id"),
    sent_at=("timestamp", f"When the reply was sent: {INSTANT}; its day is the partition"),
    kind=("text", "PersistIQ's kind of reply (values not documented)"),
    sentiment=("text", "PersistIQ's sentiment label for the reply (values not documented)"),
    from_email=("text", "Email address the reply came from"),
    # Lists of addresses stay in one column, not child tables.
    to_emails=("json", "JSON list of the email addresses the reply was sent to"),
    cc_emails=("json", "JSON list of the email addresses copied (cc); null or empty when none"),
    subject=("text", "Subject line of the reply"),
    step_message_id=(
        "text",
        "Id of the campaign step's message the reply answers (no table of steps)",
    ),
)

# Two published shapes: OpenAPI (event_type, created_at, data{}) and PersistIQ's docs pages
# (kind, event_at, user_id, user{}, campaign{}, lead{}, params{}, diff{}). occurred_at,
# event_type, campaign_id, lead_id and user_id are filled from either, so queries need not care.
EVENTS_COLUMNS = _table(
    id=("text", "PersistIQ's id of the event (evt_...)"),
    event_type=("text", "What happened, e.g. email_sent: event_type, or kind in the docs shape"),
    occurred_at=(
        "timestamp",
        f"When it happened (created_at or event_at): {INSTANT}; its day is the partition",
    ),
    campaign_id=(
        "text",
        "The campaign concerned, wherever the shape puts its id; joins campaigns.id",
    ),
    lead_id=("text", "The lead concerned, wherever the shape puts its id; joins leads.id"),
    user_id=("text", "The user concerned, wherever the shape puts its id; joins users.id"),
    kind=("text", "What happened, as the docs-page shape names it; null in the OpenAPI shape"),
    created_at=("timestamp", f"When it happened, OpenAPI shape: {INSTANT}"),
    event_at=("timestamp", f"When it happened, docs-page shape: {INSTANT}"),
    params=("json", "JSON object of the event's parameters (docs-page shape; not documented)"),
    diff=("json", "JSON object of what the event changed (docs-page shape; not documented)"),
)

COLUMNS_BY_RESOURCE = {
    "users": USERS_COLUMNS,
    "leads": LEADS_COLUMNS,
    "campaigns": CAMPAIGNS_COLUMNS,
    "campaign_leads": CAMPAIGN_LEADS_COLUMNS,
    "replies": REPLIES_COLUMNS,
    "events": EVENTS_COLUMNS,
    "lead_statuses": _table(
        id=("text", "PersistIQ's id of the lead status (lss_...)"),
        name=("text", "The status's name"),
    ),
    "lead_fields": _table(
        id=("text", "PersistIQ's id of the lead field (lcf_...)"),
        name=("text", "The field's name"),
        label=("text", "The field's label, as PersistIQ shows it"),
    ),
    "tags": _table(
        id=("text", "PersistIQ's id of the tag"),
        name=("text", "The tag's name"),
    ),
    "dnc_domains": _table(
        id=("text", "PersistIQ's id of the do-not-contact domain (dom_...)"),
        name=("text", "The domain not to contact, e.g. example.com"),
    ),
}


def columns_for(table: str, reply_bodies: bool = False) -> TTableSchemaColumns:
    """The declared columns of ``table``; replies declare body and preview only when loaded,
    so a warehouse that does not load them has no such columns either."""
    columns = COLUMNS_BY_RESOURCE[table]
    if table == "replies" and reply_bodies:
        return {**columns, **REPLY_BODY_COLUMNS}
    return columns


def _nested(**declared: tuple[str, str]) -> TTableSchemaColumns:
    """A child table's columns. dlt names a resource's own columns itself but takes nested
    hints as given, so these carry their ``name`` (``dlt.mark.make_nested_hints`` would add
    it, but rest_api's config check rejects the extra key it also adds)."""
    columns = _columns(**declared)
    for name, column in columns.items():
        column["name"] = name
    return columns


# Child tables declared through dlt's nested_hints: resource -> list field -> columns. Only
# one level down: rest_api's config check takes string paths only, not the tuple
# ("mailboxes", "campaign_ids") a deeper table needs.
NESTED_COLUMNS_BY_RESOURCE: dict[str, dict[str, TTableSchemaColumns]] = {
    "users": {
        "mailboxes": _nested(
            id=(
                "text",
                "PersistIQ's id of the mailbox (mbox_...); campaign_leads.mailbox_id joins it",
            ),
            email=("text", "The mailbox's email address"),
        ),
    },
}


def nested_hints_for(table: str) -> dict[str, TResourceNestedHints]:
    """dlt ``nested_hints`` for the resource ``table``: its declared child tables' columns."""
    return {
        path: {"columns": columns}
        for path, columns in NESTED_COLUMNS_BY_RESOURCE.get(table, {}).items()
    }


# Every child table's columns (but dlt's own), described. The declared ones are in dlt's
# schema as well; users__mailboxes__campaign_ids cannot be declared (see above).
NESTED_COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    **{
        f"{table}__{path}": {name: column["description"] for name, column in columns.items()}
        for table, paths in NESTED_COLUMNS_BY_RESOURCE.items()
        for path, columns in paths.items()
    },
    "users__mailboxes__campaign_ids": {
        "value": (
            "An id from the mailbox's campaign_ids list; joins campaigns.id (list not documented)"
        ),
    },
}

# The columns dlt adds itself (dlt 1.31). Snapshot tables load with scd2, the others merge on
# id (delete-insert); child tables hold the items of a nested list.
DLT_COLUMN_DESCRIPTIONS: dict[str, str] = {
    "_dlt_id": (
        "dlt's row key: content hash in scd2 tables, random in merge tables, "
        "parent+position hash in child tables"
    ),
    "_dlt_load_id": (
        "Id of the dlt load that wrote the row (Unix time as text); joins _dlt_loads.load_id"
    ),
    "_dlt_parent_id": "Child tables: the _dlt_id of the parent row whose list held this item",
    "_dlt_list_idx": "Child tables: the item's position in its parent row's list, from 0",
    "_dlt_root_id": "Child tables: the _dlt_id of the top-level row the item belongs to",
    "_dlt_valid_from": (
        "scd2 snapshot tables: when this version became current, the time of its load (UTC)"
    ),
    "_dlt_valid_to": (
        "scd2 snapshot tables: when this version stopped being current (UTC); null while current"
    ),
}


def custom_field_columns(labels: Mapping[str, str], normalize: Callable[[str], str]) -> dict:
    """Column hints that describe the account's custom lead fields by their ``lead_fields``
    labels (name -> label); the documented fields keep their own descriptions. ``normalize``
    is the dlt schema's naming of a column."""
    return {
        column: {"name": column, "description": f"{label}: a custom lead field (data.{name})"}
        for name, label in labels.items()
        if name not in LEAD_DATA_DESCRIPTIONS
        for column in [f"data__{normalize(name)}"]
    }
