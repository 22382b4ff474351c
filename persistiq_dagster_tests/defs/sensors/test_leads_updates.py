"""The sensors against the PersistIQ emulator over real HTTP, ticked through Dagster, and the
leads sensor's rules one function at a time."""

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    PartitionKeyRange,
    build_sensor_context,
)

from persistiq_dagster import config
from persistiq_dagster.config import PersistIQConfigError, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.jobs import LoadJobs
from persistiq_dagster.defs.partitions import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.sensors.leads_cursor import LeadsCursor, page_fingerprint
from persistiq_dagster.defs.sensors.leads_poll import (
    SENSOR_MAX_RETRIES,
    LeadsPage,
    LeadsPollError,
)
from persistiq_dagster.defs.sensors.leads_updates import (
    PartitionDays,
    activity_due,
    advanced_cursor,
    build_leads_updates_sensor,
    new_and_untimed,
    place_by_day,
    run_requests,
    stuck_page_step,
    unread_page_days,
    untimed_leads_changed,
)
from persistiq_dagster.source.windows import parse_instant
from persistiq_dagster_tests.support import (
    DEFAULT_DEFS,
    LOAD_JOBS,
    PARTITIONS,
    assert_each_page_once,
    persistiq_for,
)
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.data import format_timestamp

TZ = ZoneInfo(PARTITIONS.timezone)
WRONG_KEY = "wrong-key-0123456789abcdef"
LEADS_SENSOR_NAME = "persistiq_leads_updates_sensor"
FAILURE_SENSOR_NAME = "persistiq_run_failure_sensor"


WEST = timezone(timedelta(hours=-7))


def today_start(tz: ZoneInfo = TZ) -> datetime:
    return datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)


def day_key(moment: datetime, tz: ZoneInfo = TZ) -> str:
    return moment.astimezone(tz).strftime(PARTITIONS.fmt)


def utc_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def tick(instance):
    """Evaluate one tick of the leads sensor of ``defs`` (the default settings' unless given)
    in process, as the daemon would: run requests resolved against the Definitions' jobs, so
    partition keys are checked. Returns the SensorExecutionData."""

    def evaluate(persistiq, cursor: str | None = None, defs: Definitions = DEFAULT_DEFS):
        context = build_sensor_context(
            cursor=cursor, resources={"persistiq": persistiq}, instance=instance, definitions=defs
        )
        sensor = defs.get_repository_def().get_sensor_def(LEADS_SENSOR_NAME)
        return sensor.evaluate_tick(context)

    return evaluate


def leads_runs(result) -> list:
    """The tick's runs of the leads job (it may also request today's activity)."""
    return [r for r in result.run_requests if r.job_name == LOAD_JOBS.leads.name]


def days_of(request) -> list[str]:
    """The days a run request loads: its partition, or every day of its range."""
    if request.partition_key is not None:
        return [request.partition_key]
    first = request.tags[ASSET_PARTITION_RANGE_START_TAG]
    last = request.tags[ASSET_PARTITION_RANGE_END_TAG]
    return PARTITIONS.get_partition_keys_in_range(PartitionKeyRange(first, last))


def leads_days(result) -> list[str]:
    """The days of the tick's one leads run (none when it requested none)."""
    runs = leads_runs(result)
    assert len(runs) <= 1, runs  # rule 6: one run, one pass over PersistIQ
    return days_of(runs[0]) if runs else []


def activity_runs(result) -> list:
    return [r for r in result.run_requests if r.job_name == LOAD_JOBS.activity.name]


def a_past_second_today() -> datetime:
    """A whole second of today, five seconds ago (in a day's first seconds, waits them out)."""
    if datetime.now(TZ) - today_start() < timedelta(seconds=7):
        time.sleep(7)
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)


def updated_after_sent(emulator: PersistIQEmulator) -> list[str]:
    return [record.query.get("updated_after") for record in emulator.requests]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- definitions -------------------------------------------------------------------------------


def test_sensor_definitions():
    repo = DEFAULT_DEFS.get_repository_def()
    leads = repo.get_sensor_def(LEADS_SENSOR_NAME)
    assert [job.name for job in leads.jobs] == ["persistiq_leads_job", "persistiq_activity_job"]
    assert leads.default_status == DefaultSensorStatus.STOPPED
    assert leads.minimum_interval_seconds == config.DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS
    assert leads.required_resource_keys == {"persistiq"}
    assert "updated_after" in leads.description
    failure = repo.get_sensor_def(FAILURE_SENSOR_NAME)
    assert failure.default_status == DefaultSensorStatus.RUNNING
    # Without events and replies there is no activity job: the sensor targets leads only.
    no_activity = LoadJobs(LOAD_JOBS.users_campaigns, LOAD_JOBS.leads, None)
    only_leads = build_leads_updates_sensor(60, PARTITIONS, no_activity)
    assert [job.name for job in only_leads.jobs] == ["persistiq_leads_job"]


def test_interval_setting():
    name = config.LEADS_SENSOR_INTERVAL_ENV
    assert Settings.from_env({}).leads_sensor_interval_seconds == (
        config.DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS
    )
    settings = Settings.from_env({name: "60"})
    assert settings.leads_sensor_interval_seconds == 60
    sensor = build_defs(settings).get_repository_def().get_sensor_def(LEADS_SENSOR_NAME)
    assert sensor.minimum_interval_seconds == 60
    for wrong in ("five", "0", "-3"):
        with pytest.raises(PersistIQConfigError, match=name):
            Settings.from_env({name: wrong})


# -- the leads sensor --------------------------------------------------------------------------


def test_first_tick_starts_today_and_skips(emulator, persistiq, tick):
    result = tick(persistiq)
    assert leads_runs(result) == []
    assert result.skip_message.startswith("No PersistIQ lead updated after")
    assert emulator.count() == 1
    assert updated_after_sent(emulator) == [utc_z(today_start() - timedelta(seconds=1))]
    assert LeadsCursor.from_json(result.cursor).updated_at == utc_z(today_start())
    assert emulator.requests[0].user_agent == persistiq.user_agent


def test_key_from_env_var_is_resolved(emulator, tick, monkeypatch):
    """Definitions bind the key as EnvVar: the sensor must get the value, not the name."""
    monkeypatch.setenv(config.API_KEY_ENV, emulator.api_key)
    settings = Settings.from_env({config.BASE_URL_ENV: emulator.base_url})
    persistiq = PersistIQResource.from_settings(settings)  # as build_defs binds it
    assert isinstance(persistiq.api_key, EnvVar)
    result = tick(persistiq)
    assert result.skip_message.startswith("No PersistIQ lead updated after")
    assert emulator.count(status=200) == 1


def test_updates_today_request_todays_partition_once(emulator, store, persistiq, tick):
    first = tick(persistiq)
    now = datetime.now(UTC)
    store.update_leads(count=3, at=now)

    second = tick(persistiq, first.cursor)
    assert second.skip_message is None
    [request] = leads_runs(second)
    assert request.partition_key == day_key(now)
    assert request.run_key and day_key(now) in request.run_key
    cursor = LeadsCursor.from_json(second.cursor)
    assert cursor.updated_at == format_timestamp(now)
    assert len(cursor.ids_at_cursor) == 3

    third = tick(persistiq, second.cursor)
    assert leads_runs(third) == []
    assert third.skip_message == f"No PersistIQ lead updated after {format_timestamp(now)}"
    assert emulator.count() == 3  # one request a tick
    assert updated_after_sent(emulator)[-1] == utc_z(now - timedelta(seconds=1))
    # The same tick again (a cursor that failed to persist) asks for the very same run key.
    assert leads_runs(tick(persistiq, first.cursor))[0].run_key == request.run_key


def test_lead_updated_in_the_cursors_second_is_not_missed(emulator, store, persistiq, tick):
    moment = datetime.now(UTC).replace(microsecond=0)
    first_id, second_id = store.leads[0]["id"], store.leads[1]["id"]
    store.update_leads(ids=[first_id], at=moment)
    first = tick(persistiq)
    assert len(leads_runs(first)) == 1
    store.update_leads(ids=[second_id], at=moment)  # same second, seen only now
    second = tick(persistiq, first.cursor)
    assert len(leads_runs(second)) == 1
    assert leads_runs(second)[0].run_key != leads_runs(first)[0].run_key
    assert set(LeadsCursor.from_json(second.cursor).ids_at_cursor) == {first_id, second_id}
    assert leads_runs(tick(persistiq, second.cursor)) == []


def test_updates_on_two_days_request_both_partitions(emulator, store, persistiq, tick):
    yesterday = today_start() - timedelta(days=1)
    now = datetime.now(UTC)
    store.update_leads(count=2, at=yesterday + timedelta(hours=23))
    store.update_leads(count=2, at=now)
    cursor = LeadsCursor(utc_z(yesterday + timedelta(hours=22))).to_json()

    result = tick(persistiq, cursor)
    assert leads_days(result) == [day_key(yesterday), day_key(now)]  # one run over both
    assert LeadsCursor.from_json(result.cursor).updated_at == format_timestamp(now)
    assert emulator.count() == 1


def test_updates_written_with_offsets_and_fractions_are_placed_by_their_instant(
    emulator, store, persistiq, tick
):
    """PersistIQ's contract allows any ISO 8601 form (persistiq_emulator/variants.py): a lead
    updated late yesterday (UTC) written in +05:30 reads as today's date, and one updated now
    written in -07:00 may read as yesterday's; each is placed by its instant."""
    yesterday = today_start() - timedelta(days=1)
    late, now = yesterday + timedelta(hours=23), a_past_second_today()
    early_id, recent_id = store.leads[0]["id"], store.leads[1]["id"]
    store.update_leads(ids=[early_id], at=late)
    store.update_leads(ids=[recent_id], at=now)
    written = {
        early_id: late.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        recent_id: (now + timedelta(microseconds=250_000)).astimezone(WEST).isoformat(),
    }
    for index, lead in enumerate(store.leads):
        if lead["id"] in written:
            store.leads[index] = {**lead, "updated_at": written[lead["id"]]}
    store.bump()
    assert written[early_id].startswith(f"{today_start():%Y-%m-%d}T04:30:00")
    cursor = LeadsCursor(utc_z(late - timedelta(hours=1))).to_json()

    result = tick(persistiq, cursor)
    assert leads_days(result) == [day_key(yesterday), day_key(now)]
    moved = LeadsCursor.from_json(result.cursor)
    assert parse_instant(moved.updated_at) == now + timedelta(microseconds=250_000)
    assert list(moved.ids_at_cursor) == [recent_id]
    assert leads_runs(tick(persistiq, result.cursor)) == []


def test_todays_events_and_replies_are_requested_with_todays_leads_only(
    emulator, store, persistiq, tick
):
    yesterday = today_start() - timedelta(days=1)
    cursor = LeadsCursor(utc_z(yesterday + timedelta(hours=22))).to_json()
    store.update_leads(count=2, at=yesterday + timedelta(hours=23))

    only_yesterday = tick(persistiq, cursor)
    assert leads_days(only_yesterday) == [day_key(yesterday)]
    assert activity_runs(only_yesterday) == []

    now = datetime.now(UTC)
    store.update_leads(count=2, at=now)
    today = tick(persistiq, only_yesterday.cursor)
    [leads] = leads_runs(today)
    [activity] = activity_runs(today)
    assert activity.partition_key == leads.partition_key == day_key(now)
    assert activity.run_key != leads.run_key
    assert activity_runs(tick(persistiq, today.cursor)) == []  # nothing new: nothing again
    assert len(today.run_requests) == 2


def test_more_than_a_page_requests_every_day_since_the_cursor(emulator, store, persistiq, tick):
    store.update_leads(count=150, at=datetime.now(UTC))  # page 1 holds 100 of them
    two_days_ago = today_start() - timedelta(days=2)
    result = tick(persistiq, LeadsCursor(utc_z(two_days_ago)).to_json())
    assert leads_days(result) == [
        day_key(two_days_ago + timedelta(days=offset)) for offset in range(3)
    ]
    assert emulator.count() == 1


def test_catching_up_days_costs_one_pass_over_the_pages_updated_since(
    emulator, store, persistiq, warehouse, tick
):
    """Three days to catch up: one run, which reads each page updated since the first day
    once (a run per day would read today's pages three times)."""
    two_days_ago = today_start() - timedelta(days=2)
    for offset in range(3):
        store.update_leads(count=60, at=two_days_ago + timedelta(days=offset, hours=1))
    result = tick(persistiq, LeadsCursor(utc_z(two_days_ago)).to_json())
    (request,) = leads_runs(result)
    emulator.clear_requests()

    run = DEFAULT_DEFS.resolve_job_def(request.job_name).execute_in_process(
        tags=request.tags,
        partition_key=request.partition_key,
        resources={"persistiq": persistiq, "warehouse": warehouse},
    )

    assert run.success
    updated = [lead for lead in store.leads if parse_instant(lead["updated_at"]) >= two_days_ago]
    assert len(updated) > 100  # more than a page
    assert_each_page_once(emulator, "/v1/leads", len(updated))


def test_todays_activity_is_requested_at_most_once_an_interval(emulator, store, persistiq, tick):
    store.update_leads(count=2, at=datetime.now(UTC))
    first = tick(persistiq)
    assert len(activity_runs(first)) == 1

    store.update_leads(count=2, at=datetime.now(UTC) + timedelta(seconds=1))
    second = tick(persistiq, first.cursor)
    assert len(leads_runs(second)) == 1 and activity_runs(second) == []  # within the hour
    # The cursor keeps when activity was requested as it moves on with the leads.
    assert LeadsCursor.from_json(second.cursor).activity_at == (
        LeadsCursor.from_json(first.cursor).activity_at
    )

    store.update_leads(count=2, at=datetime.now(UTC) + timedelta(seconds=2))
    an_hour_ago = utc_z(datetime.now(UTC) - timedelta(minutes=61))
    cursor = replace(LeadsCursor.from_json(second.cursor), activity_at=an_hour_ago)
    third = tick(persistiq, cursor.to_json())
    assert len(activity_runs(third)) == 1


def test_a_page_of_leads_seen_at_the_cursor_does_not_stall_the_sensor(
    emulator, store, persistiq, tick
):
    """250 leads updated in one second: PersistIQ orders by id, so page 1 keeps showing the
    same 100 seen leads; a later update of a lead past page 1 must still be noticed."""
    bulk_at = a_past_second_today()
    store.add_leads(250, at=bulk_at)
    first = tick(persistiq)
    assert leads_days(first) == [day_key(bulk_at)]
    seen = LeadsCursor.from_json(first.cursor)
    assert seen.updated_at == format_timestamp(bulk_at)
    assert len(seen.ids_at_cursor) == 100  # page 1 only

    last_id = max(lead["id"] for lead in store.leads)  # sorts after page 1
    assert last_id not in seen.ids_at_cursor
    later = bulk_at + timedelta(seconds=3)
    store.update_leads(ids=[last_id], at=later)

    ticks = [first]
    while len(ticks) < 3 and LeadsCursor.from_json(ticks[-1].cursor).updated_at != utc_z(later):
        ticks.append(tick(persistiq, ticks[-1].cursor))
    cursor = LeadsCursor.from_json(ticks[-1].cursor)
    assert cursor.updated_at == utc_z(later)  # within at most two ticks
    assert cursor.ids_at_cursor == (last_id,)
    requests = [request for later_tick in ticks[1:] for request in leads_runs(later_tick)]
    assert day_key(later) in {day for request in requests for day in days_of(request)}
    run_keys = [request.run_key for t in ticks for request in leads_runs(t)]
    assert len(set(run_keys)) == len(run_keys)  # Dagster would drop a repeated key
    assert emulator.count() == len(ticks)  # one request a tick

    settled = tick(persistiq, ticks[-1].cursor)
    assert leads_runs(settled) == []
    assert settled.skip_message == f"No PersistIQ lead updated after {utc_z(later)}"


@pytest.mark.parametrize("fraction", [0, 500_000], ids=["whole_second", "half_second"])
def test_stepping_past_a_stuck_second_requests_every_day_since_it(
    emulator, store, persistiq, tick, fraction
):
    two_days_ago = today_start() - timedelta(days=2)
    stuck_at = two_days_ago + timedelta(hours=1, microseconds=fraction)
    bulk = sorted(store.add_leads(150, at=stuck_at))
    cursor = LeadsCursor(format_timestamp(stuck_at), tuple(bulk[:100]))  # page 1, seen
    result = tick(persistiq, cursor.to_json())
    assert leads_days(result) == [
        day_key(two_days_ago + timedelta(days=offset)) for offset in range(3)
    ]
    past = LeadsCursor.from_json(result.cursor)
    assert past.updated_at == utc_z(
        stuck_at.replace(microsecond=0) + timedelta(seconds=2 if fraction else 1)
    )
    assert past.ids_at_cursor == ()
    # The next tick asks from the stuck second on: the bulk is behind it.
    assert leads_runs(tick(persistiq, result.cursor)) == []
    assert parse_instant(updated_after_sent(emulator)[-1]) >= stuck_at


def test_a_stuck_second_not_over_yet_waits(emulator, store, persistiq, tick):
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)  # a clock ahead
    bulk = sorted(store.add_leads(150, at=ahead))
    cursor = LeadsCursor(format_timestamp(ahead), tuple(bulk[:100])).to_json()
    result = tick(persistiq, cursor)
    assert leads_runs(result) == []
    assert "wait" in result.skip_message
    assert result.cursor == cursor


def test_lead_in_a_day_without_partition_holds_the_cursor(emulator, store, persistiq, tick):
    first = tick(persistiq)
    store.update_leads(count=1, at=datetime.now(UTC) + timedelta(days=2))
    result = tick(persistiq, first.cursor)
    assert leads_runs(result) == []
    assert "after the last partition" in result.skip_message
    assert LeadsCursor.from_json(result.cursor).updated_at == utc_z(today_start())


def test_leads_without_updated_at_use_a_fingerprint(tick):
    store = make_dataset(leads=60, seed=3, with_updated_at=False)
    with PersistIQEmulator(store=store) as emulator:
        persistiq = persistiq_for(emulator)
        baseline = tick(persistiq)
        assert leads_runs(baseline) == []
        same = tick(persistiq, baseline.cursor)
        assert leads_runs(same) == []
        assert same.cursor == baseline.cursor

        store.update_leads(count=1)  # a status changes; no timestamp to tell when
        changed = tick(persistiq, same.cursor)
        [request] = leads_runs(changed)
        assert request.partition_key == day_key(datetime.now(UTC))
        assert request.run_key
        assert changed.cursor != same.cursor
        assert leads_runs(tick(persistiq, changed.cursor)) == []
        assert emulator.count() == 4
        # No updated_at anywhere: the cursor never moves past the first day's start.
        assert set(updated_after_sent(emulator)) == {utc_z(today_start() - timedelta(seconds=1))}


def test_api_unreachable_skips_without_moving_the_cursor(tick):
    cursor = LeadsCursor(utc_z(today_start())).to_json()
    base_url = f"http://127.0.0.1:{closed_port()}/v1/"
    persistiq = PersistIQResource(
        api_key=WRONG_KEY, base_url=base_url, backoff_factor=0.01, max_retry_delay=0.05
    )
    result = tick(persistiq, cursor)
    assert leads_runs(result) == []
    assert config.BASE_URL_ENV in result.skip_message
    assert base_url in result.skip_message
    assert result.cursor == cursor  # unchanged


def test_stopped_emulator_skips(tick):
    with PersistIQEmulator(store=make_dataset(leads=10)) as emulator:
        persistiq = persistiq_for(emulator)
    result = tick(persistiq)  # the emulator has stopped
    assert "Could not connect" in result.skip_message
    assert "(connection refused)" in result.skip_message
    assert config.BASE_URL_ENV in result.skip_message
    assert result.cursor is None


def test_wrong_key_skips_with_unauthorized_and_no_key(emulator, tick):
    result = tick(persistiq_for(emulator, api_key=WRONG_KEY))
    assert leads_runs(result) == []
    assert "401" in result.skip_message and "unauthorized" in result.skip_message
    assert config.API_KEY_ENV in result.skip_message
    assert WRONG_KEY not in result.skip_message
    assert emulator.count() == 1  # a 401 is not retried
    assert result.cursor is None


def test_no_key_skips_without_a_request(emulator, tick):
    result = tick(persistiq_for(emulator, api_key=None))
    assert config.API_KEY_ENV in result.skip_message
    assert emulator.count() == 0
    assert result.cursor is None


def test_server_errors_after_the_retries_skip(emulator, persistiq, tick):
    emulator.inject(status=503, times=10, path="/v1/leads")
    result = tick(persistiq)  # the resource allows 2 retries; a tick keeps to 1
    assert "503" in result.skip_message
    assert emulator.count() == SENSOR_MAX_RETRIES + 1
    assert result.cursor is None


def test_timeout_skips(emulator, tick):
    emulator.latency = 1.0
    result = tick(persistiq_for(emulator, request_timeout=0.2))
    assert "did not answer within 0.2 s" in result.skip_message
    assert result.cursor is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "success", "errors": []}, "no list under 'leads'"),
        ("<html>maintenance</html>", "is not JSON"),
        ({"leads": [{"id": "l_1", "updated_at": "yesterday"}]}, "not an ISO 8601 timestamp"),
        ({"leads": [["l_1"]]}, "not an object with an id"),
    ],
)
def test_malformed_page_skips(emulator, persistiq, tick, body, expected):
    emulator.inject(status=200, body=body, path="/v1/leads")
    cursor = LeadsCursor(utc_z(today_start() - timedelta(hours=1))).to_json()
    result = tick(persistiq, cursor)
    assert expected in result.skip_message
    assert result.cursor == cursor


def test_unreadable_cursor_starts_from_today(emulator, persistiq, tick):
    result = tick(persistiq, "not json")
    assert LeadsCursor.from_json(result.cursor).updated_at == utc_z(today_start())
    assert updated_after_sent(emulator) == [utc_z(today_start() - timedelta(seconds=1))]


def test_days_are_cut_in_the_settings_timezone(emulator, store, tick):
    """Another timezone, in process: the sensor of build_defs starts at that timezone's
    midnight and places updates in that timezone's days."""
    far = ZoneInfo("Pacific/Kiritimati")  # UTC+14: most of the time, a day ahead of UTC
    defs = build_defs(Settings.from_env({config.TIMEZONE_ENV: "Pacific/Kiritimati"}))
    persistiq = persistiq_for(emulator)
    first = tick(persistiq, defs=defs)
    assert updated_after_sent(emulator) == [utc_z(today_start(far) - timedelta(seconds=1))]
    assert LeadsCursor.from_json(first.cursor).updated_at == utc_z(today_start(far))

    now = datetime.now(UTC)
    store.update_leads(count=2, at=now)
    second = tick(persistiq, first.cursor, defs=defs)
    [leads] = leads_runs(second)
    [activity] = activity_runs(second)
    assert leads.partition_key == activity.partition_key == day_key(now, far)


# -- the leads sensor's rules, one function each (no HTTP, no tick) ----------------------------

CURSOR_AT = "2024-03-10T12:00:00Z"
NEW_YORK = "America/New_York"


def a_lead(lead_id, updated_at: str | None = CURSOR_AT, status: str = "active") -> dict:
    lead = {"id": lead_id, "status": status}
    if updated_at is not None:
        lead["updated_at"] = updated_at
    return lead


def ids(leads) -> list:
    return [lead["id"] for lead in leads]


def test_rule_1_and_5_new_and_untimed_leads():
    cursor = LeadsCursor(CURSOR_AT, ("l_seen", "7"))
    leads = [
        a_lead("l_after", "2024-03-10T12:00:01Z"),
        a_lead("l_half_second_after", "2024-03-10T12:00:00.5Z"),
        a_lead("l_seen", CURSOR_AT),  # at the cursor, seen there
        a_lead("l_seen_other_form", "2024-03-10T13:00:00+01:00"),  # the cursor's instant too
        a_lead(7, CURSOR_AT),  # ids compare as text
        a_lead("l_before", "2024-03-10T11:59:59.999Z"),
        a_lead("l_untimed", None),
    ]
    new, untimed = new_and_untimed(leads, cursor)
    assert ids(new) == ["l_after", "l_half_second_after", "l_seen_other_form"]
    assert ids(untimed) == ["l_untimed"]
    assert new_and_untimed([], cursor) == ([], [])


@pytest.mark.parametrize("value", ["yesterday", "", 1710072000])
def test_rule_7_a_timestamp_that_is_not_one_makes_the_page_unreadable(value):
    with pytest.raises(LeadsPollError, match="not an ISO 8601 timestamp"):
        new_and_untimed([a_lead("l_1", value)], LeadsCursor(CURSOR_AT))


@pytest.mark.parametrize(
    ("cursor_at", "more", "leads", "expected"),
    [
        pytest.param(CURSOR_AT, True, [a_lead("l_1")], "2024-03-10T12:00:01Z", id="stuck"),
        pytest.param(
            "2024-03-10T12:00:00.5Z", True, [a_lead("l_1")], "2024-03-10T12:00:02Z", id="fraction"
        ),
        pytest.param(
            CURSOR_AT,
            True,
            [a_lead("l_1"), a_lead("l_2", None)],
            "2024-03-10T12:00:01Z",
            id="stuck, with untimed leads",
        ),
        pytest.param(CURSOR_AT, False, [a_lead("l_1")], None, id="no more pages"),
        pytest.param(
            CURSOR_AT,
            True,
            [a_lead("l_1"), a_lead("l_2", "2024-03-10T12:00:01Z")],
            None,
            id="a new lead",
        ),
        pytest.param(CURSOR_AT, True, [a_lead("l_1", None)], None, id="only untimed leads"),
        pytest.param(CURSOR_AT, True, [], None, id="empty page"),
    ],
)
def test_rule_3_stuck_page_step(cursor_at, more, leads, expected):
    cursor = LeadsCursor(cursor_at, ("l_1",))
    new, untimed = new_and_untimed(leads, cursor)
    assert stuck_page_step(LeadsPage(leads, more), new, untimed, cursor) == expected


def test_rule_1_and_4_place_by_day_in_the_partitions_timezone():
    days = PartitionDays(first=date(2024, 1, 1), last=date(2024, 3, 10), today=date(2024, 3, 10))
    new = [
        a_lead("l_evening", "2024-03-10T03:00:00Z"),  # 22:00 on the 9th in New York
        a_lead("l_today", "2024-03-10T12:00:00Z"),
        a_lead("l_before_start", "2023-12-31T12:00:00Z"),  # placed, but no partition to run
        a_lead("l_ahead", "2024-03-11T05:00:00Z"),  # 01:00 on the 11th: no partition yet
    ]
    run_days, placed, waiting = place_by_day(new, NEW_YORK, days)
    assert run_days == {date(2024, 3, 9), date(2024, 3, 10)}
    assert ids(placed) == ["l_evening", "l_today", "l_before_start"]
    assert ids(waiting) == ["l_ahead"]
    # In UTC the evening lead is on the 10th, and the one ahead is still today.
    run_days, _, waiting = place_by_day(
        new, "UTC", replace(days, last=date(2024, 3, 11), today=date(2024, 3, 11))
    )
    assert run_days == {date(2024, 3, 10), date(2024, 3, 11)}
    assert waiting == []


def test_rule_2_and_3_unread_page_days():
    days = PartitionDays(first=date(2024, 1, 1), last=date(2024, 3, 10), today=date(2024, 3, 10))
    assert unread_page_days(LeadsCursor("2024-03-08T12:00:00Z"), "UTC", days) == [
        date(2024, 3, 8),
        date(2024, 3, 9),
        date(2024, 3, 10),
    ]
    # The cursor's day in the partitions' timezone: 02:00 UTC is the evening before there.
    assert unread_page_days(LeadsCursor("2024-03-08T02:00:00Z"), NEW_YORK, days)[0] == date(
        2024, 3, 7
    )
    assert unread_page_days(LeadsCursor(CURSOR_AT), "UTC", days) == [date(2024, 3, 10)]
    # Never before the first partition.
    early = PartitionDays(first=date(2024, 1, 1), last=date(2024, 1, 2), today=date(2024, 1, 2))
    assert unread_page_days(LeadsCursor("2023-12-20T00:00:00Z"), "UTC", early) == [
        date(2024, 1, 1),
        date(2024, 1, 2),
    ]


def test_rule_5_untimed_leads_changed():
    leads = [a_lead("l_1", None), a_lead("l_2", None)]
    fingerprint = page_fingerprint(leads)
    assert page_fingerprint(reversed(leads)) == fingerprint  # the page's order does not count
    changed = page_fingerprint([a_lead("l_1", None), a_lead("l_2", None, status="bounced")])
    assert changed != fingerprint
    first_tick = LeadsCursor(CURSOR_AT)  # no fingerprint yet: it is only recorded
    assert not untimed_leads_changed(first_tick, fingerprint)
    seen = LeadsCursor(CURSOR_AT, fingerprint=fingerprint)
    assert not untimed_leads_changed(seen, fingerprint)
    assert untimed_leads_changed(seen, changed)


def test_rule_1_and_3_advanced_cursor():
    cursor = LeadsCursor(CURSOR_AT, ("l_seen",), "old")
    later = "2024-03-10T12:00:05Z"
    page = LeadsPage(
        [
            a_lead("l_b", "2024-03-10T12:00:03Z"),
            a_lead("l_a", later),
            a_lead("l_c", "2024-03-10T13:00:05+01:00"),  # the same instant, written otherwise
            a_lead("l_untimed", None),
        ],
        more=False,
    )
    placed = page.leads[:2]
    # At the latest update placed, as PersistIQ wrote it, with every id of the page there.
    assert advanced_cursor(cursor, page, placed, None, "new") == LeadsCursor(
        later, ("l_a", "l_c"), "new"
    )
    # Stepped past a stuck second: no ids.
    stepped = "2024-03-10T12:00:01Z"
    assert advanced_cursor(cursor, page, [], stepped, "new") == LeadsCursor(stepped, (), "new")
    # Nothing placed: where it was, with the new fingerprint.
    assert advanced_cursor(cursor, page, [], None, "new") == LeadsCursor(
        CURSOR_AT, ("l_seen",), "new"
    )
    # A new lead at the cursor's own instant: the ids seen there before are kept.
    same = LeadsPage([a_lead("l_new", "2024-03-10T12:00:00.000Z")], more=False)
    assert advanced_cursor(cursor, same, same.leads, None, "new") == LeadsCursor(
        CURSOR_AT, ("l_new", "l_seen"), "new"
    )


def test_rule_6_run_requests():
    new_cursor = LeadsCursor("2024-03-10T12:00:05Z", ("l_a",))
    today = date(2024, 3, 10)
    days = {date(2024, 3, 10), date(2024, 3, 8)}
    after = "2024-03-07T23:59:59Z"
    requests = run_requests(LOAD_JOBS, PARTITIONS, days, today, after, "abc", new_cursor)
    assert [(r.job_name, r.partition_key, r.run_key) for r in requests] == [
        (
            "persistiq_leads_job",
            None,
            "persistiq_leads:2024-03-08...2024-03-10:2024-03-10T12:00:05Z:abc",
        ),
        (
            "persistiq_activity_job",
            "2024-03-10",
            "persistiq_activity:2024-03-10:2024-03-10T12:00:05Z:abc",
        ),
    ]
    # One run from the first day to the last, as a backfill: one pass over PersistIQ.
    assert requests[0].tags == {
        ASSET_PARTITION_RANGE_START_TAG: "2024-03-08",
        ASSET_PARTITION_RANGE_END_TAG: "2024-03-10",
        "persistiq/updated_after": after,
    }
    # Another cursor, other keys: a tick that moves the cursor never repeats a key.
    moved = LeadsCursor("2024-03-10T12:00:06Z")
    again = run_requests(LOAD_JOBS, PARTITIONS, days, today, after, "abc", moved)
    assert not {r.run_key for r in again} & {r.run_key for r in requests}
    # Today's activity only with today's leads, only when due, and only with an activity job.
    yesterday_only = run_requests(
        LOAD_JOBS, PARTITIONS, {date(2024, 3, 9)}, today, after, "abc", new_cursor
    )
    assert [(r.job_name, r.partition_key) for r in yesterday_only] == [
        ("persistiq_leads_job", "2024-03-09")
    ]
    not_due = run_requests(LOAD_JOBS, PARTITIONS, days, today, after, "abc", new_cursor, False)
    assert [r.job_name for r in not_due] == ["persistiq_leads_job"]
    no_activity = LoadJobs(LOAD_JOBS.users_campaigns, LOAD_JOBS.leads, None)
    leads_only = run_requests(no_activity, PARTITIONS, days, today, after, "abc", new_cursor)
    assert [r.job_name for r in leads_only] == ["persistiq_leads_job"]
    assert run_requests(LOAD_JOBS, PARTITIONS, set(), today, after, "abc", new_cursor) == []


def test_rule_8_todays_activity_at_most_once_an_interval():
    now = datetime(2024, 3, 10, 12, tzinfo=UTC)
    assert activity_due(LeadsCursor("2024-03-10T11:00:00Z"), now, 60)  # never requested
    earlier = LeadsCursor("2024-03-10T11:00:00Z", activity_at="2024-03-10T11:30:00Z")
    assert not activity_due(earlier, now, 60)
    assert activity_due(earlier, now, 30)
    assert activity_due(earlier, now, 0)  # 0: with every leads run, as before
