"""``GET /leads`` by ``updated_at`` window: PersistIQ filters from ``updated_after`` on, the
window's end is applied here; several pages at a time, timestamps parsed in extract."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from persistiq_dagster.source.catalog import MERGE_WRITE_DISPOSITION
from persistiq_dagster.source.columns import COLUMNS_BY_RESOURCE
from persistiq_dagster.source.list_reader import Reader
from persistiq_dagster.source.windows import (
    Window,
    parse_instant,
    parse_timestamps,
    server_lower_bound,
)

LEADS_CURSOR_FIELD = "updated_at"
LEADS_CURSOR_PARAM = "updated_after"
LEADS_TIMESTAMP_FIELDS = tuple(
    name
    for name, column in COLUMNS_BY_RESOURCE["leads"].items()
    if column.get("data_type") == "timestamp"
)


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


def leads_resource(reader: Reader, updated: dlt.sources.incremental[Any]) -> DltResource:
    """``GET /leads`` from ``updated_after`` on. A lead without ``updated_at`` (PersistIQ's
    contract does not list it) cannot be placed in a window: PersistIQ sends it with every
    ``updated_after``, each run keeps it (rows merge on id) and the run's tally counts it."""
    untimed = reader.tally.counter_of_untimed("leads")

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
            parse_timestamps(records, LEADS_TIMESTAMP_FIELDS)
            for record in records:
                if not isinstance(record.get(LEADS_CURSOR_FIELD), datetime):
                    untimed()
            yield records

    return leads
