"""``leads_updates_sensor``: a run of ``leads_job`` for each day with new PersistIQ updates."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from persistiq_dagster import settings
from persistiq_dagster.env import int_from_env
from persistiq_dagster.errors import PersistIQConfigError, PersistIQError, redact
from persistiq_dagster.jobs import leads_job
from persistiq_dagster.partitions import leads_daily_partitions
from persistiq_dagster.resources import PersistIQResource, to_iso_timestamp
from persistiq_dagster.sensors.leads_cursor import (
    LeadsCursor,
    page_fingerprint,
    partition_day,
    start_of_today,
)
from persistiq_dagster.sensors.leads_poll import LeadsPollError, poll_leads
from persistiq_dagster.source import (
    LEADS_CURSOR_FIELD,
    latest_timestamp,
    parse_instant,
    server_lower_bound,
)

LEADS_SENSOR_INTERVAL_SECONDS = int_from_env(
    settings.LEADS_SENSOR_INTERVAL_ENV, settings.DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS
)


def _split_leads(
    leads: list[dict[str, Any]], cursor: LeadsCursor
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(leads updated after the cursor, leads without ``updated_at``)."""
    cursor_instant = parse_instant(cursor.updated_at)
    seen_at_cursor = set(cursor.ids_at_cursor)
    new, untimed = [], []
    for lead in leads:
        value = lead.get(LEADS_CURSOR_FIELD)
        if value is None:
            untimed.append(lead)
            continue
        try:
            instant = parse_instant(value)
        except (TypeError, ValueError):
            raise LeadsPollError(
                f"PersistIQ sent lead {lead['id']!r} with {LEADS_CURSOR_FIELD}={value!r}, "
                "which is not an ISO 8601 timestamp"
            ) from None
        if instant > cursor_instant or (
            instant == cursor_instant and str(lead["id"]) not in seen_at_cursor
        ):
            new.append(lead)
    return new, untimed


def _partition_days() -> tuple[date, date]:
    """The first and last days of the leads partitions (the last is today)."""
    fmt = leads_daily_partitions.fmt
    first = leads_daily_partitions.get_first_partition_key()
    last = leads_daily_partitions.get_last_partition_key()
    if first is None or last is None:  # the start date is still ahead: no day exists yet
        return date.max, date.min
    return datetime.strptime(first, fmt).date(), datetime.strptime(last, fmt).date()


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@sensor(
    name="persistiq_leads_updates_sensor",
    job=leads_job,
    minimum_interval_seconds=LEADS_SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Asks PersistIQ, with one request a tick, for leads updated since the last update seen "
        "(GET /leads?updated_after=, page 1) and launches persistiq_leads_job for each day that "
        "holds a new update (normally today), once per update. Starts from the beginning of "
        "today; never backfills older days. Skips, without moving on, while PersistIQ cannot "
        f"be read. Interval: {settings.LEADS_SENSOR_INTERVAL_ENV} seconds."
    ),
)
def leads_updates_sensor(
    context: SensorEvaluationContext, persistiq: PersistIQResource
) -> SensorResult | SkipReason:
    """Request ``leads_job`` runs for the days in which PersistIQ leads were updated.

    Leads with ``updated_at``: every lead whose ``updated_at`` is after the cursor (or at the
    cursor and not seen yet) is new; a run is requested for the day of each, in the partitions'
    timezone, and the cursor moves to the highest ``updated_at``. ``updated_after`` is sent one
    second before the cursor (``server_lower_bound``) and the rest is filtered here. When the
    page is full and PersistIQ has more (only page 1 is read), every day from the cursor's to
    today is requested, since the unread pages may hold any of them. A new lead whose day is
    not a partition yet (a clock ahead of ours) holds the cursor back until the day exists.

    Leads without ``updated_at`` (the public docs' sample lead has none): the sensor cannot
    tell which changed, so it keeps a fingerprint of them (sha256 of their sorted ids and
    statuses) in the cursor. The first tick records it; afterwards a changed fingerprint
    requests today's partition and an unchanged one requests nothing. Only page 1 is
    fingerprinted, so with more than a page of such leads a change on a later page goes
    unnoticed until the next scheduled load.

    Every run key is derived from the day and the new cursor, so a run is never requested
    twice. When PersistIQ cannot be read (no key, unreachable, timeout, 401, 5xx or 429 after
    the retries, a malformed page) the tick skips with the reason and the cursor stays put.
    """
    timezone = leads_daily_partitions.timezone
    today = start_of_today(timezone)
    cursor = LeadsCursor(to_iso_timestamp(today))
    if context.cursor:
        try:
            cursor = LeadsCursor.from_json(context.cursor)
        except ValueError as error:
            context.log.warning(f"{error}; starting again from {cursor.updated_at}")

    updated_after = server_lower_bound(cursor.updated_at)
    try:
        page = poll_leads(persistiq, updated_after)
        new, untimed = _split_leads(page.leads, cursor)
    except (PersistIQConfigError, PersistIQError, LeadsPollError) as error:
        detail = str(error).rstrip(". ")
        reason = redact(
            f"Could not read PersistIQ leads: {detail}. The cursor stays at {cursor.updated_at}.",
            persistiq.api_key,
        )
        context.log.warning(reason)
        return SkipReason(reason)

    # Days that hold new updates; a day after the last partition waits for its partition.
    first_day, last_day = _partition_days()
    days: set[date] = set()
    placed: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    for lead in new:
        day = partition_day(lead[LEADS_CURSOR_FIELD], timezone)
        if day > last_day:
            waiting.append(lead)
            continue
        placed.append(lead)
        if day >= first_day:
            days.add(day)
    if placed and page.more:
        start = max(partition_day(cursor.updated_at, timezone), first_day)
        days.update(_days_between(start, today.date()))

    fingerprint = page_fingerprint(untimed)
    if cursor.fingerprint is not None and fingerprint != cursor.fingerprint:
        days.add(today.date())

    new_cursor = replace(cursor, fingerprint=fingerprint)
    if placed:
        latest = latest_timestamp([lead[LEADS_CURSOR_FIELD] for lead in placed])
        latest_instant = parse_instant(latest)
        at_latest = {
            str(lead["id"])
            for lead in page.leads
            if lead.get(LEADS_CURSOR_FIELD) is not None
            and parse_instant(lead[LEADS_CURSOR_FIELD]) == latest_instant
        }
        if latest_instant == parse_instant(cursor.updated_at):
            at_latest |= set(cursor.ids_at_cursor)
            latest = cursor.updated_at
        new_cursor = LeadsCursor(latest, tuple(sorted(at_latest)), fingerprint)

    if waiting:
        context.log.warning(
            f"{len(waiting)} PersistIQ lead(s) updated in a day after the last partition "
            f"{last_day} (first: {waiting[0]['id']} at {waiting[0][LEADS_CURSOR_FIELD]}): the "
            "cursor stays before them until that day's partition exists."
        )
    if not days:
        reason = f"No PersistIQ lead updated after {cursor.updated_at}"
        if waiting:
            reason = (
                f"{len(waiting)} PersistIQ lead(s) updated after {cursor.updated_at} fall in a "
                f"day after the last partition {last_day}; waiting for its partition"
            )
        return SensorResult(skip_reason=SkipReason(reason), cursor=new_cursor.to_json())

    change = hashlib.sha256(f"{context.cursor}|{new_cursor.to_json()}".encode()).hexdigest()[:12]
    day_keys = [day.strftime(leads_daily_partitions.fmt) for day in sorted(days)]
    context.log.info(
        f"{len(placed)} PersistIQ lead(s) updated after {cursor.updated_at}"
        + (", lead(s) without updated_at changed" if untimed and today.date() in days else "")
        + f": requesting {', '.join(day_keys)}"
    )
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=key,
                run_key=f"persistiq_leads:{key}:{new_cursor.updated_at}:{change}",
                tags={"persistiq/updated_after": updated_after},
            )
            for key in day_keys
        ],
        cursor=new_cursor.to_json(),
    )
