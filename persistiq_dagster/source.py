"""The PersistIQ dlt source, built on ``dlt.sources.rest_api``.

Three resources, each read from ``GET /<name>`` with records under the key of the same name:

- ``users`` and ``campaigns`` are snapshots: every call returns every current record, so they
  load with dlt's ``scd2`` merge strategy. The rows with ``_dlt_valid_to`` null are exactly what
  PersistIQ returned last; a record that changed keeps its earlier versions (campaign stats
  become a time series) and one PersistIQ no longer returns is retired, not deleted.
- ``leads`` load by ``updated_at`` window through ``updated_after``, merged on ``id``; when one
  load holds an id twice, the row with the latest ``updated_at`` wins (``dedup_sort``). Records
  without ``updated_at`` are kept (merge on ``id`` removes the overlap). Leads are the one list
  that runs to thousands of pages, so they are read several pages at a time (``page_reader``),
  by a dlt resource of our own handed to ``rest_api`` beside the declared ones.
"""

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource
from dlt.sources.rest_api import rest_api_source
from requests import Response, Session

from persistiq_dagster.errors import check_envelope, raise_for_persistiq_error
from persistiq_dagster.page_reader import page_fetcher, read_pages
from persistiq_dagster.pagination import PersistIQPaginator
from persistiq_dagster.schema import COLUMNS_BY_RESOURCE
from persistiq_dagster.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENT_REQUESTS,
    DEFAULT_USER_AGENT,
)

RESOURCE_NAMES = ("users", "campaigns", "leads")
SNAPSHOT_RESOURCES = ("users", "campaigns")  # every call returns every current record
SNAPSHOT_WRITE_DISPOSITION = {"disposition": "merge", "strategy": "scd2"}
MERGE_WRITE_DISPOSITION = {"disposition": "merge", "strategy": "delete-insert"}
LEADS_CURSOR_FIELD = "updated_at"
LEADS_CURSOR_PARAM = "updated_after"
LEADS_TIMESTAMP_FIELDS = tuple(
    name
    for name, column in COLUMNS_BY_RESOURCE["leads"].items()
    if column.get("data_type") == "timestamp"
)

RESOURCE_DESCRIPTIONS = {
    "users": (
        "PersistIQ users of the account (GET /users), with history: current rows have "
        "_dlt_valid_to null."
    ),
    "campaigns": (
        "PersistIQ campaigns with creator and stats (GET /campaigns), with history: current "
        "rows have _dlt_valid_to null; earlier stats stay as closed versions."
    ),
    "leads": "PersistIQ leads (GET /leads), one partition per day of updated_at, merged on id.",
}


def response_check(
    records_key: str, api_key: str | None, pages: Counter[str]
) -> Callable[[Response], None]:
    """The hook run on every response: fail fast on 4xx, insist on the envelope, count pages.

    One hook, not three: dlt's rest_api decodes the body text once per response action.
    """

    def check(response: Response) -> None:
        raise_for_persistiq_error(response, api_key)
        check_envelope(response, records_key, api_key)
        if response.ok:
            pages[records_key] += 1

    return check


def parse_instant(value: str | datetime) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def instant_or_text(value: str) -> datetime | str:
    """``value`` as an aware datetime if it is ISO 8601, else unchanged (dlt deals with it)."""
    try:
        return parse_instant(value)
    except ValueError:
        return value


def parse_timestamps(records: list[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The ``fields`` of each record as aware datetimes, where they are ISO 8601 text.

    Python's own parser, at about a microsecond a value, instead of dlt's per-value coercion
    to its timestamp type in normalize (about 15: a third of normalize time for leads); and
    the incremental cursor then compares datetimes with plain ``max``.
    """
    for record in records:
        for field in fields:
            value = record.get(field)
            if value.__class__ is str:
                record[field] = instant_or_text(value)
    return records


def latest_timestamp(values: Sequence[Any]) -> Any:
    """``max`` by instant, not by text: ``...00.5Z`` sorts before ``...00Z`` as a string."""
    return max(values, key=parse_instant)


def server_lower_bound(value: str) -> str:
    """The ``updated_after`` sent for a window starting at ``value``: one second earlier.

    Whether PersistIQ's ``updated_after`` is strict is not known; asking from a second before
    keeps a lead updated exactly at the boundary, and the client-side range drops the extra.
    """
    moment = parse_instant(value).astimezone(UTC) - timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def first_of_each_id(resource: str, repeats: Counter[str]) -> Callable[[dict[str, Any]], bool]:
    """A filter for one load of a snapshot: an id PersistIQ sent again is dropped (and
    counted). dlt's scd2 would otherwise keep both copies as current rows."""
    seen: set[Any] = set()

    def first(record: dict[str, Any]) -> bool:
        record_id = record.get("id")
        if record_id in seen:
            repeats[resource] += 1
            return False
        seen.add(record_id)
        return True

    return first


def leads_incremental(start: str | None, end: str | None) -> dlt.sources.incremental[Any]:
    """Leads with ``start <= updated_at < end``: the lower bound goes to the server as
    ``updated_after``, the window is applied on the client (there is no upper-bound parameter).

    Without ``end`` dlt keeps the highest ``updated_at`` seen in the pipeline state and starts
    the next run there; with ``end`` (a partition window) the state is left alone. The bounds,
    like the cursor values (``parse_timestamps``), are aware datetimes, so ``max`` orders them
    by instant, not by text (``...00.5Z`` sorts before ``...00Z`` as a string).
    """
    return dlt.sources.incremental(
        LEADS_CURSOR_FIELD,
        initial_value=parse_instant(start) if start else None,
        end_value=parse_instant(end) if end else None,
        last_value_func=max,
        range_start="closed",
        range_end="open",
        on_cursor_value_missing="include",
    )


def leads_resource(
    session: Session | None,
    base_url: str,
    headers: dict[str, str],
    api_key: str | None,
    updated: dlt.sources.incremental[Any],
    concurrency: int,
    pages: Counter[str],
) -> DltResource:
    """``GET /leads`` from ``updated_after`` on, ``concurrency`` pages at a time, in order."""

    @dlt.resource(
        name="leads",
        primary_key="id",
        write_disposition=MERGE_WRITE_DISPOSITION,  # type: ignore[arg-type]
        columns=COLUMNS_BY_RESOURCE["leads"],
    )
    def leads(updated_at: dlt.sources.incremental[Any] = updated) -> Iterator[list[dict]]:
        params = {}
        if updated_at.last_value is not None:
            params[LEADS_CURSOR_PARAM] = server_lower_bound(updated_at.last_value)
        fetch = page_fetcher(
            session or Session(), base_url, "leads", "leads", params, headers, api_key
        )
        for page in read_pages(fetch, concurrency):
            pages["leads"] += 1
            yield parse_timestamps(page.records, LEADS_TIMESTAMP_FIELDS)

    return leads


def persistiq_source(
    api_key: str | None = None,
    *,
    name: str = "persistiq",
    resources: Sequence[str] = RESOURCE_NAMES,
    base_url: str = DEFAULT_BASE_URL,
    user_agent: str = DEFAULT_USER_AGENT,
    leads_start: str | None = None,
    leads_end: str | None = None,
    concurrency: int = DEFAULT_CONCURRENT_REQUESTS,
    session: Session | None = None,
    pages: Counter[str] | None = None,
    repeats: Counter[str] | None = None,
) -> DltSource:
    """Build the source for ``resources``.

    ``api_key`` may be None when the source only derives asset specs (at import time);
    ``name`` becomes the dlt schema name, so two pipelines sharing a dataset keep apart.
    ``pages``, when given, counts the pages read per resource; ``repeats``, the records of a
    snapshot dropped because their id came earlier in the same load.
    """
    pages = Counter() if pages is None else pages
    repeats = Counter() if repeats is None else repeats
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    client: dict[str, Any] = {
        "base_url": base_url,
        "auth": {
            "type": "api_key",
            "name": "x-api-key",
            "api_key": api_key or "",
            "location": "header",
        },
        "headers": headers,
        "paginator": PersistIQPaginator(),
    }
    if session is not None:
        client["session"] = session
    config: dict[str, Any] = {
        "client": client,
        "resource_defaults": {"primary_key": "id"},
        "resources": [
            {
                "name": resource,
                "write_disposition": SNAPSHOT_WRITE_DISPOSITION,
                "columns": COLUMNS_BY_RESOURCE[resource],
                "endpoint": {
                    "path": resource,
                    "data_selector": resource,
                    "response_actions": [response_check(resource, api_key, pages)],
                },
                "processing_steps": [{"filter": first_of_each_id(resource, repeats)}],
            }
            for resource in resources
            if resource in SNAPSHOT_RESOURCES
        ],
    }
    if "leads" in resources:
        updated = leads_incremental(leads_start, leads_end)
        config["resources"].append(
            leads_resource(
                session,
                base_url,
                {**headers, "x-api-key": api_key or ""},
                api_key,
                updated,
                concurrency,
                pages,
            )
        )
    return rest_api_source(config, name=name)  # type: ignore[arg-type]
