"""``persistiq_leads_updates_sensor``: one run of the leads job over the days with new
PersistIQ updates, and of the activity job for today when today's leads are requested, at most
once per ``PERSISTIQ_LEADS_SENSOR_ACTIVITY_MINUTES``.

One request a tick: page 1 of ``GET /leads?updated_after=``, sent one second before the
cursor (``server_lower_bound``); the rest is filtered here. PersistIQ orders leads by id,
not by time, so page 1 is the lowest ids updated since, not the oldest updates. The rules,
each a function below:

1. New update. A lead whose ``updated_at`` is after the cursor (or at the cursor and not
   in ``ids_at_cursor``) is new: a run is requested for its day, in the partitions'
   timezone, and the cursor moves to the highest ``updated_at``, remembering the ids there.
2. Full page. When page 1 holds a new lead and PersistIQ has more, every day from the
   cursor's to today is requested too: the unread pages may hold any of them.
3. Stuck page. When page 1 holds leads with ``updated_at`` but none new, and PersistIQ has
   more (typically a bulk update put more than a page of leads in the cursor's second),
   page 1 would come back the same every tick and later updates, on the unread pages,
   would never be seen. Then every day from the cursor's to today is requested (as in
   rule 2) and the cursor steps past its second (``step_past``, no ids): the runs load
   every lead of that second, seen or not, and the next ``updated_after`` leaves those
   leads behind, so later updates reach page 1. Only once the stepped-over span has ended
   by our clock when the tick starts (a lead written in it after the runs read would be
   lost); until then the tick skips and the cursor stays. Reading page 2 instead would
   break one request a tick, and PersistIQ has no other filter to move page 1 on.
4. Day ahead. A new lead whose day is not a partition yet (a clock ahead of ours) holds
   the cursor back until the day exists.
5. No ``updated_at`` (the public docs' sample lead has none). The sensor cannot tell which
   lead changed, so it keeps a fingerprint of them (sha256 of their sorted ids and
   statuses) in the cursor. The first tick records it; afterwards a changed fingerprint
   requests today's partition and an unchanged one requests nothing. Only page 1 is
   fingerprinted, so with more than a page of such leads a change on a later page goes
   unnoticed until the next scheduled load (and rule 3 needs a lead with ``updated_at``
   on page 1: stepping the cursor would not change a page of leads without it).
6. One run, one pass. The days to load are one leads run: a day's partition, or the range
   from the first day to the last, as a backfill runs it. A leads run reads every page
   updated since its first day (``updated_after``), so a run per day would read the pages of
   the last day once per day before it: catching up N days would cost N passes.
   Every run key is derived from the days and the new cursor, so a run is never requested
   twice, and a tick that moves the cursor never repeats an earlier key.
7. PersistIQ unreadable (no key, unreachable, timeout, 401, 5xx or 429 after the
   retries, a malformed page): the tick skips with the reason and the cursor stays put.
8. Activity, bounded. Today's events and replies cost a request per campaign (replies are
   read per campaign), so they are requested with today's leads at most once per
   ``activity_minutes``, not on every tick that finds a lead: the cursor keeps when they were
   last requested. The daily activity schedule reads every day again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TimeWindowPartitionsDefinition,
    sensor,
)

from persistiq_dagster.config import (
    DEFAULT_LEADS_SENSOR_ACTIVITY_MINUTES,
    LEADS_SENSOR_ACTIVITY_MINUTES_ENV,
    LEADS_SENSOR_INTERVAL_ENV,
    PersistIQConfigError,
)
from persistiq_dagster.defs.jobs import LoadJobs
from persistiq_dagster.defs.partitions import partition_range_tags
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.sensors.leads_cursor import (
    LeadsCursor,
    page_fingerprint,
    partition_day,
    start_of_today,
    step_past,
)
from persistiq_dagster.defs.sensors.leads_poll import LeadsPage, LeadsPollError, poll_leads
from persistiq_dagster.source.http.errors import PersistIQError, redact
from persistiq_dagster.source.leads import LEADS_CURSOR_FIELD
from persistiq_dagster.source.windows import (
    latest_timestamp,
    parse_instant,
    server_lower_bound,
    to_iso_timestamp,
)

Lead = dict[str, Any]


@dataclass(frozen=True)
class PartitionDays:
    """The days the partitions span (``last`` is today's), and today, in their timezone."""

    first: date
    last: date
    today: date

    @classmethod
    def of(cls, partitions: TimeWindowPartitionsDefinition, today: date) -> PartitionDays:
        first = partitions.get_first_partition_key()
        last = partitions.get_last_partition_key()
        if first is None or last is None:  # the start date is still ahead: no day exists yet
            return cls(date.max, date.min, today)
        fmt = partitions.fmt
        return cls(datetime.strptime(first, fmt).date(), datetime.strptime(last, fmt).date(), today)


def new_and_untimed(
    leads: list[dict[str, Any]], cursor: LeadsCursor
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rules 1 and 5: (leads updated after the cursor, leads without ``updated_at``)."""
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


def stuck_page_step(
    page: LeadsPage, new: list[Lead], untimed: list[Lead], cursor: LeadsCursor
) -> str | None:
    """Rule 3: the second to step the cursor to when page 1 holds leads with ``updated_at``,
    none new, and PersistIQ has more; None otherwise."""
    if page.more and not new and len(untimed) < len(page.leads):
        return step_past(cursor.updated_at)
    return None


def place_by_day(
    new: list[Lead], timezone: str, days: PartitionDays
) -> tuple[set[date], list[Lead], list[Lead]]:
    """Rules 1 and 4: (the days to run, the leads placed in a partition, the leads whose day
    is not a partition yet)."""
    run_days: set[date] = set()
    placed: list[Lead] = []
    waiting: list[Lead] = []
    for lead in new:
        day = partition_day(lead[LEADS_CURSOR_FIELD], timezone)
        if day > days.last:
            waiting.append(lead)
            continue
        placed.append(lead)
        if day >= days.first:
            run_days.add(day)
    return run_days, placed, waiting


def unread_page_days(cursor: LeadsCursor, timezone: str, days: PartitionDays) -> list[date]:
    """Rules 2 and 3: every day from the cursor's to today, which unread pages may hold."""
    start = max(partition_day(cursor.updated_at, timezone), days.first)
    return [start + timedelta(days=offset) for offset in range((days.today - start).days + 1)]


def untimed_leads_changed(cursor: LeadsCursor, fingerprint: str) -> bool:
    """Rule 5: the leads without ``updated_at`` changed since the last tick that saw them."""
    return cursor.fingerprint is not None and fingerprint != cursor.fingerprint


def advanced_cursor(
    cursor: LeadsCursor,
    page: LeadsPage,
    placed: list[Lead],
    stepped: str | None,
    fingerprint: str,
) -> LeadsCursor:
    """Rules 1 and 3: the cursor after this tick. Stepped past a stuck second, with no ids;
    else at the latest ``updated_at`` placed, with every id of the page at that instant (and
    those seen there before, when it has not moved); else where it was."""
    if stepped:
        return LeadsCursor(stepped, (), fingerprint, cursor.activity_at)
    if not placed:
        return replace(cursor, fingerprint=fingerprint)
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
    return LeadsCursor(latest, tuple(sorted(at_latest)), fingerprint, cursor.activity_at)


def activity_due(cursor: LeadsCursor, now: datetime, minutes: int) -> bool:
    """Rule 8: today's activity may be requested again."""
    if cursor.activity_at is None:
        return True
    return now - parse_instant(cursor.activity_at) >= timedelta(minutes=minutes)


def run_requests(
    jobs: LoadJobs,
    partitions: TimeWindowPartitionsDefinition,
    run_days: set[date],
    today: date,
    updated_after: str,
    change: str,
    new_cursor: LeadsCursor,
    with_activity: bool = True,
) -> list[RunRequest]:
    """Rule 6: one leads run over ``run_days`` (its first to its last), and, when
    ``with_activity`` (rule 8), an activity run for today when today is among them; each run
    key derived from the days and the new cursor, so no run is requested twice."""
    if not run_days:
        return []
    first, last = (day.strftime(partitions.fmt) for day in (min(run_days), max(run_days)))
    one_day = first == last
    days = first if one_day else f"{first}...{last}"
    requests = [
        RunRequest(
            job_name=jobs.leads.name,
            run_key=f"persistiq_leads:{days}:{new_cursor.updated_at}:{change}",
            partition_key=first if one_day else None,
            tags={
                **({} if one_day else partition_range_tags(first, last)),
                "persistiq/updated_after": updated_after,
            },
        )
    ]
    today_key = today.strftime(partitions.fmt)
    if jobs.activity is not None and with_activity and today in run_days:
        requests.append(
            RunRequest(
                job_name=jobs.activity.name,
                partition_key=today_key,
                run_key=f"persistiq_activity:{today_key}:{new_cursor.updated_at}:{change}",
            )
        )
    return requests


def build_leads_updates_sensor(
    interval_seconds: int,
    partitions: TimeWindowPartitionsDefinition,
    jobs: LoadJobs,
    activity_minutes: int = DEFAULT_LEADS_SENSOR_ACTIVITY_MINUTES,
) -> SensorDefinition:
    """The sensor, polling every ``interval_seconds``; off until turned on. Today's activity
    at most every ``activity_minutes``."""

    @sensor(
        name="persistiq_leads_updates_sensor",
        # The events and replies of today are loaded whenever today's leads are.
        jobs=[job for job in (jobs.leads, jobs.activity) if job is not None],
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=(
            "Asks PersistIQ, with one request a tick, for leads updated since the last update "
            "seen (GET /leads?updated_after=, page 1) and launches persistiq_leads_job over the "
            "days that hold a new update (normally today), in one run, once per update. When "
            "page 1 holds "
            "only leads already seen and PersistIQ has more (a bulk update in one second), "
            "steps past that second and launches every day since it. Starts from the beginning "
            "of today; never backfills older days. Skips, without moving on, while PersistIQ "
            "cannot be read. "
            + (
                "When it requests today's leads it also requests today's events and replies "
                f"({jobs.activity.name}), at most every {activity_minutes} minutes "
                f"({LEADS_SENSOR_ACTIVITY_MINUTES_ENV}). "
                if jobs.activity is not None
                else ""
            )
            + f"Interval: {LEADS_SENSOR_INTERVAL_ENV} seconds."
        ),
    )
    def leads_updates_sensor(
        context: SensorEvaluationContext, persistiq: PersistIQResource
    ) -> SensorResult | SkipReason:
        """Request leads runs for the days in which PersistIQ leads were updated (the rules
        are in this module's docstring)."""
        tick_started = datetime.now(UTC)  # rule 3; taken before today, so its day is <= today's
        timezone = partitions.timezone
        today = start_of_today(timezone)
        cursor = LeadsCursor(to_iso_timestamp(today))
        if context.cursor:
            try:
                cursor = LeadsCursor.from_json(context.cursor)
            except ValueError as error:
                context.log.warning(f"{error}; starting again from {cursor.updated_at}")

        updated_after = server_lower_bound(cursor.updated_at)
        try:  # rule 7
            page = poll_leads(persistiq, updated_after)
            new, untimed = new_and_untimed(page.leads, cursor)
        except (PersistIQConfigError, PersistIQError, LeadsPollError) as error:
            detail = str(error).rstrip(". ")
            reason = redact(
                f"Could not read PersistIQ leads: {detail}. The cursor stays at "
                f"{cursor.updated_at}.",
                persistiq.api_key,
            )
            context.log.warning(reason)
            return SkipReason(reason)

        stepped = stuck_page_step(page, new, untimed, cursor)
        if stepped and parse_instant(stepped) > tick_started:
            reason = (
                f"Page 1 holds only PersistIQ leads already seen at {cursor.updated_at} and "
                f"PersistIQ has more; waiting until {stepped} to step past that second"
            )
            context.log.info(reason)
            return SensorResult(skip_reason=SkipReason(reason), cursor=cursor.to_json())

        days = PartitionDays.of(partitions, today.date())
        run_days, placed, waiting = place_by_day(new, timezone, days)
        if page.more and (placed or stepped):
            run_days.update(unread_page_days(cursor, timezone, days))
        fingerprint = page_fingerprint(untimed)
        if untimed_leads_changed(cursor, fingerprint):
            run_days.add(days.today)
        new_cursor = advanced_cursor(cursor, page, placed, stepped, fingerprint)

        if waiting:
            context.log.warning(
                f"{len(waiting)} PersistIQ lead(s) updated in a day after the last partition "
                f"{days.last} (first: {waiting[0]['id']} at {waiting[0][LEADS_CURSOR_FIELD]}): "
                "the cursor stays before them until that day's partition exists."
            )
        if not run_days:
            reason = f"No PersistIQ lead updated after {cursor.updated_at}"
            if waiting:
                reason = (
                    f"{len(waiting)} PersistIQ lead(s) updated after {cursor.updated_at} fall "
                    f"in a day after the last partition {days.last}; waiting for its partition"
                )
            return SensorResult(skip_reason=SkipReason(reason), cursor=new_cursor.to_json())

        # Keyed before this tick's activity time is stamped: the same tick evaluated again
        # (its cursor not persisted) asks for the very same runs.
        change = hashlib.sha256(f"{context.cursor}|{new_cursor.to_json()}".encode()).hexdigest()
        with_activity = days.today in run_days and activity_due(
            cursor, tick_started, activity_minutes
        )
        if with_activity and jobs.activity is not None:
            new_cursor = replace(new_cursor, activity_at=to_iso_timestamp(tick_started))
        requests = run_requests(
            jobs,
            partitions,
            run_days,
            days.today,
            updated_after,
            change[:12],
            new_cursor,
            with_activity,
        )
        day_keys = ", ".join(day.strftime(partitions.fmt) for day in sorted(run_days))
        context.log.info(
            (
                f"Page 1 holds only PersistIQ leads already seen at {cursor.updated_at} and "
                f"PersistIQ has more: stepping past that second to {stepped}"
                if stepped
                else f"{len(placed)} PersistIQ lead(s) updated after {cursor.updated_at}"
            )
            + (", lead(s) without updated_at changed" if untimed and days.today in run_days else "")
            + f": requesting {day_keys}"
        )
        return SensorResult(run_requests=requests, cursor=new_cursor.to_json())

    return leads_updates_sensor
