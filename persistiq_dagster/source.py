"""The PersistIQ dlt source, built on ``dlt.sources.rest_api``.

One source for every table of ``catalog.TABLES``; each pipeline selects its own:

- Snapshots (users, campaigns, reference tables, and ``campaign_leads``, read once per
  campaign as a dependent resource of campaigns): every call returns every current record,
  so they load with dlt's ``scd2`` merge strategy. The rows with ``_dlt_valid_to`` null are
  exactly what PersistIQ returned last; a record that changed keeps its earlier versions and
  one PersistIQ no longer returns is retired, not deleted.
- ``leads`` load by ``updated_at`` window through ``updated_after``, merged on ``id``; when one
  load holds an id twice, the row with the latest ``updated_at`` wins (``dedup_sort``).
  Records without ``updated_at`` are kept (merge on ``id`` removes the overlap).
- ``events`` and ``replies`` (once per campaign) load by day through ``start_at``/``end_at``,
  merged on ``id`` (see ``windows`` for the bounds).
- Leads and events are the lists that run to thousands of pages, so they are read several
  pages at a time (``page_reader``), by dlt resources of our own handed to ``rest_api``
  beside the declared ones, with the same session, retries and checks.
- A campaign deleted between the listing of campaigns and the reading of its leads or replies
  answers 404: it is skipped, and ``ReadTally.skipped`` says so.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import dlt
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource
from dlt.sources.helpers.rest_client.exceptions import IgnoreResponseException
from dlt.sources.rest_api import rest_api_source
from requests import Response, Session

from persistiq_dagster.catalog import PARENT_TABLE, TABLE_NAMES, TABLES_BY_NAME
from persistiq_dagster.errors import check_envelope, raise_for_persistiq_error
from persistiq_dagster.page_reader import page_fetcher, read_pages
from persistiq_dagster.pagination import PersistIQPaginator
from persistiq_dagster.records import (
    EVENT_TIME,
    campaign_lead_row,
    event_row,
    first_of_each_id,
    reply_row,
)
from persistiq_dagster.schema import COLUMNS_BY_RESOURCE, columns_for, nested_hints_for
from persistiq_dagster.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENT_REQUESTS,
    DEFAULT_USER_AGENT,
    REPLY_BODY_FIELDS,
)
from persistiq_dagster.windows import (
    in_window,
    parse_instant,
    parse_timestamps,
    server_lower_bound,
    window_params,
)

SNAPSHOT_WRITE_DISPOSITION = {"disposition": "merge", "strategy": "scd2"}
MERGE_WRITE_DISPOSITION = {"disposition": "merge", "strategy": "delete-insert"}
LEADS_CURSOR_FIELD = "updated_at"
LEADS_CURSOR_PARAM = "updated_after"
LEADS_TIMESTAMP_FIELDS = tuple(
    name
    for name, column in COLUMNS_BY_RESOURCE["leads"].items()
    if column.get("data_type") == "timestamp"
)
Window = str | datetime | None


@dataclass
class ReadTally:
    """What one run read: pages per table, ids a snapshot sent twice (the first copy is
    loaded), and per table the campaigns PersistIQ no longer had when their turn came."""

    pages: Counter[str] = field(default_factory=Counter)
    repeats: Counter[str] = field(default_factory=Counter)
    skipped: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def campaign_of(url: str) -> str:
    """The campaign id in ``.../campaigns/<id>/<list>``."""
    return urlsplit(url).path.rstrip("/").split("/")[-2]


def response_check(
    records_key: str, api_key: str | None, tally: ReadTally, per_campaign: bool = False
) -> Callable[[Response], None]:
    """The hook run on every response: fail fast on 4xx, insist on the envelope, count pages.
    For a list read per campaign, a 404 means the campaign is gone: skipped and noted.

    One hook, not three: dlt's rest_api decodes the body text once per response action.
    """

    def check(response: Response) -> None:
        if per_campaign and response.status_code == 404:
            tally.skipped[records_key].append(campaign_of(response.url))
            raise IgnoreResponseException
        raise_for_persistiq_error(response, api_key)
        check_envelope(response, records_key, api_key)
        if response.ok:
            tally.pages[records_key] += 1

    return check


def leads_incremental(start: Window, end: Window) -> dlt.sources.incremental[Any]:
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


@dataclass(frozen=True)
class Reader:
    """What a resource of our own needs to read a list the way ``rest_api`` would."""

    session: Session | None
    base_url: str
    headers: Mapping[str, str]
    api_key: str | None
    concurrency: int
    tally: ReadTally

    def pages(self, table: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The records of every page of ``GET /<table>``, several pages at a time, in order."""
        fetch = page_fetcher(
            self.session or Session(), self.base_url, table, table, params, self.headers,
            self.api_key,
        )  # fmt: skip
        for page in read_pages(fetch, self.concurrency):
            self.tally.pages[table] += 1
            yield page.records


def leads_resource(reader: Reader, updated: dlt.sources.incremental[Any]) -> DltResource:
    """``GET /leads`` from ``updated_after`` on."""

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
        for records in reader.pages("leads", params):
            yield parse_timestamps(records, LEADS_TIMESTAMP_FIELDS)

    return leads


def events_resource(reader: Reader, start: Window, end: Window) -> DltResource:
    """``GET /events`` of the window ``[start, end)``, placed by ``occurred_at``."""

    @dlt.resource(
        name="events",
        primary_key="id",
        write_disposition=MERGE_WRITE_DISPOSITION,  # type: ignore[arg-type]
        columns=COLUMNS_BY_RESOURCE["events"],
    )
    def events() -> Iterator[list[dict]]:
        if start is None or end is None:
            raise ValueError("events need the window they are read for (start and end)")
        keep = in_window(EVENT_TIME, start, end)
        for records in reader.pages("events", window_params(start, end)):
            yield [row for row in map(event_row, records) if keep(row)]

    return events


def snapshot_config(table: str, api_key: str | None, tally: ReadTally) -> dict[str, Any]:
    """A list PersistIQ returns whole on every call, loaded as an scd2 snapshot; users also
    declare the columns of their mailboxes' child table (``nested_hints``)."""
    config: dict[str, Any] = {
        "name": table,
        "write_disposition": SNAPSHOT_WRITE_DISPOSITION,
        "columns": COLUMNS_BY_RESOURCE[table],
        "endpoint": {
            "path": TABLES_BY_NAME[table].path,
            "data_selector": table,
            "response_actions": [response_check(table, api_key, tally)],
        },
        "processing_steps": [{"filter": first_of_each_id(table, tally.repeats)}],
    }
    if nested_hints := nested_hints_for(table):
        config["nested_hints"] = nested_hints
    return config


def per_campaign_config(
    table: str,
    api_key: str | None,
    tally: ReadTally,
    steps: list[dict[str, Any]],
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A list read once per campaign: a dlt dependent resource of ``campaigns``, which
    carries the campaign id into each row."""
    path = TABLES_BY_NAME[table].path.replace("{campaign_id}", f"{{resources.{PARENT_TABLE}.id}}")
    return {
        "name": table,
        "include_from_parent": ["id"],
        "endpoint": {
            "path": path,
            "data_selector": table,
            "params": dict(params or {}),
            "response_actions": [response_check(table, api_key, tally, per_campaign=True)],
        },
        "processing_steps": steps,
    }


def persistiq_source(
    api_key: str | None = None,
    *,
    name: str = "persistiq",
    resources: tuple[str, ...] = TABLE_NAMES,
    base_url: str = DEFAULT_BASE_URL,
    user_agent: str = DEFAULT_USER_AGENT,
    start: Window = None,
    end: Window = None,
    reply_bodies: bool = False,
    concurrency: int = DEFAULT_CONCURRENT_REQUESTS,
    session: Session | None = None,
    tally: ReadTally | None = None,
) -> DltSource:
    """Build the source with ``resources`` selected.

    ``api_key`` may be None when the source only derives asset specs (at import time);
    ``name`` becomes the dlt schema name, so pipelines sharing a dataset keep apart.
    ``start``/``end`` is the window of the partitioned tables (leads, events, replies);
    leads without ``end`` continue from dlt's state. ``tally`` counts what was read.
    """
    tally = ReadTally() if tally is None else tally
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
    wanted = set(resources)
    listed = [
        table
        for table in TABLE_NAMES
        if TABLES_BY_NAME[table].snapshot and not TABLES_BY_NAME[table].per_campaign
    ]
    if wanted & {"campaign_leads", "replies"}:
        wanted.add(PARENT_TABLE)  # read to find the campaigns; loaded only when selected
    configs: list[Any] = [snapshot_config(t, api_key, tally) for t in listed if t in wanted]
    if "campaign_leads" in wanted:
        configs.append(
            {
                **per_campaign_config(
                    "campaign_leads",
                    api_key,
                    tally,
                    [
                        {"map": campaign_lead_row},
                        {"filter": first_of_each_id("campaign_leads", tally.repeats)},
                    ],
                ),
                "write_disposition": SNAPSHOT_WRITE_DISPOSITION,
                "columns": COLUMNS_BY_RESOURCE["campaign_leads"],
            }
        )
    if "replies" in wanted:
        steps: list[dict[str, Any]] = [
            {"map": reply_row(() if reply_bodies else REPLY_BODY_FIELDS)}
        ]
        if start is not None and end is not None:
            steps.append({"filter": in_window("sent_at", start, end)})
        configs.append(
            {
                **per_campaign_config(
                    "replies",
                    api_key,
                    tally,
                    steps,
                    window_params(start, end) if start is not None and end is not None else None,
                ),
                "write_disposition": MERGE_WRITE_DISPOSITION,
                "columns": columns_for("replies", reply_bodies),
            }
        )
    reader = Reader(
        session, base_url, {**headers, "x-api-key": api_key or ""}, api_key, concurrency, tally
    )
    if "leads" in wanted:
        configs.append(leads_resource(reader, leads_incremental(start, end)))
    if "events" in wanted:
        configs.append(events_resource(reader, start, end))
    config = {"client": client, "resource_defaults": {"primary_key": "id"}, "resources": configs}
    source = rest_api_source(config, name=name)  # type: ignore[arg-type]
    return source.with_resources(*[table for table in TABLE_NAMES if table in resources])
