"""The connection check (issue 9): every endpoint asked once, with a good key, a bad key,
an unreachable host; from Python, the command line and the Dagster job."""

import time
from collections import Counter

import pytest
from dagster import DagsterEventType

from persistiq_dagster.config import EXCLUDE_TABLES_ENV, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.connection_check import build_connection_check_job, check_connection
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.source.catalog import TABLE_NAMES, TABLES_BY_NAME
from persistiq_dagster_tests.support import DEFAULT_DEFS, DEFAULT_SETTINGS, persistiq_for
from persistiq_emulator import PersistIQEmulator, make_dataset

WRONG_KEY = "wrong-key-5f3a9c"  # the emulator echoes a wrong key in its 401 message
UNREACHABLE = "http://127.0.0.1:1/v1/"
N = len(TABLE_NAMES)


def endpoint_paths(emulator: PersistIQEmulator, tables=TABLE_NAMES) -> set[str]:
    """The path each table is asked at; per-campaign ones for the first campaign by id,
    the first on page 1 of /v1/campaigns (the emulator sorts by id)."""
    first = min(campaign["id"] for campaign in emulator.store.campaigns)
    return {"/v1/" + TABLES_BY_NAME[table].path.replace("{campaign_id}", first) for table in tables}


def requested(emulator: PersistIQEmulator) -> Counter[str]:
    return Counter(record.path for record in emulator.requests)


def by_table(answers) -> dict:
    return {answer.table: answer for answer in answers}


def test_good_key_asks_every_endpoint_once(emulator, persistiq):
    answers = check_connection(persistiq)

    assert sorted(answer.table for answer in answers) == sorted(TABLE_NAMES)
    assert all(answer.ok for answer in answers), [answer.line() for answer in answers]
    # campaigns is asked once: the per-campaign tables reuse its answer
    assert requested(emulator) == dict.fromkeys(endpoint_paths(emulator), 1)
    assert by_table(answers)["campaigns"].detail == "200, 12 records on page 1"


def test_bad_key_fails_every_endpoint_without_showing_the_key(emulator):
    answers = by_table(check_connection(persistiq_for(emulator, api_key=WRONG_KEY)))

    assert set(answers) == set(TABLE_NAMES)
    assert not any(answer.ok for answer in answers.values())
    assert not any(WRONG_KEY in answer.line() for answer in answers.values())
    asked = [table for table in TABLE_NAMES if not TABLES_BY_NAME[table].per_campaign]
    for table in asked:
        assert answers[table].detail == "401 unauthorized: Failed to find api key: <redacted>"
    for table in ("campaign_leads", "replies"):
        assert answers[table].detail == "not asked: /campaigns did not answer"
        assert "FAILED" in answers[table].line()
    # each endpoint that could be asked was asked once; a 401 is not retried
    assert requested(emulator) == {f"/v1/{table}": 1 for table in asked}
    assert emulator.count(status=401) == len(asked)


def test_account_without_campaigns_is_ok_without_asking_per_campaign():
    with PersistIQEmulator(store=make_dataset(users=2, leads=10, campaigns=0)) as emulator:
        answers = by_table(check_connection(persistiq_for(emulator)))

        assert all(answer.ok for answer in answers.values())
        for table in ("campaign_leads", "replies"):
            assert answers[table].detail == "not asked: no campaign"
        assert not any("/campaigns/" in path for path in requested(emulator))
        assert emulator.count(path="/v1/campaigns") == 1


def test_unreachable_host_fails_quickly_naming_the_setting():
    unreachable = PersistIQResource(api_key="some-key", base_url=UNREACHABLE)
    started = time.monotonic()
    answers = check_connection(unreachable)
    elapsed = time.monotonic() - started

    assert sorted(answer.table for answer in answers) == sorted(TABLE_NAMES)
    assert not any(answer.ok or "some-key" in answer.line() for answer in answers)
    for answer in answers:
        if TABLES_BY_NAME[answer.table].per_campaign:
            assert answer.detail == "not asked: /campaigns did not answer"
        else:
            assert answer.detail == (
                "no answer (connection refused); check PERSISTIQ_BASE_URL and the network"
            )
    assert elapsed < 20, f"the check took {elapsed:.1f} s against a closed port"


def test_a_page_that_is_not_json_fails_that_table_only(emulator, persistiq):
    emulator.inject(status=200, body="<html>oops</html>", path="/v1/tags", content_type="text/html")
    answers = by_table(check_connection(persistiq))

    assert not answers["tags"].ok
    assert "is not JSON" in answers["tags"].detail
    assert "oops" in answers["tags"].detail
    assert all(answer.ok for table, answer in answers.items() if table != "tags")


@pytest.mark.parametrize(
    "tables",
    [
        pytest.param(("users", "leads"), id="no-per-campaign"),
        pytest.param(("users", "tags", "replies"), id="replies-without-campaigns-table"),
        pytest.param(("campaigns", "campaign_leads"), id="campaigns-and-its-leads"),
    ],
)
def test_only_the_enabled_tables_are_asked(emulator, persistiq, tables):
    answers = check_connection(persistiq, tables)

    assert sorted(answer.table for answer in answers) == sorted(tables)
    assert all(answer.ok for answer in answers)
    needs_campaigns = any(TABLES_BY_NAME[table].per_campaign for table in tables)
    expected = endpoint_paths(emulator, tables)
    if needs_campaigns:
        expected.add("/v1/campaigns")  # asked once for the first campaign's id
    assert requested(emulator) == dict.fromkeys(expected, 1)


@pytest.mark.parametrize(
    "excluded",
    [pytest.param("", id="all-tables"), pytest.param("tags,replies", id="excluded-tables")],
)
def test_job_with_good_key(emulator, persistiq, excluded):
    # The job as the Definitions build it from the setting.
    defs = build_defs(Settings.from_env({EXCLUDE_TABLES_ENV: excluded}))
    job = defs.resolve_job_def("persistiq_connection_check_job")
    result = job.execute_in_process(resources={"persistiq": persistiq}, raise_on_error=False)

    assert result.success
    [output] = [
        event for event in result.all_events if event.event_type == DagsterEventType.STEP_OUTPUT
    ]
    metadata = output.step_output_data.metadata
    expected = [table for table in TABLE_NAMES if table not in excluded.split(",")]
    assert sorted(metadata) == sorted(expected)
    assert metadata["users"].value == "200, 5 records on page 1"


def test_job_with_bad_key_fails_with_summary(emulator):
    job = build_connection_check_job(DEFAULT_SETTINGS.enabled_tables)
    result = job.execute_in_process(
        resources={"persistiq": persistiq_for(emulator, api_key=WRONG_KEY)}, raise_on_error=False
    )

    assert not result.success
    failure = result.failure_data_for_node("persistiq_connection_check").user_failure_data
    assert f"0 of {N} endpoints answered, {N} failed" in failure.description
    assert WRONG_KEY not in failure.description
    assert not any(WRONG_KEY in str(entry.value) for entry in failure.metadata.values())
    assert "401 unauthorized" in failure.metadata["users"].value


def test_job_is_in_the_definitions():
    assert DEFAULT_DEFS.resolve_job_def("persistiq_connection_check_job").name == (
        "persistiq_connection_check_job"
    )
