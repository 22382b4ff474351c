"""``GET /events`` of a window ``[start, end)``: a second wider on the server, exact here, each
event placed by its own time; several pages at a time."""

from collections.abc import Iterator

import dlt
from dlt.extract.resource import DltResource

from persistiq_dagster.source.catalog import MERGE_WRITE_DISPOSITION
from persistiq_dagster.source.columns import COLUMNS_BY_RESOURCE
from persistiq_dagster.source.list_reader import Reader
from persistiq_dagster.source.records import EVENT_TIME, event_row
from persistiq_dagster.source.windows import Window, in_window, window_params


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
        keep = in_window(EVENT_TIME, start, end, reader.tally.counter_of_untimed("events"))
        for records in reader.pages("events", window_params(start, end)):
            yield [row for row in map(event_row, records) if keep(row)]

    return events
