"""One cheap poll of PersistIQ for the leads sensor: page 1 of leads updated after a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from persistiq_dagster import config
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.source.http.errors import (
    check_envelope,
    connect_failure,
    error_fields,
    raise_for_persistiq_error,
)
from persistiq_dagster.source.http.session import CONNECT_TIMEOUT_SECONDS
from persistiq_dagster.source.http.urls import api_url
from persistiq_dagster.source.leads import LEADS_CURSOR_PARAM

LEADS_PATH = "leads"
# A tick must stay well inside Dagster's sensor timeout (60 s by default): one retry, short
# waits, and at most this long per attempt (the resource's timeout when it is shorter).
SENSOR_MAX_RETRIES = 1
SENSOR_MAX_RETRY_DELAY = 5.0
SENSOR_MAX_REQUEST_TIMEOUT = 20.0


class LeadsPollError(Exception):
    """The tick could not read the page; the message says why and which setting to check."""


@dataclass(frozen=True)
class LeadsPage:
    leads: list[dict[str, Any]]
    more: bool  # PersistIQ holds more leads after the cursor than this page


def poll_leads(persistiq: PersistIQResource, updated_after: str) -> LeadsPage:
    """``GET <base_url>leads?updated_after=...``, page 1 only, with few and quick retries.

    Raises PersistIQConfigError without a key, PersistIQError on a 4xx or a malformed page,
    and LeadsPollError when PersistIQ is unreachable, too slow, or still failing after the
    retries; every message is free of the key.
    """
    api_key = persistiq.require_api_key()
    quick = persistiq.model_copy(
        update={
            "max_retries": min(persistiq.max_retries, SENSOR_MAX_RETRIES),
            "max_retry_delay": min(persistiq.max_retry_delay, SENSOR_MAX_RETRY_DELAY),
            "request_timeout": min(persistiq.request_timeout, SENSOR_MAX_REQUEST_TIMEOUT),
        }
    )
    url = api_url(persistiq.base_url, LEADS_PATH)
    attempts = quick.max_retries + 1
    session = quick.build_session()
    try:
        response = session.get(
            url,
            params={LEADS_CURSOR_PARAM: updated_after},
            headers=persistiq.request_headers(),
            timeout=(min(CONNECT_TIMEOUT_SECONDS, quick.request_timeout), quick.request_timeout),
        )
    except requests.RequestException as error:
        failure = connect_failure(error)
        if failure:  # not retried: the host never answered
            raise LeadsPollError(
                f"Could not connect to PersistIQ at {persistiq.base_url} ({failure}); check "
                f"{config.BASE_URL_ENV} and the network"
            ) from None
        if isinstance(error, requests.Timeout):
            raise LeadsPollError(
                f"PersistIQ at {persistiq.base_url} did not answer within "
                f"{quick.request_timeout:g} s ({attempts} attempts, {type(error).__name__}); "
                f"check {config.BASE_URL_ENV} and the network"
            ) from None
        raise LeadsPollError(
            f"PersistIQ is unreachable at {persistiq.base_url} ({attempts} attempts, "
            f"{type(error).__name__}); check {config.BASE_URL_ENV} and the network"
        ) from None
    finally:
        session.close()

    raise_for_persistiq_error(response, api_key)  # 4xx but 429: PersistIQAPIError with a hint
    if not response.ok:  # 429 or 5xx still there after the retries
        reason, message = error_fields(response)
        hint = (
            f"lower {config.REQUESTS_PER_MINUTE_ENV} or lengthen {config.LEADS_SENSOR_INTERVAL_ENV}"
            if response.status_code == 429
            else "PersistIQ is having trouble; the next tick tries again"
        )
        raise LeadsPollError(
            f"PersistIQ answered {response.status_code} {reason} on "
            f"{urlsplit(response.url).path} after {attempts} attempts"
            + (f": {message}" if message else "")
            + f"; {hint}"
        )
    check_envelope(response, LEADS_PATH, api_key)
    payload = response.json()
    leads = payload[LEADS_PATH]
    if not all(isinstance(lead, dict) and lead.get("id") is not None for lead in leads):
        raise LeadsPollError(
            f"PersistIQ {response.status_code} on {urlsplit(response.url).path}: a lead in "
            "the page is not an object with an id"
        )
    more = bool(payload.get("next_page")) and payload.get("has_more") is not False
    return LeadsPage(leads, more)
