"""The PersistIQ paginator: every page exactly once, with the request's own parameters kept.

PersistIQ answers ``{"has_more": true, "next_page": ...}`` where ``next_page`` is an absolute
URL in the public examples and "the next page number" in the API description. Following it verbatim
could drop filters such as ``updated_after`` on page 2+ (whether PersistIQ keeps them is not
known), so only the page number is taken from it and set on the original request.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from persistiq_dagster.source.http.errors import PersistIQPaginationError

PAGE_PARAM = "page"
MAX_CONSECUTIVE_EMPTY_PAGES = 3


def next_page_number(next_page: Any, page_param: str = PAGE_PARAM) -> int | None:
    """The page number in a ``next_page`` value: a number, a digit string or a URL."""
    if next_page is None or next_page == "" or isinstance(next_page, bool):
        return None
    if isinstance(next_page, int):
        return next_page
    text = str(next_page).strip()
    if text.isdigit():
        return int(text)
    values = parse_qs(urlsplit(text).query).get(page_param)
    if not values or not values[0].isdigit():
        raise PersistIQPaginationError(
            f"next_page {text!r} carries no numeric {page_param!r} parameter"
        )
    return int(values[0])


def empty_pages_after(
    number: int, next_page: int, has_records: bool, empty_in_a_row: int, url: str
) -> int:
    """Empty pages in a row up to page ``number``, whose ``next_page`` says more are coming.

    Raises when following ``next_page`` would read a page again, or when too many empty pages
    in a row claim more: a list that never ends fails instead of looping.
    """
    if next_page <= number:
        raise PersistIQPaginationError(
            f"next_page {next_page} after page {number} of {url}: "
            "following it would read a page again"
        )
    empty_in_a_row = 0 if has_records else empty_in_a_row + 1
    if empty_in_a_row >= MAX_CONSECUTIVE_EMPTY_PAGES:
        raise PersistIQPaginationError(
            f"{empty_in_a_row} empty pages in a row with has_more set, up to page {number} of {url}"
        )
    return empty_in_a_row


def following_page(payload: Any, page_param: str = PAGE_PARAM) -> int | None:
    """The number of the page after this one; None when its envelope says none follows."""
    if payload.get("has_more") is False:
        return None
    return next_page_number(payload.get("next_page"), page_param)


class PersistIQPaginator(BasePaginator):
    """Page-number pagination driven by PersistIQ's ``next_page`` and ``has_more`` fields."""

    def __init__(self, page_param: str = PAGE_PARAM) -> None:
        super().__init__()
        self.page_param = page_param
        self.current_page = 1
        self.empty_pages_in_a_row = 0

    def init_request(self, request: Request) -> None:
        self.current_page = 1
        self.empty_pages_in_a_row = 0
        self._has_next_page = True

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        payload = response.json()
        next_page = following_page(payload, self.page_param)
        if next_page is None:
            self._has_next_page = False
            return
        self.empty_pages_in_a_row = empty_pages_after(
            self.current_page, next_page, bool(data), self.empty_pages_in_a_row, response.url
        )
        self.current_page = next_page
        self._has_next_page = True

    def update_request(self, request: Request) -> None:
        if self._has_next_page:
            request.params[self.page_param] = self.current_page

    def __str__(self) -> str:
        return f"PersistIQPaginator at page {self.current_page}"
