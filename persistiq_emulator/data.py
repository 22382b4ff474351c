"""The thread-safe store the emulator serves, and helpers for reading its records.

Holds the resource names and record vocabularies (event shapes and types, window ends), the
timestamp helpers (format_timestamp, parse_timestamp), the record helpers shared by the server
and by tests (public, event_time, reply_time, event_campaign_id, in_window, ...) and
EmulatorStore. The seeded data itself is generated in generate.py (make_dataset,
DEFAULT_UPDATED_FROM/_TO/_DAYS); the lead statuses, format_epoch_seconds and the lead maker the
store adds leads with are in records.py, which both this module and generate.py import.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

from persistiq_emulator.records import LEAD_STATUSES, make_lead, new_id, pick

RESOURCES = ("users", "leads", "campaigns")  # the seeds' resources, served at /v1/<name>
# Also served at /v1/<name>; lead_statuses and lead_fields take no `page`.
EXTRA_RESOURCES = ("events", "lead_statuses", "lead_fields", "tags", "dnc_domains")
# Served per campaign: /v1/campaigns/{campaign_id}/leads and /v1/campaigns/{campaign_id}/replies.
# `campaign_leads` holds links {id, campaign_id, mailbox_id, lead_id}; served with the lead nested.
CAMPAIGN_RESOURCES = ("campaign_leads", "replies")
STORED_RESOURCES = RESOURCES + EXTRA_RESOURCES + CAMPAIGN_RESOURCES
EVENT_SHAPES = ("openapi", "docs")
EVENT_GROUPS = ("campaign", "settings", "lead_detail")
EMAIL_EVENT_TYPES = (
    "email_sent", "email_opened", "email_clicked", "email_replied", "email_bounced",
)  # fmt: skip
EVENT_TYPES = (*EMAIL_EVENT_TYPES, "lead_status_changed")
WINDOW_ENDS = ("inclusive", "exclusive")


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix; microseconds only when non-zero. Naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def parse_timestamp(text: str) -> datetime:
    """Parse ISO 8601 (`Z`, `+00:00`, or a bare date); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- reading records: helpers shared by the server and by tests -------------------------------


def public(record: dict) -> dict:
    """`record` as served: without the hidden keys (those starting with "_")."""
    if any(key.startswith("_") for key in record):
        return {key: value for key, value in record.items() if not key.startswith("_")}
    return record


def _parse_or_none(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def event_time(event: dict) -> datetime | None:
    """When an event happened: `created_at` (openapi shape) or `event_at` (docs shape)."""
    return _parse_or_none(event.get("created_at") or event.get("event_at"))


def reply_time(reply: dict) -> datetime | None:
    return _parse_or_none(reply.get("sent_at"))


# Where a reply whose campaign_id is null keeps the campaign that lists it (never served).
REPLY_CAMPAIGN_KEY = "_campaign_id"


def reply_campaign_id(reply: dict) -> str | None:
    """The campaign whose replies list holds the reply, even when its `campaign_id` is null."""
    return reply.get(REPLY_CAMPAIGN_KEY) or reply.get("campaign_id")


def event_group(event: dict) -> str | None:
    """The group (campaign, settings, lead_detail) kept under the hidden key `_group`."""
    return event.get("_group")


def event_campaign_id(event: dict) -> str | None:
    return (event.get("data") or {}).get("campaign_id") or (event.get("campaign") or {}).get("id")


def event_lead_id(event: dict) -> str | None:
    return (event.get("data") or {}).get("lead_id") or (event.get("lead") or {}).get("id")


def event_user_id(event: dict) -> str | None:
    return (event.get("data") or {}).get("user_id") or event.get("user_id")


def in_window(
    moment: datetime | None,
    start: datetime | None,
    end: datetime | None,
    window_ends: str = "inclusive",
) -> bool:
    """Whether `moment` is in the window: start <= t <= end ("inclusive") or start < t < end
    ("exclusive"); a missing bound is open. A null moment is never in a window."""
    if moment is None:
        return False
    if window_ends == "inclusive":
        return (start is None or start <= moment) and (end is None or moment <= end)
    if window_ends == "exclusive":
        return (start is None or start < moment) and (end is None or moment < end)
    raise ValueError(f"window_ends must be one of {WINDOW_ENDS}, not {window_ends!r}")


class EmulatorStore:
    """Records served by the emulator, guarded by `lock`; `version` grows on every change.

    Change records through the methods here (or call `bump()` after editing the lists by
    hand) so the emulator's per-version page cache sees the change. Changed leads are replaced
    by new dicts (copy-on-write), so a response being built from an older version stays whole.
    """

    def __init__(
        self,
        users: list[dict] | None = None,
        leads: list[dict] | None = None,
        campaigns: list[dict] | None = None,
        *,
        seed: int = 0,
        with_updated_at: bool = True,
        campaign_leads: list[dict] | None = None,
        replies: list[dict] | None = None,
        events: list[dict] | None = None,
        lead_statuses: list[dict] | None = None,
        lead_fields: list[dict] | None = None,
        tags: list[dict] | None = None,
        dnc_domains: list[dict] | None = None,
        event_shape: str = "openapi",
    ) -> None:
        if event_shape not in EVENT_SHAPES:
            raise ValueError(f"event_shape must be one of {EVENT_SHAPES}, not {event_shape!r}")
        self.users = list(users or [])
        self.leads = list(leads or [])
        self.campaigns = list(campaigns or [])
        # Links {id, campaign_id, mailbox_id, lead_id}; campaign_leads_of() nests the live lead.
        self.campaign_leads = list(campaign_leads or [])
        self.replies = list(replies or [])
        # Events in `event_shape`, each with its group under the hidden key "_group".
        self.events = list(events or [])
        self.lead_statuses = list(lead_statuses or [])
        self.lead_fields = list(lead_fields or [])
        self.tags = list(tags or [])
        self.dnc_domains = list(dnc_domains or [])
        self.event_shape = event_shape
        self.with_updated_at = with_updated_at
        self.version = 0
        self.lock = threading.RLock()
        self._rng = random.Random(f"persistiq-store-mutations:{seed}")

    def records(self, resource: str) -> list[dict]:
        """The live list for `resource` (one of STORED_RESOURCES), as stored."""
        if resource not in STORED_RESOURCES:
            raise KeyError(resource)
        return getattr(self, resource)

    def campaign(self, campaign_id: str) -> dict | None:
        """The campaign with this id, or None."""
        with self.lock:
            return next((c for c in self.campaigns if c.get("id") == campaign_id), None)

    def lead(self, id_or_email: str) -> dict | None:
        """The lead with this id or email address (as ``GET /leads/{id}`` finds it), or None."""
        with self.lock:
            for lead in self.leads:
                if id_or_email in (lead.get("id"), (lead.get("data") or {}).get("email")):
                    return lead
        return None

    def campaign_leads_of(self, campaign_id: str) -> list[dict]:
        """The campaign's leads as /v1/campaigns/{id}/leads serves them, ordered by id.

        Each is {id, campaign_id, mailbox_id, lead}, `lead` being the live lead record (do not
        mutate it); links to leads no longer in the store are left out. KeyError if the
        campaign does not exist.
        """
        with self.lock:
            if self.campaign(campaign_id) is None:
                raise KeyError(campaign_id)
            links = [link for link in self.campaign_leads if link["campaign_id"] == campaign_id]
            wanted = {link["lead_id"] for link in links}
            lead_by_id = {lead["id"]: lead for lead in self.leads if lead["id"] in wanted}
        links.sort(key=lambda link: str(link["id"]))
        return [
            {
                "id": link["id"],
                "campaign_id": link["campaign_id"],
                "mailbox_id": link["mailbox_id"],
                "lead": lead_by_id[link["lead_id"]],
            }
            for link in links
            if link["lead_id"] in lead_by_id
        ]

    def replies_of(self, campaign_id: str) -> list[dict]:
        """The campaign's replies, ordered by id. KeyError if the campaign does not exist."""
        with self.lock:
            if self.campaign(campaign_id) is None:
                raise KeyError(campaign_id)
            found = [reply for reply in self.replies if reply_campaign_id(reply) == campaign_id]
        return sorted(found, key=lambda reply: str(reply["id"]))

    event_time = staticmethod(event_time)
    reply_time = staticmethod(reply_time)
    event_group = staticmethod(event_group)

    def bump(self) -> int:
        """Mark the data as changed; returns the new version."""
        with self.lock:
            self.version += 1
            return self.version

    def replace(self, resource: str, records: list[dict]) -> None:
        """Swap in a new list of records for `resource`."""
        with self.lock:
            self.records(resource)  # validates the name
            setattr(self, resource, list(records))
            self.version += 1

    def add_lead_field(
        self, name: str, label: str, values: dict[str, object], at: datetime | None = None
    ) -> None:
        """An account adds a custom lead field partway through: `lead_fields` lists it, and
        the leads in `values` (id -> value) carry it in `data`, `updated_at` set to `at`."""
        stamp = format_timestamp(at or datetime.now(UTC))
        with self.lock:
            self.lead_fields = [
                *self.lead_fields,
                {"id": f"lcf_{name}", "name": name, "label": label},
            ]
            for index, lead in enumerate(self.leads):
                if lead["id"] in values:
                    data = {**(lead.get("data") or {}), name: values[lead["id"]]}
                    self.leads[index] = {**lead, "data": data, "updated_at": stamp}
            self.version += 1

    def update_leads(
        self,
        count: int | None = None,
        ids: list[str] | None = None,
        at: datetime | None = None,
    ) -> list[str]:
        """Change the status of leads `ids`, or of `count` leads picked by the seeded rng.

        Sets `updated_at` to `at` (default: now, UTC) on leads that carry the field; leads
        without it stay without it. Returns the ids changed, in the order given or picked.
        """
        if (count is None) == (ids is None):
            raise ValueError("pass exactly one of count= or ids=")
        stamp = format_timestamp(at or datetime.now(UTC))
        with self.lock:
            position = {lead["id"]: index for index, lead in enumerate(self.leads)}
            if ids is None:
                ids = [
                    self.leads[i]["id"]
                    for i in self._rng.sample(range(len(self.leads)), min(count, len(self.leads)))
                ]
            missing = [lead_id for lead_id in ids if lead_id not in position]
            if missing:
                raise KeyError(f"unknown lead ids: {missing[:5]}")
            for lead_id in ids:
                index = position[lead_id]
                lead = dict(self.leads[index])
                others = [s for s in LEAD_STATUSES if s != lead.get("status")]
                lead["status"] = pick(self._rng, others)
                if "updated_at" in lead:
                    lead["updated_at"] = stamp
                self.leads[index] = lead
            self.version += 1
            return list(ids)

    def add_leads(self, n: int, at: datetime | None = None) -> list[str]:
        """Append `n` new leads created and updated at `at` (default: now, UTC); returns ids."""
        moment = at or datetime.now(UTC)
        stamp, seconds = format_timestamp(moment), int(moment.timestamp())
        with self.lock:
            taken = {lead["id"] for lead in self.leads}
            user_ids = [user["id"] for user in self.users]
            new = []
            for _ in range(n):
                lead_id = new_id(self._rng, "l", taken)
                lead = make_lead(self._rng, lead_id, len(taken), user_ids, seconds, seconds, False)
                if self.with_updated_at:
                    lead["created_at"] = lead["updated_at"] = stamp
                new.append(lead)
            self.leads.extend(new)
            self.version += 1
            return [lead["id"] for lead in new]

    def remove_leads(self, ids: list[str]) -> None:
        """Delete the leads with these ids, and their campaign leads (unknown ids are ignored)."""
        doomed = set(ids)
        with self.lock:
            self.leads = [lead for lead in self.leads if lead["id"] not in doomed]
            self.campaign_leads = [
                link for link in self.campaign_leads if link["lead_id"] not in doomed
            ]
            self.version += 1

    def remove_campaign(self, campaign_id: str) -> bool:
        """Delete a campaign with its campaign leads and replies; returns whether it existed.

        Mailboxes stop listing it in `campaign_ids` (their users are replaced by copies);
        events that mention it stay, as history does.
        """
        with self.lock:
            kept = [c for c in self.campaigns if c.get("id") != campaign_id]
            existed = len(kept) < len(self.campaigns)
            self.campaigns = kept
            self.campaign_leads = [
                link for link in self.campaign_leads if link["campaign_id"] != campaign_id
            ]
            self.replies = [r for r in self.replies if reply_campaign_id(r) != campaign_id]
            self.users = [_without_campaign(user, campaign_id) for user in self.users]
            self.version += 1
            return existed


def _without_campaign(user: dict, campaign_id: str) -> dict:
    mailboxes = user.get("mailboxes") or []
    if not any(campaign_id in box.get("campaign_ids", ()) for box in mailboxes):
        return user
    boxes = [
        {**box, "campaign_ids": [c for c in box.get("campaign_ids", ()) if c != campaign_id]}
        for box in mailboxes
    ]
    return {**user, "mailboxes": boxes}
