"""The API root with or without its trailing slash gives the same URLs."""

import pytest

from persistiq_dagster.source.http.urls import api_url


@pytest.mark.parametrize("base", ["https://api.persistiq.com/v1", "https://api.persistiq.com/v1/"])
def test_a_path_joins_the_root_with_or_without_its_slash(base):
    assert api_url(base, "leads") == "https://api.persistiq.com/v1/leads"
    assert (
        api_url(base, "campaigns/c_1/replies")
        == "https://api.persistiq.com/v1/campaigns/c_1/replies"
    )
