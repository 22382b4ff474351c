"""``persistiq_run_failure_sensor``: one clear log line (and a webhook post) per failed run."""

from __future__ import annotations

import os
import re
from collections.abc import Collection

import requests
from dagster import (
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    run_failure_sensor,
)

from persistiq_dagster.config import API_KEY_ENV, FAILURE_WEBHOOK_URL_ENV
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, ASSET_KEY_PREFIX
from persistiq_dagster.defs.partitions import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from persistiq_dagster.source.http.errors import redact

WEBHOOK_TIMEOUT_SECONDS = 10.0
# Runs of the implicit asset job (a materialisation launched from the UI) are named like this.
IMPLICIT_ASSET_JOB_PREFIX = "__ASSET_JOB"
PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_TAGS = (ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)
EXCEPTION_PREFIX = re.compile(r"^(?:\w+\.)+\w+: |^\w*(?:Error|Exception|Failure): ")
MAX_ERROR_CHARS = 1000
# Terminal colours in an error's text (dbt's log lines carry them): noise in a log line or a
# chat message.
TERMINAL_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
# The first part of the keys of this project's assets: the loaded tables and the dbt models.
WATCHED_KEY_PREFIXES = (ASSET_KEY_PREFIX, ANALYTICS_GROUP_NAME)


def is_persistiq_run(run: DagsterRun, job_names: Collection[str]) -> bool:
    """A run of a PersistIQ job (``job_names``: runs of these carry no asset selection, so
    they are known by name), or of an asset job touching a PersistIQ table or model (a
    materialisation from the UI, the models' automation)."""
    if run.job_name in job_names:
        return True
    keys = [*(run.asset_selection or ()), *(c.asset_key for c in run.asset_check_selection or ())]
    if keys:
        return any(key.path[0] in WATCHED_KEY_PREFIXES for key in keys)
    # The whole implicit asset job: every asset of this code location is a PersistIQ asset.
    return run.job_name.startswith(IMPLICIT_ASSET_JOB_PREFIX)


def run_partition(context: RunFailureSensorContext) -> str | None:
    """The run's partition, or ``first...last`` for a run over a range of partitions."""
    tags = context.dagster_run.tags
    if context.partition_key or tags.get(PARTITION_TAG):
        return context.partition_key or tags[PARTITION_TAG]
    first, last = (tags.get(tag) for tag in PARTITION_RANGE_TAGS)
    return f"{first}...{last}" if first and last else None


def _failure_detail(context: RunFailureSensorContext) -> str:
    """The run's failure message, plus the first failed step's error when there is one."""
    message = context.failure_event.message or "no failure message"
    try:
        step_failures = context.get_step_failure_events()
    except Exception:  # noqa: BLE001 - details are a bonus; never fail the report over them
        step_failures = []
    for event in step_failures:
        error = getattr(event.event_specific_data, "error", None)
        if error is not None and error.message:
            # One line, without the exception's dotted class name in front.
            plain = TERMINAL_COLOURS.sub("", error.message).strip()
            detail = " ".join(EXCEPTION_PREFIX.sub("", plain).split())
            if len(detail) > MAX_ERROR_CHARS:
                detail = detail[: MAX_ERROR_CHARS - 3] + "..."
            return f"{message} First error, in {event.step_key}: {detail}"
    return message


def build_run_failure_sensor(job_names: Collection[str], webhook: str | None) -> SensorDefinition:
    """The sensor reporting failed runs of ``job_names`` (and of PersistIQ assets from the UI),
    posting each to ``webhook`` when one is set; on by default."""

    @run_failure_sensor(
        name="persistiq_run_failure_sensor",
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Logs every failed PersistIQ run ({', '.join(job_names)}, and runs of PersistIQ "
            "tables, models and their checks) with its run id, job, partition "
            f"and error, and posts it as JSON to {FAILURE_WEBHOOK_URL_ENV} when that is set."
        ),
    )
    def persistiq_run_failure_sensor(context: RunFailureSensorContext) -> None:
        """Report a failed PersistIQ run: one ``log.error`` line and, optionally, a webhook post.

        It watches every job of this code location (no ``monitored_jobs``) and keeps to PersistIQ
        runs itself, so materialisations from the UI (the implicit asset job) are covered too. It
        returns None, so Dagster goes on to the next failed run within the same tick.
        """
        run = context.dagster_run
        if not is_persistiq_run(run, job_names):
            return
        partition = run_partition(context)
        secret = os.getenv(API_KEY_ENV)  # errors are redacted already; this is a backstop
        text = redact(
            f"PersistIQ run {run.run_id} of {run.job_name}"
            + (f" (partition {partition})" if partition else "")
            + f" failed: {_failure_detail(context)}",
            secret,
        )
        context.log.error(text)

        if not webhook:
            return
        payload = {"text": text, "run_id": run.run_id, "job": run.job_name, "partition": partition}
        try:
            response = requests.post(webhook, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            # The URL may hold a token (Slack-style webhooks): name the setting, not the URL.
            context.log.warning(
                f"Could not post the failure of run {run.run_id} to "
                f"{FAILURE_WEBHOOK_URL_ENV}: {type(error).__name__}"
            )
            return
        if not response.ok:
            context.log.warning(
                f"The webhook in {FAILURE_WEBHOOK_URL_ENV} answered {response.status_code} "
                f"to the failure of run {run.run_id}"
            )

    return persistiq_run_failure_sensor
