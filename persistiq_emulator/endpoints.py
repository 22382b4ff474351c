"""What each emulated list endpoint serves: routes, query filters, and the per-version cache.

| path (under /v1/)              | records key    | filters                                     |
|--------------------------------|----------------|---------------------------------------------|
| users                          | users          | -                                           |
| leads                          | leads          | updated_after, created_after, status, email |
| campaigns                      | campaigns      | owner_id, name (exact), lead_id             |
| campaigns/{campaign_id}/leads  | campaign_leads | -                                           |
| campaigns/{campaign_id}/replies| replies        | lead_id, start_at, end_at (on sent_at)      |
| events                         | events         | group, campaign, lead, user, start_at/end_at|
| lead_statuses, lead_fields     | the path's name| - (`page` is ignored: one page of all)      |
| tags, dnc_domains              | the path's name| -                                           |

`start_at`/`end_at` bound a window on the record's time (events: `created_at` or `event_at`;
replies: `sent_at`) whose ends are inclusive or exclusive per the emulator's `window_ends`;
records whose time is null are never in a window. Keys starting with "_" (an event's hidden
`_group`) are never served.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

from persistiq_emulator.data import (
    EmulatorStore,
    event_campaign_id,
    event_group,
    event_lead_id,
    event_time,
    event_user_id,
    in_window,
    parse_timestamp,
    public,
    reply_time,
)

Predicate = Callable[[dict], bool]
Filters = tuple[tuple[str, str], ...]


class BadRequest(ValueError):
    """A query parameter the API would reject with 400."""


class NotFound(LookupError):
    """A record named in the path (a campaign) that does not exist: 404."""


def json_bytes(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class FilterContext:
    """What a filter may look at besides its raw value."""

    store: EmulatorStore
    window_ends: str = "inclusive"
    untimed_in_windows: bool = False


@dataclass(frozen=True)
class Filter:
    """A query filter: `check(raw)` raises BadRequest (400) on a bad value; `build` returns
    the predicate, called with the store locked."""

    build: Callable[[str, FilterContext], Predicate]
    check: Callable[[str], object] = lambda raw: None


def _timestamp_checker(param: str) -> Callable[[str], datetime]:
    def check(raw: str) -> datetime:
        try:
            return parse_timestamp(raw)
        except ValueError:
            raise BadRequest(f"Invalid {param}: {raw!r}") from None

    return check


def _after(field_name: str) -> Filter:
    """Keep records whose `field_name` is strictly later than the value.

    Records without the field (or with null) are kept: the server can't tell when they
    changed, so an `updated_after` filter never hides them.
    """
    check = _timestamp_checker(field_name.replace("_at", "_after"))

    def build(raw: str, context: FilterContext) -> Predicate:
        bound = check(raw)

        def keep(record: dict) -> bool:
            value = record.get(field_name)
            if value is None:
                return True
            try:
                return parse_timestamp(value) > bound
            except ValueError:
                return True

        return keep

    return Filter(build, check)


def _window(param: str, time_of: Callable[[dict], datetime | None]) -> Filter:
    """`start_at` or `end_at`: one end of a window on `time_of(record)`; a record without a
    time passes only with `untimed_in_windows`."""
    check = _timestamp_checker(param)

    def build(raw: str, context: FilterContext) -> Predicate:
        bound = check(raw)
        start, end = (bound, None) if param == "start_at" else (None, bound)

        def keep(record: dict) -> bool:
            moment = time_of(record)
            if moment is None:
                return context.untimed_in_windows
            return in_window(moment, start, end, context.window_ends)

        return keep

    return Filter(build, check)


def _equals(value_of: Callable[[dict], object]) -> Filter:
    return Filter(lambda raw, context: lambda record: value_of(record) == raw)


def _campaign_holds_lead(raw: str, context: FilterContext) -> Predicate:
    holding = {
        link["campaign_id"] for link in context.store.campaign_leads if link["lead_id"] == raw
    }
    return lambda record: record.get("id") in holding


@dataclass(frozen=True)
class Endpoint:
    """One list endpoint: its records key, filters, whether it pages, and whether it lives
    under /v1/campaigns/{campaign_id}/."""

    key: str
    filters: Mapping[str, Filter] = field(default_factory=dict)
    paged: bool = True
    per_campaign: bool = False
    # The store lists its answer depends on (the cache key watches them).
    sources: tuple[str, ...] = ()


ENDPOINTS: dict[str, Endpoint] = {
    "users": Endpoint("users", sources=("users",)),
    "leads": Endpoint(
        "leads",
        {
            "updated_after": _after("updated_at"),
            "created_after": _after("created_at"),
            "status": _equals(lambda record: record.get("status")),
            "email": _equals(lambda record: (record.get("data") or {}).get("email")),
        },
        sources=("leads",),
    ),
    "campaigns": Endpoint(
        "campaigns",
        {
            "owner_id": _equals(lambda record: (record.get("creator") or {}).get("id")),
            "name": _equals(lambda record: record.get("name")),
            "lead_id": Filter(_campaign_holds_lead),
        },
        sources=("campaigns", "campaign_leads"),
    ),
    "campaign_leads": Endpoint(
        "campaign_leads", per_campaign=True, sources=("campaigns", "campaign_leads", "leads")
    ),
    "replies": Endpoint(
        "replies",
        {
            "lead_id": _equals(lambda record: record.get("lead_id")),
            "start_at": _window("start_at", reply_time),
            "end_at": _window("end_at", reply_time),
        },
        per_campaign=True,
        sources=("campaigns", "replies"),
    ),
    "events": Endpoint(
        "events",
        {
            "group": _equals(event_group),
            "campaign": _equals(event_campaign_id),
            "lead": _equals(event_lead_id),
            "user": _equals(event_user_id),
            "start_at": _window("start_at", event_time),
            "end_at": _window("end_at", event_time),
        },
        sources=("events",),
    ),
    "lead_statuses": Endpoint("lead_statuses", paged=False, sources=("lead_statuses",)),
    "lead_fields": Endpoint("lead_fields", paged=False, sources=("lead_fields",)),
    "tags": Endpoint("tags", sources=("tags",)),
    "dnc_domains": Endpoint("dnc_domains", sources=("dnc_domains",)),
}
# The lists whose records may hold hidden keys (an event's group, a reply's campaign).
HIDDEN_KEYS_IN = ("events", "replies")
FILTERS: dict[str, Mapping[str, Filter]] = {name: ep.filters for name, ep in ENDPOINTS.items()}
_PER_CAMPAIGN_PATHS = {"leads": "campaign_leads", "replies": "replies"}


def route(path: str) -> tuple[str, str | None] | None:
    """(endpoint name, campaign id or None) for a request path, or None for an unknown path.

    Paths match exactly: `/v1/leads/` and `/v1/campaigns//leads` are unknown.
    """
    if not path.startswith("/v1/"):
        return None
    rest = path[len("/v1/") :]
    if rest in ENDPOINTS and not ENDPOINTS[rest].per_campaign:
        return rest, None
    parts = rest.split("/")
    if len(parts) != 3 or parts[0] != "campaigns" or not parts[1]:
        return None
    if parts[2] not in _PER_CAMPAIGN_PATHS:
        return None
    return _PER_CAMPAIGN_PATHS[parts[2]], unquote(parts[1])


def parse_filters(resource: str, query: Mapping[str, str]) -> Filters:
    """The supported filters present in `query`, validated (BadRequest if unparseable)."""
    supported = FILTERS[resource]
    chosen = tuple(sorted((k, v) for k, v in query.items() if k in supported))
    for name, raw in chosen:
        supported[name].check(raw)
    return chosen


def select(
    store: EmulatorStore,
    resource: str,
    filters: Filters = (),
    campaign_id: str | None = None,
    window_ends: str = "inclusive",
    untimed_in_windows: bool = False,
) -> list[dict]:
    """Every record the endpoint serves for these filters (all pages), ordered by id.

    NotFound when `resource` is per campaign and the campaign does not exist.
    """
    endpoint = ENDPOINTS[resource]
    context = FilterContext(store, window_ends, untimed_in_windows)
    with store.lock:
        if endpoint.per_campaign:
            try:
                if resource == "campaign_leads":
                    live = store.campaign_leads_of(campaign_id)
                else:
                    live = store.replies_of(campaign_id)
            except KeyError:
                raise NotFound(f"Campaign {campaign_id} not found") from None
        else:
            live = store.records(resource)
        predicates = [endpoint.filters[name].build(raw, context) for name, raw in filters]
        selected = [r for r in live if all(keep(r) for keep in predicates)]
    selected.sort(key=lambda record: str(record.get("id")))
    if resource in HIDDEN_KEYS_IN:
        selected = [public(record) for record in selected]
    return selected


@dataclass
class FilteredRecords:
    """One filtered, id-ordered snapshot, with the JSON of the pages already served."""

    records: list[dict]
    encoded_chunks: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def chunk_json(self, start: int, size: int) -> bytes:
        """The JSON array of records[start:start+size], encoded once and then reused."""
        key = (start, size)
        encoded = self.encoded_chunks.get(key)
        if encoded is None:
            encoded = json_bytes(self.records[start : start + size])
            self.encoded_chunks[key] = encoded
        return encoded


class FilteredRecordsCache:
    """FilteredRecords per (resource, campaign id, filters, window ends, store version), LRU.

    Pages are slices of a cached list, so a full scan costs one filter+sort, not one a page,
    and a repeated scan reuses the encoded pages. Bounded by entries and by records held.
    """

    def __init__(self, max_entries: int = 32, max_records: int = 1_000_000) -> None:
        self._entries: OrderedDict[tuple, FilteredRecords] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._max_records = max_records

    def get(
        self,
        store: EmulatorStore,
        resource: str,
        filters: Filters,
        campaign_id: str | None = None,
        window_ends: str = "inclusive",
        untimed_in_windows: bool = False,
    ) -> FilteredRecords:
        with store.lock:
            # id()/len() catch lists replaced or appended to without store.bump().
            lists = tuple(
                (id(store.records(name)), len(store.records(name)))
                for name in ENDPOINTS[resource].sources
            )
            key = (
                id(store),
                resource,
                campaign_id,
                filters,
                window_ends,
                untimed_in_windows,
                store.version,
                lists,
            )
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        # select() holds the store lock only to filter; a change made since the key was taken
        # can only make this entry newer than its key says, never older.
        entry = FilteredRecords(
            select(store, resource, filters, campaign_id, window_ends, untimed_in_windows)
        )
        with self._lock:
            self._entries[key] = entry
            held = sum(len(e.records) for e in self._entries.values())
            while len(self._entries) > 1 and (
                len(self._entries) > self._max_entries or held > self._max_records
            ):
                _, evicted = self._entries.popitem(last=False)
                held -= len(evicted.records)
        return entry
