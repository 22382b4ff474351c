"""Check the connection: ask every PersistIQ endpoint the project reads for its first page.

``persistiq_connection_check_job`` does it from the Dagster UI, and
``python -m persistiq_dagster.cli.connection_check`` from the shell: one line per endpoint,
what PersistIQ answered, and for an error its own reason and message, with the key redacted.
A per-campaign list is asked about the first campaign on page 1 of ``/campaigns``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import requests
from dagster import Failure, JobDefinition, OpExecutionContext, Output, job, op
from requests import Session

from persistiq_dagster.config import BASE_URL_ENV
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.source.catalog import PARENT_TABLE, TABLES_BY_NAME
from persistiq_dagster.source.http.errors import (
    PersistIQError,
    check_envelope,
    connect_failure,
    error_fields,
    redact,
)
from persistiq_dagster.source.http.urls import api_url

CHECK_MAX_RETRIES = 1  # a check answers in seconds; a load retries for longer
CHECK_MAX_RETRY_DELAY = 2.0


@dataclass(frozen=True)
class EndpointAnswer:
    table: str
    path: str
    ok: bool
    detail: str  # what PersistIQ answered, free of the key

    def line(self) -> str:
        return f"{self.table:<16}{'ok' if self.ok else 'FAILED':<8}GET /{self.path}: {self.detail}"


def ask(
    session: Session, persistiq: PersistIQResource, table: str, path: str
) -> tuple[EndpointAnswer, list]:
    """Page 1 of ``path``: ok when it is PersistIQ's envelope with ``table``'s records."""
    api_key, headers = persistiq.require_api_key(), persistiq.request_headers()
    try:
        response = session.get(api_url(persistiq.base_url, path), headers=headers)
    except requests.RequestException as error:
        why = connect_failure(error) or type(error).__name__
        detail = f"no answer ({why}); check {BASE_URL_ENV} and the network"
        return EndpointAnswer(table, path, False, detail), []
    if not response.ok:
        reason, message = error_fields(response)
        said = f"{response.status_code} {reason}" + (f": {message}" if message else "")
        return EndpointAnswer(table, path, False, redact(said, api_key)), []
    try:
        check_envelope(response, table, api_key)
    except PersistIQError as error:
        return EndpointAnswer(table, path, False, redact(str(error), api_key)), []
    records = response.json()[table]
    detail = f"{response.status_code}, {len(records)} records on page 1"
    return EndpointAnswer(table, path, True, detail), records


def check_connection(
    persistiq: PersistIQResource, tables: Sequence[str] = tuple(TABLES_BY_NAME)
) -> list[EndpointAnswer]:
    """One answer per table, the per-campaign lists last (asked about the first campaign)."""
    quick = persistiq.model_copy(
        update={
            "max_retries": min(persistiq.max_retries, CHECK_MAX_RETRIES),
            "max_retry_delay": min(persistiq.max_retry_delay, CHECK_MAX_RETRY_DELAY),
        }
    )
    answers: list[EndpointAnswer] = []
    parent: EndpointAnswer | None = None  # the /campaigns answer, asked once
    campaigns: list = []
    session = quick.build_session()
    try:
        for table in sorted(tables, key=lambda name: TABLES_BY_NAME[name].per_campaign):
            path = TABLES_BY_NAME[table].path
            if TABLES_BY_NAME[table].per_campaign:
                if parent is None:
                    parent, campaigns = ask(session, quick, PARENT_TABLE, PARENT_TABLE)
                if not parent.ok:  # not known to answer: not ok
                    why = f"not asked: /{PARENT_TABLE} did not answer"
                    answers.append(EndpointAnswer(table, path, False, why))
                    continue
                if not campaigns:  # an account without campaigns: nothing to ask about
                    answers.append(EndpointAnswer(table, path, True, "not asked: no campaign"))
                    continue
                path = path.replace("{campaign_id}", str(campaigns[0]["id"]))
            answer, records = ask(session, quick, table, path)
            if table == PARENT_TABLE:
                parent, campaigns = answer, records
            answers.append(answer)
    finally:
        session.close()
    return answers


def summary(answers: Sequence[EndpointAnswer], base_url: str) -> str:
    failed = sum(not answer.ok for answer in answers)
    return (
        f"PersistIQ at {base_url}: {len(answers) - failed} of {len(answers)} endpoints "
        f"answered" + (f", {failed} failed" if failed else "")
    )


def build_connection_check_job(tables: Sequence[str]) -> JobDefinition:
    """``persistiq_connection_check_job``: asks the endpoints of ``tables``; changes nothing."""

    @op(
        name="persistiq_connection_check",
        description=(
            "Ask every PersistIQ endpoint the project reads for its first page, with the "
            "configured key; fails, listing PersistIQ's reasons, when any does not answer."
        ),
    )
    def connection_check_op(context: OpExecutionContext, persistiq: PersistIQResource) -> Output:
        answers = check_connection(persistiq, tables)
        for answer in answers:
            (context.log.info if answer.ok else context.log.error)(answer.line())
        metadata = {answer.table: answer.detail for answer in answers}
        if not all(answer.ok for answer in answers):
            raise Failure(description=summary(answers, persistiq.base_url), metadata=metadata)
        return Output(None, metadata=metadata)

    @job(
        name="persistiq_connection_check_job",
        description="Check the PersistIQ key and every endpoint; changes nothing.",
    )
    def connection_check_job() -> None:
        connection_check_op()

    return connection_check_job
