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
  answers 404: it is skipped, and ``ReadTally.skipped`` says so; when too many do, the read
  fails before anything is loaded (``campaign_lists``).
"""

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from dlt.extract.source import DltSource
from dlt.sources.helpers.rest_client.exceptions import IgnoreResponseException
from dlt.sources.rest_api import rest_api_source
from requests import Response, Session

from persistiq_dagster.config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENT_REQUESTS,
    DEFAULT_MAX_MISSING_CAMPAIGNS_SHARE,
    DEFAULT_SCHEMA_CONTRACT,
    DEFAULT_USER_AGENT,
)
from persistiq_dagster.source.campaign_lists import CampaignLists
from persistiq_dagster.source.catalog import (
    MERGE_WRITE_DISPOSITION,
    PARENT_TABLE,
    SNAPSHOT_WRITE_DISPOSITION,
    TABLE_NAMES,
    TABLES_BY_NAME,
)
from persistiq_dagster.source.columns import COLUMNS_BY_RESOURCE, columns_for, nested_hints_for
from persistiq_dagster.source.events import events_resource
from persistiq_dagster.source.http.errors import check_envelope, raise_for_persistiq_error
from persistiq_dagster.source.http.pagination import PersistIQPaginator
from persistiq_dagster.source.http.session import api_headers
from persistiq_dagster.source.leads import leads_incremental, leads_resource
from persistiq_dagster.source.list_reader import Reader, ReadTally
from persistiq_dagster.source.records import (
    REPLY_BODY_FIELDS,
    campaign_lead_row,
    first_of_each_id,
    reply_row,
)
from persistiq_dagster.source.schema_changes import SCHEMA_CONTRACTS
from persistiq_dagster.source.windows import Window, in_window, window_params


def campaign_of(url: str) -> str:
    """The campaign id in ``.../campaigns/<id>/<list>``."""
    return urlsplit(url).path.rstrip("/").split("/")[-2]


def response_check(
    records_key: str,
    api_key: str | None,
    tally: ReadTally,
    campaigns: CampaignLists,
    per_campaign: bool = False,
) -> Callable[[Response], None]:
    """The hook run on every response: fail fast on 4xx, insist on the envelope, count pages.
    For a list read per campaign, a 404 means the campaign is gone: skipped and noted, unless
    too many campaigns are (``campaigns`` raises). Pages of campaigns are noted there too.

    One hook, not three: dlt's rest_api decodes the body text once per response action.
    """

    def check(response: Response) -> None:
        if per_campaign and response.status_code == 404:
            campaigns.gone(records_key, campaign_of(response.url))
            raise IgnoreResponseException
        raise_for_persistiq_error(response, api_key)
        check_envelope(response, records_key, api_key)
        if response.ok:
            tally.pages[records_key] += 1
            if records_key == PARENT_TABLE:
                campaigns.campaigns_page(response.json(), records_key)

    return check


def snapshot_config(
    table: str, api_key: str | None, tally: ReadTally, campaigns: CampaignLists
) -> dict[str, Any]:
    """A list PersistIQ returns whole on every call, loaded as an scd2 snapshot; users also
    declare the columns of their mailboxes' child table (``nested_hints``)."""
    config: dict[str, Any] = {
        "name": table,
        "write_disposition": SNAPSHOT_WRITE_DISPOSITION,
        "columns": COLUMNS_BY_RESOURCE[table],
        "endpoint": {
            "path": TABLES_BY_NAME[table].path,
            "data_selector": table,
            "response_actions": [response_check(table, api_key, tally, campaigns)],
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
    campaigns: CampaignLists,
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
            "response_actions": [
                response_check(table, api_key, tally, campaigns, per_campaign=True)
            ],
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
    max_missing_campaigns_share: float = DEFAULT_MAX_MISSING_CAMPAIGNS_SHARE,
    schema_contract: str = DEFAULT_SCHEMA_CONTRACT,
    session: Session | None = None,
    tally: ReadTally | None = None,
) -> DltSource:
    """Build the source with ``resources`` selected.

    ``api_key`` may be None when the source only derives asset specs (at import time);
    ``name`` becomes the dlt schema name, so pipelines sharing a dataset keep apart.
    ``start``/``end`` is the window of the partitioned tables (leads, events, replies);
    leads without ``end`` continue from dlt's state. ``tally`` counts what was read.
    More than ``max_missing_campaigns_share`` of the campaigns answering 404 for their leads
    or replies fails the read. ``schema_contract`` (evolve, freeze) is dlt's schema contract
    for every table (``schema_changes.SCHEMA_CONTRACTS``).
    """
    tally = ReadTally() if tally is None else tally
    campaigns = CampaignLists(max_missing_campaigns_share, tally.skipped)
    headers = api_headers(user_agent)
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
    configs: list[Any] = [
        snapshot_config(t, api_key, tally, campaigns) for t in listed if t in wanted
    ]
    if "campaign_leads" in wanted:
        configs.append(
            {
                **per_campaign_config(
                    "campaign_leads",
                    api_key,
                    tally,
                    campaigns,
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
            untimed = tally.counter_of_untimed("replies")
            steps.append({"filter": in_window("sent_at", start, end, untimed)})
        configs.append(
            {
                **per_campaign_config(
                    "replies",
                    api_key,
                    tally,
                    campaigns,
                    steps,
                    window_params(start, end) if start is not None and end is not None else None,
                ),
                "write_disposition": MERGE_WRITE_DISPOSITION,
                "columns": columns_for("replies", reply_bodies),
            }
        )
    reader = Reader(
        session, base_url, api_headers(user_agent, api_key or ""), api_key, concurrency, tally
    )
    if "leads" in wanted:
        configs.append(leads_resource(reader, leads_incremental(start, end)))
    if "events" in wanted:
        configs.append(events_resource(reader, start, end))
    config = {"client": client, "resource_defaults": {"primary_key": "id"}, "resources": configs}
    source = rest_api_source(config, name=name)  # type: ignore[arg-type]
    source.schema_contract = SCHEMA_CONTRACTS[schema_contract]
    return source.with_resources(*[table for table in TABLE_NAMES if table in resources])
