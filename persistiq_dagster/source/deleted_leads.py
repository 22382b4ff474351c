"""Finding the leads PersistIQ deleted, which ``updated_after`` never reports.

Every lead id is listed (one request per 100 leads, several pages at a time, through the run's
request budget) and compared with the current rows of ``leads``. A lead the listing lacks is
asked for by id (``GET /leads/{id}``) before it is marked: a list read page by page while leads
are deleted shifts under the reader, and a lead can fall between two pages. Only a 404 marks
it. A marked lead that is listed again is current again.

The row stays; ``deleted_at`` holds when the project first found the lead gone: the time the
listing began.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from dlt.destinations.sql_client import SqlClientBase
from requests import Session

from persistiq_dagster.source.current_rows import DELETED_AT_COLUMN, rows
from persistiq_dagster.source.http.errors import raise_for_persistiq_error
from persistiq_dagster.source.http.urls import api_url
from persistiq_dagster.source.list_reader import Reader

CHUNK = 500  # ids per UPDATE statement


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation found: ``deleted`` marked now, ``restored`` current again,
    ``shifted`` missing from the listing but still there when asked by id."""

    listed: int
    deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    shifted: list[str] = field(default_factory=list)


def reconcile_leads(
    client: SqlClientBase,
    listed: set[str],
    exists: Callable[[str], bool],
    at: datetime,
) -> Reconciliation:
    """Mark the current leads missing from ``listed`` (and gone by ``exists``) deleted at
    ``at``; unmark the marked ones that are listed again."""
    table = client.make_qualified_table_name("leads")
    id_, deleted_at = client.escape_column_name("id"), client.escape_column_name(DELETED_AT_COLUMN)
    marked = dict(rows(client, f"select {id_}, {deleted_at} is not null from {table}"))
    missing = sorted(
        lead for lead, is_marked in marked.items() if not is_marked and lead not in listed
    )
    gone = [lead for lead in missing if not exists(lead)]
    shifted = sorted(set(missing) - set(gone))
    back = sorted(lead for lead, is_marked in marked.items() if is_marked and lead in listed)
    _update(client, f"update {table} set {deleted_at} = %s where {id_} in", gone, at)
    _update(client, f"update {table} set {deleted_at} = null where {id_} in", back)
    return Reconciliation(len(listed), gone, back, shifted)


def _update(client: SqlClientBase, sql: str, ids: Sequence[str], *args: object) -> None:
    for chunk in _chunks(ids):
        placeholders = ", ".join(["%s"] * len(chunk))
        client.execute_sql(f"{sql} ({placeholders})", *args, *chunk)


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    return (ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK))


def listed_lead_ids(reader: Reader) -> set[str]:
    """The id of every lead PersistIQ lists now."""
    return {
        str(lead["id"]) for page in reader.pages("leads", {}) for lead in page if lead.get("id")
    }


def lead_exists(reader: Reader) -> Callable[[str], bool]:
    """Whether PersistIQ still has a lead: ``GET /leads/{id}``, where only a 404 says no."""
    session = reader.session or Session()

    def exists(lead_id: str) -> bool:
        url = api_url(reader.base_url, f"leads/{quote(lead_id, safe='')}")
        response = session.get(url, headers=reader.headers)
        if response.status_code == 404:
            return False
        raise_for_persistiq_error(response, reader.api_key)
        response.raise_for_status()
        return True

    return exists
