"""The run-failure sensor ticked as the daemon ticks it, posting to a real HTTP receiver.

``test_sensors.py`` calls the sensor's function on one failed leads run. Here PersistIQ jobs
fail for real (a key the emulator refuses: 401) in an ephemeral instance, and the sensor is
evaluated tick after tick with the cursor each tick leaves: every failed run is posted exactly
once, whichever job failed, and the key is in no post. The webhook URL is a setting, given to
the Definitions when they are built.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    DagsterRun,
    build_run_status_sensor_context,
    build_sensor_context,
    job,
    op,
)

from persistiq_dagster import config
from persistiq_dagster.config import Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.defs.sensors.run_failure import build_run_failure_sensor, is_persistiq_run
from persistiq_dagster_tests.defs.sensors.test_leads_updates import closed_port, day_key
from persistiq_dagster_tests.support import (
    DEFAULT_DEFS,
    LOAD_JOBS,
    PARTITIONS,
    duckdb_warehouse,
    persistiq_for,
    with_test_resources,
)
from persistiq_dagster_tests.webhook_receiver import WebhookReceiver
from persistiq_emulator import PersistIQEmulator, make_dataset

WRONG_KEY = "refused-key-0123456789abcdef"
FAILURE_SENSOR_NAME = "persistiq_run_failure_sensor"
JOB_NAMES = [load_job.name for load_job in LOAD_JOBS.all]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


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
        assert path == "/hooks/T000/secret-token"
        assert content_type == "application/json"
        assert WRONG_KEY not in body.decode()


# -- one failed run, evaluated by the sensor in process -----------------------------------------


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def failed_leads_run(tmp_path_factory):
    """A real run of the leads job that fails on a wrong API key: (instance, run, failure
    event)."""
    tmp_path = tmp_path_factory.mktemp("failed_run")
    with (
        PersistIQEmulator(store=make_dataset(leads=20, seed=1)) as emulator,
        DagsterInstance.ephemeral() as instance,
    ):
        defs = with_test_resources(
            DEFAULT_DEFS,
            persistiq=persistiq_for(emulator, api_key=WRONG_KEY),
            warehouse=PersistIQWarehouse(
                duckdb_path=str(tmp_path / "warehouse.duckdb"),
                pipelines_dir=str(tmp_path / "dlt_pipelines"),
            ),
        )
        job_def = defs.resolve_job_def(LOAD_JOBS.leads.name)
        result = job_def.execute_in_process(
            instance=instance, partition_key=day_key(datetime.now(UTC)), raise_on_error=False
        )
        assert not result.success
        yield instance, result.dagster_run, result.get_run_failure_event()


def failure_context(failed_run):
    instance, run, event = failed_run
    return build_run_status_sensor_context(
        sensor_name=FAILURE_SENSOR_NAME,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
    ).for_run_failure()


def failure_sensor(webhook_url: str | None):
    """The run failure sensor as ``build_defs`` builds it, posting to ``webhook_url``."""
    return build_run_failure_sensor(JOB_NAMES, webhook_url)


def test_failure_sensor_logs_and_posts_to_webhook(failed_leads_run, webhook, capsys):
    # The URL is a setting, read when the Definitions are built.
    settings = Settings.from_env({config.FAILURE_WEBHOOK_URL_ENV: webhook.url})
    assert settings.failure_webhook_url == webhook.url
    sensor = build_defs(settings).get_repository_def().get_sensor_def(FAILURE_SENSOR_NAME)
    _, run, _ = failed_leads_run
    sensor(failure_context(failed_leads_run))

    [payload] = webhook.payloads
    assert payload["run_id"] == run.run_id
    assert payload["job"] == "persistiq_leads_job"
    assert payload["partition"] == day_key(datetime.now(UTC))
    assert run.run_id in payload["text"] and "\n" not in payload["text"]
    # The step's error says what PersistIQ answered and which setting to change.
    assert "401 unauthorized" in payload["text"] and config.API_KEY_ENV in payload["text"]
    assert WRONG_KEY not in webhook.bodies[0].decode()
    logged = capsys.readouterr().err
    assert f"PersistIQ run {run.run_id} of persistiq_leads_job" in logged
    assert "ERROR" in logged
    assert WRONG_KEY not in logged


def test_failure_sensor_without_webhook_only_logs(failed_leads_run, webhook, monkeypatch, capsys):
    # Built without a URL, the sensor posts nowhere: the environment is not read at the tick.
    monkeypatch.setenv(config.FAILURE_WEBHOOK_URL_ENV, webhook.url)
    _, run, _ = failed_leads_run
    failure_sensor(None)(failure_context(failed_leads_run))
    assert webhook.bodies == []
    assert run.run_id in capsys.readouterr().err


@pytest.mark.parametrize("status", [500, None])
def test_failing_webhook_is_logged_not_raised(failed_leads_run, capsys, status):
    if status is None:
        url = f"http://127.0.0.1:{closed_port()}/hooks/secret-token"
        failure_sensor(url)(failure_context(failed_leads_run))
    else:
        with WebhookReceiver(status=status) as failing:
            failure_sensor(failing.url)(failure_context(failed_leads_run))
            assert len(failing.bodies) == 1
    logged = capsys.readouterr().err
    assert config.FAILURE_WEBHOOK_URL_ENV in logged
    assert "secret-token" not in logged


def test_failure_sensor_ignores_other_runs(failed_leads_run, webhook, capsys):
    instance, _, _ = failed_leads_run

    @op
    def explode() -> None:
        raise RuntimeError("not PersistIQ")

    @job
    def unrelated_job() -> None:
        explode()

    result = unrelated_job.execute_in_process(instance=instance, raise_on_error=False)
    context = failure_context((instance, result.dagster_run, result.get_run_failure_event()))
    capsys.readouterr()  # the run's own logs
    failure_sensor(webhook.url)(context)
    assert webhook.bodies == []
    assert result.dagster_run.run_id not in capsys.readouterr().err


def test_implicit_asset_job_runs_of_persistiq_assets_are_watched():
    def run(job_name: str, keys=None, checks=None) -> DagsterRun:
        return DagsterRun(job_name=job_name, asset_selection=keys, asset_check_selection=checks)

    leads_check = AssetCheckKey(AssetKey(["persistiq", "leads"]), "id_unique_and_not_null")
    other_check = AssetCheckKey(AssetKey(["other", "table"]), "id_unique_and_not_null")
    watched = JOB_NAMES
    assert is_persistiq_run(
        run("__ASSET_JOB", frozenset({AssetKey(["persistiq", "leads"])})), watched
    )
    assert not is_persistiq_run(
        run("__ASSET_JOB", frozenset({AssetKey(["other", "table"])})), watched
    )
    assert is_persistiq_run(run("__ASSET_JOB", checks=frozenset({leads_check})), watched)
    assert not is_persistiq_run(run("__ASSET_JOB", checks=frozenset({other_check})), watched)
    assert is_persistiq_run(run("__ASSET_JOB"), watched)  # every asset of the code location
    assert is_persistiq_run(run("persistiq_users_campaigns_job"), watched)
    # The models' runs: their automation's, or a materialisation from the UI.
    funnel = AssetKey(["persistiq_analytics", "lead_funnel"])
    assert is_persistiq_run(run("__ASSET_JOB_0", frozenset({funnel})), watched)
    funnel_check = AssetCheckKey(funnel, "not_null_lead_funnel_leads")
    assert is_persistiq_run(run("__ASSET_JOB_0", checks=frozenset({funnel_check})), watched)
    assert not is_persistiq_run(run("unrelated_job"), watched)
    # The jobs are known by the names given: a job the settings left out is not watched.
    assert not is_persistiq_run(run("persistiq_activity_job"), ["persistiq_leads_job"])


@pytest.mark.slow  # a dbt build
def test_a_failed_model_run_is_reported_and_posted(tmp_path, webhook, capsys):
    """The models, materialised as the UI and their automation do (the implicit asset job),
    fail to build on a warehouse that holds no PersistIQ table: the sensor reports that run
    as it reports a failed load, and posts it."""
    defs = with_test_resources(DEFAULT_DEFS, warehouse=duckdb_warehouse(tmp_path))
    funnel = AssetKey(["persistiq_analytics", "lead_funnel"])
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[funnel], raise_on_error=False
        )
        assert not result.success
        assert result.dagster_run.job_name.startswith("__ASSET_JOB")
        context = build_run_status_sensor_context(
            sensor_name=FAILURE_SENSOR_NAME,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        failure_sensor(webhook.url)(context)

    [payload] = webhook.payloads
    assert payload["run_id"] == result.dagster_run.run_id
    assert "First error, in persistiq_analytics" in payload["text"]
    assert "Failure in model lead_funnel" in payload["text"]  # dbt's own words
    assert "\x1b" not in payload["text"]  # without dbt's terminal colours
    assert result.dagster_run.run_id in capsys.readouterr().err
