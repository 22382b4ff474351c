"""Time windows: ISO 8601 instants, the bounds sent to PersistIQ, and the client-side range.

PersistIQ's filters say "after" and "before" without saying whether they include the bound.
So the server is always asked for a second more on each side, and the exact half-open window
``[start, end)`` is applied here: a record at exactly midnight lands in the day it starts,
once, whatever the server does at the boundary.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

SERVER_MARGIN = timedelta(seconds=1)
# A bound of a window: an ISO 8601 text or an instant; None when there is none.
Window = str | datetime | None


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


def format_instant(moment: datetime) -> str:
    """``2024-01-01T00:00:00Z``: the form PersistIQ's filters are sent in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_iso_timestamp(value: str | datetime) -> str:
    """``2024-01-01`` or any ISO 8601 value as ``2024-01-01T00:00:00Z`` (UTC; naive is UTC)."""
    return format_instant(parse_instant(value))


def parse_timestamps(records: list[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The ``fields`` of each record as aware datetimes, where they are ISO 8601 text.

    Python's own parser, at about a microsecond a value, instead of dlt's per-value coercion
    to its timestamp type in normalize (about 15: a third of normalize time for leads); and
    cursors then compare datetimes with plain ``max``.
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


def server_lower_bound(value: str | datetime) -> str:
    """The lower bound sent for a window starting at ``value``: one second earlier."""
    return format_instant(parse_instant(value) - SERVER_MARGIN)


def server_upper_bound(value: str | datetime) -> str:
    """The upper bound sent for a window ending at ``value``: one second later."""
    return format_instant(parse_instant(value) + SERVER_MARGIN)


def window_params(start: str | datetime, end: str | datetime) -> dict[str, str]:
    """``start_at``/``end_at`` for the window ``[start, end)``, a second wider each side."""
    return {"start_at": server_lower_bound(start), "end_at": server_upper_bound(end)}


def in_window(
    field: str,
    start: str | datetime,
    end: str | datetime,
    untimed: Callable[[], None] | None = None,
) -> Callable[[dict[str, Any]], bool]:
    """A filter keeping records whose ``field`` (a datetime, see ``parse_timestamps``) is in
    ``[start, end)``. A record without it, or with text that is not ISO 8601, is kept: it
    cannot be placed in a day, and merge on id removes any repeat; ``untimed`` is called for
    each, so that the run can count and report them."""
    low, high = parse_instant(start), parse_instant(end)

    def keep(record: dict[str, Any]) -> bool:
        value = record.get(field)
        if not isinstance(value, datetime):
            if untimed is not None:
                untimed()
            return True
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return low <= moment < high

    return keep
