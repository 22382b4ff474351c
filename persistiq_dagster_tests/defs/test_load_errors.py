"""Bad input fails the run clearly, names the setting to change, loses nothing, hides the key."""

from datetime import UTC, datetime

import pytest
from dagster import DagsterInvalidConfigError

from persistiq_dagster.config import PersistIQConfigError, Settings
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.http.errors import ERRORS_PREVIEW_CHARS, errors_preview
from persistiq_dagster_tests.support import count_rows, persistiq_for, query, run_assets

WRONG_KEY = "wrong-key-5f1c2a9e"


def failure_text(result) -> str:
    """Every message and cause of the run's step failures, as a user would read them."""
    failures = result.get_step_failure_events()
    assert failures, "the run was expected to fail"
    return "\n".join(event.step_failure_data.error.to_string() for event in failures)


def test_wrong_key_fails_at_once_with_persistiq_reason_and_never_the_key(emulator, warehouse):
    bad = persistiq_for(emulator, api_key=WRONG_KEY)

    result = run_assets(bad, warehouse, select=["users"], raise_on_error=False)

    text = failure_text(result)
    assert "401 unauthorized on /v1/users" in text
    assert "Failed to find api key" in text  # PersistIQ's own message, redacted
    assert "PERSISTIQ_API_KEY" in text
    assert WRONG_KEY not in text
    assert emulator.count(path="/v1/users") == 1  # 401 is not retried


def test_missing_key_names_the_variable_to_set(emulator, warehouse, monkeypatch):
    monkeypatch.delenv("PERSISTIQ_API_KEY", raising=False)
    unset = PersistIQResource.from_settings(Settings.from_env({}))  # as the Definitions bind it

    # Dagster resolves the EnvVar when the run starts and refuses it, naming the variable.
    with pytest.raises(DagsterInvalidConfigError, match='"PERSISTIQ_API_KEY" which is not set'):
        run_assets(unset, warehouse, select=["users"], raise_on_error=False)
    assert emulator.count() == 0
    with pytest.raises(PersistIQConfigError, match="PERSISTIQ_API_KEY"):
        PersistIQResource(api_key="").build_source(name="persistiq")


def test_wrong_base_path_fails_with_404_and_names_the_setting(emulator, warehouse):
    wrong = persistiq_for(emulator, base_url=emulator.base_url.replace("/v1/", "/v9/"))

    result = run_assets(wrong, warehouse, select=["users"], raise_on_error=False)

    text = failure_text(result)
    assert "404" in text and "PERSISTIQ_BASE_URL" in text
    assert emulator.count() == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>502 Bad Gateway</html>", "is not JSON: '<html>502 Bad Gateway</html>'"),
        ({"status": "success", "has_more": False}, "has no list under 'leads'"),
    ],
    ids=["html-body", "no-records-key"],
)
def test_malformed_page_fails_clearly_and_loses_nothing(
    emulator, store, persistiq, warehouse, body, expected
):
    run_assets(persistiq, warehouse, select=["leads"])
    changed = store.update_leads(count=3, at=datetime(2024, 7, 1, 8, tzinfo=UTC))
    emulator.inject(status=200, body=body, path="/v1/leads", content_type="text/html")

    failed = run_assets(
        persistiq, warehouse, select=["leads"], partition_key="2024-07-01", raise_on_error=False
    )

    assert expected in failure_text(failed)
    assert failed.get_asset_materialization_events() == []
    assert count_rows(warehouse, "leads") == len(store.leads)
    assert query(
        warehouse, "select count(*) from persistiq.leads where updated_at >= '2024-07-01'"
    ) == [(0,)]
    # Running the day again loads the three updates, once each.
    run_assets(persistiq, warehouse, select=["leads"], partition_key="2024-07-01")
    ids = ", ".join(f"'{lead_id}'" for lead_id in changed)
    assert query(warehouse, f"select count(*) from persistiq.leads where id in ({ids}) "
                 "and updated_at >= '2024-07-01'") == [(3,)]  # fmt: skip
    assert count_rows(warehouse, "leads") == len(store.leads)


@pytest.mark.parametrize(
    ("status", "errors", "expected"),
    [
        ("error", [], "status 'error', errors: none listed."),
        (
            "success",
            ["updated_after is out of range", "key {key} may not read leads"],
            """status 'success', errors: ["updated_after is out of range", """
            """"key <redacted> may not read leads"].""",
        ),
    ],
    ids=["status-error", "success-with-errors"],
)
def test_a_200_whose_envelope_says_it_failed_fails_and_loads_nothing(
    emulator, store, persistiq, warehouse, status, errors, expected
):
    run_assets(persistiq, warehouse, select=["leads"])
    changed = store.update_leads(count=3, at=datetime(2024, 7, 1, 8, tzinfo=UTC))
    leads = [lead for lead in store.leads if lead["id"] in changed]
    errors = [error.format(key=emulator.api_key) for error in errors]
    body = {"status": status, "errors": errors, "has_more": False, "next_page": None}
    emulator.inject(status=200, body={**body, "leads": leads}, path="/v1/leads")

    failed = run_assets(
        persistiq, warehouse, select=["leads"], partition_key="2024-07-01", raise_on_error=False
    )

    text = failure_text(failed)
    assert f"PersistIQ 200 on /v1/leads says the request failed: {expected}" in text
    assert "No page was loaded." in text
    assert emulator.api_key not in text
    assert failed.get_asset_materialization_events() == []
    assert query(
        warehouse, "select count(*) from persistiq.leads where updated_at >= '2024-07-01'"
    ) == [(0,)]
    assert count_rows(warehouse, "leads") == len(store.leads)


def test_a_long_errors_list_is_cut_short():
    preview = errors_preview([f"error number {n}" for n in range(100)], secret=None)
    assert preview.startswith('["error number 0", "error number 1"')
    assert preview.endswith("… (100 errors)")
    assert len(preview) < ERRORS_PREVIEW_CHARS + 20


def test_next_page_that_repeats_a_page_fails_instead_of_looping(emulator, persistiq, warehouse):
    page = {"status": "success", "has_more": True, "next_page": 1, "leads": []}
    emulator.inject(status=200, body=page, path="/v1/leads")

    result = run_assets(persistiq, warehouse, select=["leads"], raise_on_error=False)

    assert "would read a page again" in failure_text(result)
    assert emulator.count(path="/v1/leads") == 1


def test_transient_5xx_are_retried_and_the_load_is_complete(emulator, store, persistiq, warehouse):
    emulator.inject(status=503, times=2, path="/v1/leads")

    run_assets(persistiq, warehouse, select=["leads"])

    assert count_rows(warehouse, "leads") == len(store.leads)
    assert emulator.count(path="/v1/leads", status=503) == 2


def test_duckdb_file_named_like_the_dataset_is_rejected_with_a_fix(tmp_path):
    clash = PersistIQWarehouse(duckdb_path=str(tmp_path / "persistiq.duckdb"))

    with pytest.raises(PersistIQConfigError, match="PERSISTIQ_DUCKDB_PATH.*Ambiguous"):
        clash.build_pipeline("persistiq_core")
