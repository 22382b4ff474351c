"""The guard on per-campaign lists: a few campaigns gone is a deletion, too many an endpoint
gone; nothing is decided before PersistIQ has listed every campaign."""

import pytest

from persistiq_dagster.source.campaign_lists import CampaignLists, PersistIQMissingListError


def page(*ids: str, last: bool) -> dict:
    return {
        "campaigns": [{"id": campaign} for campaign in ids],
        "has_more": not last,
        "next_page": None if last else "https://api.persistiq.com/v1/campaigns?page=2",
    }


def test_nothing_is_decided_until_the_last_page_of_campaigns():
    lists = CampaignLists(max_missing_share=0.2)
    lists.campaigns_page(page("c1", "c2", "c3", last=False), "campaigns")
    for campaign in ("c1", "c2", "c3"):
        lists.gone("campaign_leads", campaign)  # 3 of 3 so far, but more campaigns are coming

    with pytest.raises(PersistIQMissingListError, match="for 3 of the 12 campaigns"):
        lists.campaigns_page(page(*[f"c{n}" for n in range(4, 13)], last=True), "campaigns")


def test_an_empty_last_page_completes_the_listing():
    lists = CampaignLists(max_missing_share=0.5)
    lists.campaigns_page(page("c1", last=False), "campaigns")
    lists.gone("replies", "c1")

    with pytest.raises(PersistIQMissingListError, match="campaigns/{campaign_id}/replies"):
        lists.campaigns_page(page(last=True), "campaigns")


@pytest.mark.parametrize(
    ("share", "gone", "fails"),
    [(0.25, 1, False), (0.25, 2, True), (1.0, 3, False), (1.0, 4, True), (0.0, 1, True)],
    ids=["at-the-share", "over-it", "share-1-some", "share-1-all", "share-0-one"],
)
def test_more_than_the_share_or_every_campaign_fails(share, gone, fails):
    lists = CampaignLists(max_missing_share=share)
    lists.campaigns_page(page("c1", "c2", "c3", "c4", last=True), "campaigns")

    def answer_404s() -> None:
        for campaign in ["c1", "c2", "c3", "c4"][:gone]:
            lists.gone("campaign_leads", campaign)

    if fails:
        with pytest.raises(PersistIQMissingListError, match=f"{gone} of the 4 campaigns"):
            answer_404s()
    else:
        answer_404s()
        assert lists.missing["campaign_leads"] == ["c1", "c2", "c3", "c4"][:gone]
    assert not lists.missing["replies"]  # each list has its own count
