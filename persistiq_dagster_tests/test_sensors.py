"""The sensors against the PersistIQ emulator over real HTTP, ticked through Dagster."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    build_run_status_sensor_context,
    build_sensor_context,
    job,
    op,
)

from persistiq_dagster import settings
from persistiq_dagster.assets import (
    persistiq_activity_assets,
    persistiq_core_assets,
    persistiq_leads_assets,
)
from persistiq_dagster.dlt_resource import PersistIQDltResource
from persistiq_dagster.emulator import PersistIQEmulator, make_dataset
from persistiq_dagster.emulator.data import format_timestamp
from persistiq_dagster.env import int_from_env
from persistiq_dagster.errors import PersistIQConfigError
from persistiq_dagster.jobs import activity_job, leads_job, users_campaigns_job
from persistiq_dagster.partitions import leads_daily_partitions
from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse
from persistiq_dagster.sensors import leads_updates_sensor, persistiq_run_failure_sensor
from persistiq_dagster.sensors.leads_cursor import LeadsCursor
from persistiq_dagster.sensors.leads_poll import SENSOR_MAX_RETRIES
from persistiq_dagster.sensors.run_failure import is_persistiq_run
from persistiq_dagster.windows import parse_instant
from persistiq_dagster_tests.conftest import persistiq_for

TZ = ZoneInfo(leads_daily_partitions.timezone)
WRONG_KEY = "wrong-key-0123456789abcdef"


def today_start() -> datetime:
    return datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)


def day_key(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime(leads_daily_partitions.fmt)


def utc_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def definitions(persistiq, tmp_path) -> Definitions:
    """The project's assets and jobs with the sensors, as definitions.py would wire them."""
    return Definitions(
        assets=[persistiq_core_assets, persistiq_leads_assets, persistiq_activity_assets],
        jobs=[users_campaigns_job, leads_job, activity_job],
        sensors=[leads_updates_sensor, persistiq_run_failure_sensor],
        resources={
            "dlt": PersistIQDltResource(),
            "persistiq": persistiq,
            "warehouse": PersistIQWarehouse(duckdb_path=str(tmp_path / "warehouse.duckdb")),
        },
    )


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def tick(instance, tmp_path):
    """Evaluate one tick of the leads sensor as the daemon would (run requests resolved
    against the job, so partition keys are checked); returns the SensorExecutionData."""

    def evaluate(persistiq, cursor: str | None = None):
        context = build_sensor_context(
            cursor=cursor,
            resources={"persistiq": persistiq},
            instance=instance,
            definitions=definitions(persistiq, tmp_path),
        )
        return leads_updates_sensor.evaluate_tick(context)

    return evaluate


def leads_runs(result) -> list:
    """The tick's runs of the leads job (it may also request today's activity)."""
    return [r for r in result.run_requests if r.job_name == leads_job.name]


def activity_runs(result) -> list:
    return [r for r in result.run_requests if r.job_name == activity_job.name]


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


def test_sensor_definitions(persistiq, tmp_path):
    repo = definitions(persistiq, tmp_path).get_repository_def()
    leads = repo.get_sensor_def("persistiq_leads_updates_sensor")
    assert [job.name for job in leads.jobs] == ["persistiq_leads_job", "persistiq_activity_job"]
    assert leads.default_status == DefaultSensorStatus.STOPPED
    assert leads.minimum_interval_seconds == settings.DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS
    assert leads.required_resource_keys == {"persistiq"}
    assert "updated_after" in leads.description
    failure = repo.get_sensor_def("persistiq_run_failure_sensor")
    assert failure.default_status == DefaultSensorStatus.RUNNING


def test_interval_setting(monkeypatch):
    name, default = (
        settings.LEADS_SENSOR_INTERVAL_ENV,
        settings.DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS,
    )
    monkeypatch.setenv(name, "60")
    assert int_from_env(name, default) == 60
    for wrong in ("five", "0", "-3"):
        monkeypatch.setenv(name, wrong)
        with pytest.raises(PersistIQConfigError, match=name):
            int_from_env(name, default)


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
    monkeypatch.setenv(settings.API_KEY_ENV, emulator.api_key)
    persistiq = PersistIQResource(api_key=EnvVar(settings.API_KEY_ENV), base_url=emulator.base_url)
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
    assert sorted(r.partition_key for r in leads_runs(result)) == [
        day_key(yesterday),
        day_key(now),
    ]
    assert len({r.run_key for r in leads_runs(result)}) == 2
    assert LeadsCursor.from_json(result.cursor).updated_at == format_timestamp(now)
    assert emulator.count() == 1


def test_todays_events_and_replies_are_requested_with_todays_leads_only(
    emulator, store, persistiq, tick
):
    yesterday = today_start() - timedelta(days=1)
    cursor = LeadsCursor(utc_z(yesterday + timedelta(hours=22))).to_json()
    store.update_leads(count=2, at=yesterday + timedelta(hours=23))

    only_yesterday = tick(persistiq, cursor)
    assert [r.partition_key for r in leads_runs(only_yesterday)] == [day_key(yesterday)]
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
    assert [r.partition_key for r in leads_runs(result)] == [
        day_key(two_days_ago + timedelta(days=offset)) for offset in range(3)
    ]
    assert emulator.count() == 1


def test_a_page_of_leads_seen_at_the_cursor_does_not_stall_the_sensor(
    emulator, store, persistiq, tick
):
    """250 leads updated in one second: PersistIQ orders by id, so page 1 keeps showing the
    same 100 seen leads; a later update of a lead past page 1 must still be noticed."""
    bulk_at = a_past_second_today()
    store.add_leads(250, at=bulk_at)
    first = tick(persistiq)
    assert [r.partition_key for r in leads_runs(first)] == [day_key(bulk_at)]
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
    assert day_key(later) in {request.partition_key for request in requests}
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
    assert [r.partition_key for r in leads_runs(result)] == [
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
    assert settings.BASE_URL_ENV in result.skip_message
    assert base_url in result.skip_message
    assert result.cursor == cursor  # unchanged


def test_stopped_emulator_skips(tick):
    with PersistIQEmulator(store=make_dataset(leads=10)) as emulator:
        persistiq = persistiq_for(emulator)
    result = tick(persistiq)  # the emulator has stopped
    assert "Could not connect" in result.skip_message
    assert "(connection refused)" in result.skip_message
    assert settings.BASE_URL_ENV in result.skip_message
    assert result.cursor is None


def test_wrong_key_skips_with_unauthorized_and_no_key(emulator, tick):
    result = tick(persistiq_for(emulator, api_key=WRONG_KEY))
    assert leads_runs(result) == []
    assert "401" in result.skip_message and "unauthorized" in result.skip_message
    assert settings.API_KEY_ENV in result.skip_message
    assert WRONG_KEY not in result.skip_message
    assert emulator.count() == 1  # a 401 is not retried
    assert result.cursor is None


def test_no_key_skips_without_a_request(emulator, tick):
    result = tick(persistiq_for(emulator, api_key=None))
    assert settings.API_KEY_ENV in result.skip_message
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


# -- the run failure sensor --------------------------------------------------------------------


class Webhook:
    """A tiny HTTP server on loopback that records each POSTed JSON body."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[bytes] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                webhook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def payloads(self) -> list[dict]:
        return [json.loads(body) for body in self.bodies]

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as running:
        yield running


@pytest.fixture(scope="module")
def failed_leads_run(tmp_path_factory):
    """A real run of leads_job that fails on a wrong API key: (instance, run, failure event)."""
    tmp_path = tmp_path_factory.mktemp("failed_run")
    with (
        PersistIQEmulator(store=make_dataset(leads=20, seed=1)) as emulator,
        DagsterInstance.ephemeral() as instance,
    ):
        persistiq = persistiq_for(emulator, api_key=WRONG_KEY)
        job_def = definitions(persistiq, tmp_path).resolve_job_def(leads_job.name)
        result = job_def.execute_in_process(
            instance=instance, partition_key=day_key(datetime.now(UTC)), raise_on_error=False
        )
        assert not result.success
        yield instance, result.dagster_run, result.get_run_failure_event()


def failure_context(failed_run):
    instance, run, event = failed_run
    return build_run_status_sensor_context(
        sensor_name="persistiq_run_failure_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
    ).for_run_failure()


def test_failure_sensor_logs_and_posts_to_webhook(failed_leads_run, webhook, monkeypatch, capsys):
    monkeypatch.setenv(settings.FAILURE_WEBHOOK_URL_ENV, webhook.url)
    _, run, _ = failed_leads_run
    persistiq_run_failure_sensor(failure_context(failed_leads_run))

    [payload] = webhook.payloads
    assert payload["run_id"] == run.run_id
    assert payload["job"] == "persistiq_leads_job"
    assert payload["partition"] == day_key(datetime.now(UTC))
    assert run.run_id in payload["text"] and "\n" not in payload["text"]
    # The step's error says what PersistIQ answered and which setting to change.
    assert "401 unauthorized" in payload["text"] and settings.API_KEY_ENV in payload["text"]
    assert WRONG_KEY not in webhook.bodies[0].decode()
    logged = capsys.readouterr().err
    assert f"PersistIQ run {run.run_id} of persistiq_leads_job" in logged
    assert "ERROR" in logged
    assert WRONG_KEY not in logged


def test_failure_sensor_without_webhook_only_logs(failed_leads_run, webhook, monkeypatch, capsys):
    monkeypatch.delenv(settings.FAILURE_WEBHOOK_URL_ENV, raising=False)
    _, run, _ = failed_leads_run
    persistiq_run_failure_sensor(failure_context(failed_leads_run))
    assert webhook.bodies == []
    assert run.run_id in capsys.readouterr().err


@pytest.mark.parametrize("status", [500, None])
def test_failing_webhook_is_logged_not_raised(failed_leads_run, monkeypatch, capsys, status):
    if status is None:
        url = f"http://127.0.0.1:{closed_port()}/hooks/secret-token"
        monkeypatch.setenv(settings.FAILURE_WEBHOOK_URL_ENV, url)
        persistiq_run_failure_sensor(failure_context(failed_leads_run))
    else:
        with Webhook(status=status) as failing:
            monkeypatch.setenv(settings.FAILURE_WEBHOOK_URL_ENV, failing.url)
            persistiq_run_failure_sensor(failure_context(failed_leads_run))
            assert len(failing.bodies) == 1
    logged = capsys.readouterr().err
    assert settings.FAILURE_WEBHOOK_URL_ENV in logged
    assert "secret-token" not in logged


def test_failure_sensor_ignores_other_runs(failed_leads_run, webhook, monkeypatch, capsys):
    instance, _, _ = failed_leads_run

    @op
    def explode() -> None:
        raise RuntimeError("not PersistIQ")

    @job
    def unrelated_job() -> None:
        explode()

    result = unrelated_job.execute_in_process(instance=instance, raise_on_error=False)
    monkeypatch.setenv(settings.FAILURE_WEBHOOK_URL_ENV, webhook.url)
    context = failure_context((instance, result.dagster_run, result.get_run_failure_event()))
    capsys.readouterr()  # the run's own logs
    persistiq_run_failure_sensor(context)
    assert webhook.bodies == []
    assert result.dagster_run.run_id not in capsys.readouterr().err


def test_implicit_asset_job_runs_of_persistiq_assets_are_watched():
    def run(job_name: str, keys=None) -> DagsterRun:
        return DagsterRun(job_name=job_name, asset_selection=keys)

    assert is_persistiq_run(run("__ASSET_JOB", frozenset({AssetKey(["persistiq", "leads"])})))
    assert not is_persistiq_run(run("__ASSET_JOB", frozenset({AssetKey(["other", "table"])})))
    assert is_persistiq_run(run("persistiq_users_campaigns_job"))
    assert not is_persistiq_run(run("unrelated_job"))
