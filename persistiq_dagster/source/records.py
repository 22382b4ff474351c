"""How PersistIQ's records are shaped on their way to the warehouse, one record at a time.

Each function is a dlt processing step (a ``map`` or a ``filter``), run in extract: what they
drop never reaches dlt's files.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from persistiq_dagster.source.windows import instant_or_text

Record = dict[str, Any]

# rest_api's name for the parent's id carried into each row of a per-campaign list.
PARENT_ID_FIELD = "_campaigns_id"
EVENT_TIME_FIELDS = ("created_at", "event_at")
EVENT_TIME = "occurred_at"
# What a prospect wrote in a reply: loaded only when the settings say so (personal data).
REPLY_BODY_FIELDS = ("body", "preview")


def first_of_each_id(table: str, repeats: Counter[str]) -> Callable[[Record], bool]:
    """A filter for one load of a snapshot: an id PersistIQ sent again is dropped (and
    counted). dlt's scd2 would otherwise keep both copies as current rows."""
    seen: set[Any] = set()

    def first(record: Record) -> bool:
        record_id = record.get("id")
        if record_id in seen:
            repeats[table] += 1
            return False
        seen.add(record_id)
        return True

    return first


def _campaign_id(record: Record) -> Record:
    """The campaign the row was read for, where PersistIQ's record does not say it."""
    parent = record.pop(PARENT_ID_FIELD, None)
    if record.get("campaign_id") is None:
        record["campaign_id"] = parent
    return record


def campaign_lead_row(record: Record) -> Record:
    """A campaign lead with its nested lead cut to ``lead_id``: the leads table holds the
    lead once, current; a copy here would go stale and repeat personal data."""
    lead = record.pop("lead", None)
    if record.get("lead_id") is None:
        record["lead_id"] = lead.get("id") if isinstance(lead, dict) else lead
    return _campaign_id(record)


def reply_row(drop: Sequence[str]) -> Callable[[Record], Record]:
    """A reply with its campaign id, ``sent_at`` parsed, and the ``drop`` fields removed."""

    def shape(record: Record) -> Record:
        for field in drop:
            record.pop(field, None)
        sent_at = record.get("sent_at")
        if isinstance(sent_at, str):
            record["sent_at"] = instant_or_text(sent_at)
        return _campaign_id(record)

    return shape


def _nested_id(record: Record, name: str) -> Any:
    """``<name>_id`` wherever a shape keeps it: top level, ``data{}`` or ``<name>{id}``."""
    value = record.get(f"{name}_id")
    if value is None:
        value = (record.get("data") or {}).get(f"{name}_id")
    if value is None and isinstance(record.get(name), dict):
        value = record[name].get("id")
    return value


def event_row(record: Record) -> Record:
    """An event in either published shape, with ``occurred_at``, ``event_type``,
    ``campaign_id``, ``lead_id`` and ``user_id`` filled from whichever fields it has."""
    for field in EVENT_TIME_FIELDS:
        value = record.get(field)
        if isinstance(value, str):
            record[field] = instant_or_text(value)
    record[EVENT_TIME] = next(
        (record[f] for f in EVENT_TIME_FIELDS if record.get(f) is not None), None
    )
    if record.get("event_type") is None:
        record["event_type"] = record.get("kind")
    for name in ("campaign", "lead", "user"):
        record[f"{name}_id"] = _nested_id(record, name)
    return record
