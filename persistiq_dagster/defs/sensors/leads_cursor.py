"""What the leads sensor remembers between ticks, and the days it reasons in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from persistiq_dagster.source.windows import parse_instant, server_lower_bound


@dataclass(frozen=True)
class LeadsCursor:
    """What the leads sensor has seen, kept as JSON in the sensor cursor.

    ``updated_at``: the highest ``updated_at`` seen, as PersistIQ wrote it (at first, the start
    of the day the sensor first ticked; after the "stuck page" rule, the whole second
    ``step_past`` gave, with no ids). ``ids_at_cursor``: the leads already seen at exactly
    that instant, so a lead updated in the same second but seen only later still counts.
    ``fingerprint``: sha256 of the page's leads that have no ``updated_at`` (None until a
    first page was read). ``activity_at``: when today's events and replies were last
    requested (None before the first time), by our clock.
    """

    updated_at: str
    ids_at_cursor: tuple[str, ...] = ()
    fingerprint: str | None = None
    activity_at: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "updated_at": self.updated_at,
                "ids_at_cursor": list(self.ids_at_cursor),
                "fingerprint": self.fingerprint,
                "activity_at": self.activity_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> LeadsCursor:
        """Parse a cursor written by ``to_json``; ValueError when it is not one."""
        try:
            data = json.loads(raw)
            updated_at = data["updated_at"]
            parse_instant(updated_at)
            ids = tuple(str(lead_id) for lead_id in data.get("ids_at_cursor") or ())
            fingerprint = data.get("fingerprint")
            activity_at = data.get("activity_at")
            if activity_at is not None:
                parse_instant(activity_at)
        except (TypeError, KeyError, AttributeError, ValueError) as error:
            raise ValueError(f"not a leads sensor cursor: {raw[:200]!r}") from error
        if not isinstance(fingerprint, str | None):
            raise ValueError(f"not a leads sensor cursor: {raw[:200]!r}")
        return cls(updated_at, ids, fingerprint, activity_at)


def step_past(value: str) -> str:
    """The first whole second (``...Z``) whose ``updated_after`` leaves the instant ``value``
    behind: one second past ``value``'s second (two past it when ``value`` has a fraction)."""
    moment = parse_instant(value).astimezone(UTC)
    step = moment.replace(microsecond=0)
    while parse_instant(server_lower_bound(step.isoformat())) < moment:
        step += timedelta(seconds=1)
    return step.strftime("%Y-%m-%dT%H:%M:%SZ")


def start_of_today(timezone: str) -> datetime:
    """Midnight today in ``timezone``: where a new sensor starts looking."""
    return datetime.now(ZoneInfo(timezone)).replace(hour=0, minute=0, second=0, microsecond=0)


def partition_day(value: str, timezone: str) -> date:
    """The day, in the partitions' timezone, of the instant ``value``."""
    return parse_instant(value).astimezone(ZoneInfo(timezone)).date()


def page_fingerprint(leads: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of the sorted ``(id, status)`` pairs: changes when a lead's status changes."""
    pairs = sorted([str(lead.get("id")), str(lead.get("status"))] for lead in leads)
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()
