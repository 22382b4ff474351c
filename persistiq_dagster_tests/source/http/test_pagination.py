"""The PersistIQ paginator over real HTTP: each page once, filters kept, both next_page forms."""

import pytest
from dlt.sources.helpers.rest_client import RESTClient

from persistiq_dagster.source.http.errors import PersistIQPaginationError
from persistiq_dagster.source.http.pagination import PersistIQPaginator, next_page_number


@pytest.mark.parametrize(
    ("next_page", "expected"),
    [
        (None, None),
        ("", None),
        (2, 2),
        ("12", 12),
        ("https://api.persistiq.com/v1/leads?page=10", 10),
        ("https://api.persistiq.com/v1/leads?updated_after=2024-01-01&page=11&x=1", 11),
        ("/v1/leads?page=3", 3),
    ],
    ids=["null", "empty", "int", "digits", "url-page-10", "url-with-filters", "relative-url"],
)
def test_next_page_number_reads_every_form(next_page, expected):
    assert next_page_number(next_page) == expected


def test_next_page_url_without_a_page_number_is_an_error():
    with pytest.raises(PersistIQPaginationError, match="no numeric 'page'"):
        next_page_number("https://api.persistiq.com/v1/leads?cursor=abc")


@pytest.mark.parametrize("next_page_style", ["url", "number"])
@pytest.mark.parametrize("keeps_params", [False, True], ids=["url-drops-filter", "url-keeps"])
def test_pages_are_read_once_with_the_filter_on_every_page(
    emulator, store, next_page_style, keeps_params
):
    emulator.next_page_style = next_page_style
    emulator.next_page_keeps_params = keeps_params
    client = RESTClient(
        base_url=emulator.base_url,
        headers={"x-api-key": emulator.api_key},
        paginator=PersistIQPaginator(),
        data_selector="leads",
    )
    cutoff = "2024-01-05T00:00:00Z"  # inside the data's days, more than a page of leads after it

    records = [
        record
        for page in client.paginate("leads", params={"updated_after": cutoff})
        for record in page
    ]

    expected = sorted(lead["id"] for lead in store.leads if lead["updated_at"] > cutoff)
    assert sorted(record["id"] for record in records) == expected
    requests = emulator.requests
    assert [r.query.get("page", "1") for r in requests] == [
        str(page) for page in range(1, len(requests) + 1)
    ]
    assert len(requests) == -(-len(expected) // 100)
    assert all(r.query["updated_after"] == cutoff for r in requests)
