"""Reading a list with resources of our own, the way ``rest_api`` reads the others, and the
tally of what one run read."""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from requests import Session

from persistiq_dagster.source.http.page_reader import page_fetcher, read_pages


@dataclass
class ReadTally:
    """What one run read: pages per table, ids a snapshot sent twice (the first copy is
    loaded), per table the campaigns PersistIQ no longer had when their turn came, and the
    records of a window whose time was missing or not ISO 8601 (kept in every window read)."""

    pages: Counter[str] = field(default_factory=Counter)
    repeats: Counter[str] = field(default_factory=Counter)
    skipped: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    untimed: Counter[str] = field(default_factory=Counter)

    def counter_of_untimed(self, table: str) -> Callable[[], None]:
        """Counts a record of ``table`` that has no time to place it by."""

        def count() -> None:
            self.untimed[table] += 1

        return count


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
