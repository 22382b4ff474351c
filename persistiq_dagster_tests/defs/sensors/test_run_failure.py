"""The run-failure sensor ticked as the daemon ticks it, posting to a real HTTP receiver.

``test_sensors.py`` calls the sensor's function on one failed leads run. Here PersistIQ jobs
fail for real (a key the emulator refuses: 401) in an ephemeral instance, and the sensor is
evaluated tick after tick with the cursor each tick leaves: every failed run is posted exactly
once, whichever job failed, and the key is in no post. The webhook URL is a setting, given to
the Definitions when they are built.
"""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import DagsterInstance, Definitions, build_sensor_context

from persistiq_dagster import config
from persistiq_dagster.config import Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster_tests.conftest import LOAD_JOBS, PARTITIONS, persistiq_for

WRONG_KEY = "refused-key-0123456789abcdef"
FAILURE_SENSOR_NAME = "persistiq_run_failure_sensor"


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 200 to every POST and keeps what was posted."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str | None, bytes]] = []  # path, content type, body
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, _, body in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        running.thread.join(timeout=5)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def with_test_resources(defs: Definitions, **resources) -> Definitions:
    """``defs`` as ``build_defs`` made them, with ``resources`` in place of the settings'."""
    return Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        executor=defs.executor,
        resources={**(defs.resources or {}), **resources},
    )


def test_each_failed_run_is_posted_once_across_ticks(
    emulator, warehouse, instance, receiver, monkeypatch
):
    monkeypatch.setenv(config.API_KEY_ENV, WRONG_KEY)  # where a deployment keeps it
    settings = Settings.from_env({config.FAILURE_WEBHOOK_URL_ENV: receiver.url})
    definitions = with_test_resources(
        build_defs(settings),
        persistiq=persistiq_for(emulator, api_key=WRONG_KEY),
        warehouse=warehouse,
    )
    sensor = definitions.get_repository_def().get_sensor_def(FAILURE_SENSOR_NAME)

    def tick(cursor: str | None):
        context = build_sensor_context(instance=instance, cursor=cursor, definitions=definitions)
        result = sensor.evaluate_tick(context)
        assert all(reaction.error is None for reaction in result.dagster_run_reactions)
        return result

    def fail(job_name: str, partition_key: str | None = None) -> str:
        run = definitions.resolve_job_def(job_name).execute_in_process(
            instance=instance, partition_key=partition_key, raise_on_error=False
        )
        assert not run.success
        return run.dagster_run.run_id

    started = tick(None)  # the first tick only sets the cursor, as when the sensor is turned on
    assert started.skip_message.startswith("Initiating persistiq_run_failure_sensor")

    first = fail(LOAD_JOBS.users_campaigns.name)
    once = tick(started.cursor)
    assert [p["run_id"] for p in receiver.payloads] == [first]
    again = tick(once.cursor)  # the next tick: nothing new, nothing posted
    assert len(receiver.posts) == 1

    today = PARTITIONS.get_partition_key_for_timestamp(datetime.now(UTC).timestamp())
    second = fail(LOAD_JOBS.activity.name, partition_key=today)
    third = fail(LOAD_JOBS.users_campaigns.name)
    both = tick(again.cursor)  # two failed runs since: one post each, in order
    assert [p["run_id"] for p in receiver.payloads] == [first, second, third]
    tick(tick(both.cursor).cursor)
    assert len(receiver.posts) == 3

    payloads = receiver.payloads
    assert [p["job"] for p in payloads] == [
        "persistiq_users_campaigns_job",
        "persistiq_activity_job",
        "persistiq_users_campaigns_job",
    ]
    assert [p["partition"] for p in payloads] == [None, today, None]
    for payload in payloads:
        assert payload["run_id"] in payload["text"]
        assert "401 unauthorized" in payload["text"]
        assert config.API_KEY_ENV in payload["text"]
    for path, content_type, body in receiver.posts:
        assert path == "/hooks/T000/secret"
        assert content_type == "application/json"
        assert WRONG_KEY not in body.decode()
