"""The lists PersistIQ serves once per campaign (``campaigns/{id}/leads``, ``.../replies``),
and the guard that tells a deleted campaign from an endpoint that is gone.

A campaign deleted between the listing of campaigns and the reading of its list answers 404;
it is skipped, and the table holds nothing for it from this run. When the share of campaigns
answering 404 passes ``max_missing_share`` (or every campaign does), the endpoint itself has
moved or a proxy does not forward it: the read fails while dlt is still extracting, so nothing
is loaded and no row is retired.
"""

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from persistiq_dagster.config import BASE_URL_ENV, MAX_MISSING_CAMPAIGNS_SHARE_ENV
from persistiq_dagster.source.catalog import TABLES_BY_NAME
from persistiq_dagster.source.http.errors import PersistIQError
from persistiq_dagster.source.http.pagination import following_page


class PersistIQMissingListError(PersistIQError):
    """A per-campaign list answered 404 for too many of the campaigns PersistIQ listed."""


@dataclass
class CampaignLists:
    """The campaigns listed in one run and, per table, those whose list answered 404
    (``missing``: the run's ``ReadTally.skipped``)."""

    max_missing_share: float
    missing: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    listed: set[str] = field(default_factory=set)
    listing_done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def campaigns_page(self, payload: Any, records_key: str) -> None:
        """Note a page of ``/campaigns``; the last one completes the listing."""
        with self._lock:
            self.listed.update(str(c.get("id")) for c in payload[records_key] if c.get("id"))
            self.listing_done = self.listing_done or following_page(payload) is None
            tables = list(self.missing)
        for table in tables:
            self.check(table)

    def gone(self, table: str, campaign_id: str) -> None:
        """``table``'s list of ``campaign_id`` answered 404."""
        with self._lock:
            self.missing[table].append(campaign_id)
        self.check(table)

    def check(self, table: str) -> None:
        """Raise once the listing is complete and too many of its campaigns answered 404 for
        ``table``; until then, more campaigns may come, so nothing is decided."""
        with self._lock:
            listed, missing = len(self.listed), len(set(self.missing[table]))
            if not self.listing_done or not listed or not missing:
                return
        if missing < listed and missing / listed <= self.max_missing_share:
            return
        path = TABLES_BY_NAME[table].path
        raise PersistIQMissingListError(
            f"PersistIQ answered 404 on {path} for {missing} of the {listed} campaigns it had "
            f"just listed, more than {MAX_MISSING_CAMPAIGNS_SHARE_ENV}="
            f"{self.max_missing_share:g} allows, so the run stopped reading: the endpoint may "
            f"have moved, or a proxy may not forward it; check {BASE_URL_ENV}. Nothing was "
            "loaded and no row was retired."
        )
