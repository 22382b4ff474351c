"""What PersistIQ's published contract allows and the default data never sends.

Each variant is one way PersistIQ's answers may differ from the emulator's defaults while still
matching its OpenAPI description (``persistiq-openapi-v1.json``). The data variants change a
share of the generated records, chosen by their position, so a test can tell which records
carry a variant (``make_dataset(variants=...)``); the server variants are settings of
``PersistIQEmulator`` (``server_settings``). ``CONTRACT_VARIANTS`` is all of them: the
``--variant all`` profile of ``python -m persistiq_emulator``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta, timezone

from persistiq_emulator.data import REPLY_CAMPAIGN_KEY, parse_timestamp

DATA_VARIANTS = {
    "leads_without_times": "every third lead carries neither created_at nor updated_at "
    "(the contract lists neither)",
    "total_prospects": "every other campaign names its total stats.total_prospects (the "
    "contract's name) instead of total_contacted",
    "precise_times": "timestamps with fractions of a second and with offsets such as -07:00; "
    "every record at exactly midnight UTC is written in -07:00",
    "null_lead_refs": "leads whose status, owner_id or creator_id is null",
    "null_reply_fields": "replies whose sent_at, from_email, lead_id or campaign_id is null",
    "typed_lead_data": "lead data values that are numbers, booleans, null, lists and objects, "
    "in custom fields that lead_fields lists and in documented text fields",
}
SERVER_VARIANTS = {
    "next_page_keeps_params": "next_page URLs keep the request's filters",
    "event_pages_of_500": "500 events a page, as PersistIQ's docs pages say (other lists 100)",
    "untimed_in_windows": "records without a time are in every start_at/end_at window "
    "(by default they are in none)",
}
CONTRACT_VARIANTS = (*DATA_VARIANTS, *SERVER_VARIANTS)

LEAD_TIME_FIELDS = ("created_at", "updated_at", "last_sent_at")
WEST = timezone(timedelta(hours=-7))
EAST = timezone(timedelta(hours=5, minutes=30))
# Custom lead fields of typed_lead_data: name -> (label, value of the n-th lead that has it).
CUSTOM_FIELDS = {
    "employees": ("Employees", lambda n: 10 * (n + 1)),
    "is_customer": ("Is customer", lambda n: n % 2 == 0),
    "annual_revenue": ("Annual revenue", lambda n: 1250.5 * (n + 1)),
    "languages": ("Languages", lambda n: ["en", "fr"][: 1 + n % 2]),
    "office": ("Office", lambda n: {"city": "Zürich", "floor": n % 5}),
}
# A value of another type than the rest of its field: dlt keeps it in a variant column.
ODD_EMPLOYEES = "51-200"
# Of every NULL_EVERY leads (replies), the one at position `place` has `field` null.
NULL_EVERY = 10
LEAD_NULL_PLACES = {"status": 3, "owner_id": 5, "creator_id": 7}
REPLY_NULL_PLACES = {"sent_at": 1, "from_email": 3, "lead_id": 5, "campaign_id": 7}


def check_variants(variants: Collection[str]) -> None:
    unknown = sorted(set(variants) - set(CONTRACT_VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {', '.join(CONTRACT_VARIANTS)}")


def server_settings(variants: Collection[str]) -> dict:
    """``PersistIQEmulator`` settings for the server variants among ``variants``."""
    check_variants(variants)
    settings: dict = {}
    if "next_page_keeps_params" in variants:
        settings["next_page_keeps_params"] = True
    if "event_pages_of_500" in variants:
        settings["page_sizes"] = {"events": 500}
    if "untimed_in_windows" in variants:
        settings["untimed_in_windows"] = True
    return settings


def precise(text: str, position: int) -> str:
    """``text`` (``...Z``, whole seconds) written another way: at midnight the same instant in
    -07:00; else by position, unchanged, in -07:00, with milliseconds (later by them), or with
    microseconds in +05:30."""
    moment = parse_timestamp(text)
    if moment.hour == moment.minute == moment.second == 0 or position % 4 == 1:
        return moment.astimezone(WEST).isoformat()
    if position % 4 == 2:
        return moment.replace(microsecond=250_000).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if position % 4 == 3:
        return moment.replace(microsecond=123_456).astimezone(EAST).isoformat()
    return text


def _precise_times(leads: list[dict], replies: list[dict], events: list[dict]) -> None:
    for position, record in enumerate([*leads, *replies, *events]):
        for field in (*LEAD_TIME_FIELDS, "sent_at", "event_at"):
            if isinstance(record.get(field), str):
                record[field] = precise(record[field], position)


def _typed_lead_data(leads: list[dict], lead_fields: list[dict]) -> None:
    for name, (label, _) in CUSTOM_FIELDS.items():
        lead_fields.append({"id": f"lcf_{name}", "name": name, "label": label})
    typed = [lead for position, lead in enumerate(leads) if position % 5 == 1]
    for n, lead in enumerate(typed):
        data = dict(lead.get("data") or {})
        for name, (_, value) in CUSTOM_FIELDS.items():
            data[name] = value(n)
        data["phone"] = 5550100 + n  # a documented text field sent as a number
        data["twitter"] = None
        lead["data"] = data
    if len(typed) > 2:
        typed[-1]["data"]["employees"] = ODD_EMPLOYEES


def _null_fields(records: list[dict], places: dict[str, int]) -> None:
    for position, record in enumerate(records):
        for field, place in places.items():
            if position % NULL_EVERY == place:
                if field == "campaign_id":
                    record[REPLY_CAMPAIGN_KEY] = record["campaign_id"]
                record[field] = None
                if field == "status":
                    record["bounced"] = record["optedout"] = False


def apply_data_variants(variants: Collection[str], records: dict[str, list[dict]]) -> None:
    """Change ``records`` (lists by resource name, as ``make_dataset`` built them) in place
    for the data variants among ``variants`` (checked by ``make_dataset`` before it builds)."""
    leads, campaigns = records["leads"], records["campaigns"]
    if "leads_without_times" in variants:
        for lead in leads[::3]:
            lead.pop("created_at", None)
            lead.pop("updated_at", None)
    if "total_prospects" in variants:
        for campaign in campaigns[::2]:
            stats = campaign["stats"]
            stats["total_prospects"] = stats.pop("total_contacted")
    if "precise_times" in variants:
        _precise_times(leads, records["replies"], records["events"])
    if "null_lead_refs" in variants:
        _null_fields(leads, LEAD_NULL_PLACES)
    if "null_reply_fields" in variants:
        _null_fields(records["replies"], REPLY_NULL_PLACES)
    if "typed_lead_data" in variants:
        _typed_lead_data(leads, records["lead_fields"])
