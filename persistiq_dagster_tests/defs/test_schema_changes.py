"""Schema changes are shown, not silent: a custom lead field added partway through, or a value
of another type, is reported by the materialisation and named by a WARN check; a custom field
is described by its lead_fields label; with the freeze contract such a load fails and writes
nothing."""

from datetime import UTC, datetime

from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from persistiq_dagster.defs.checks import SCHEMA_CHECK_NAME
from persistiq_dagster.defs.names import (
    COLUMNS_ADDED_METADATA_KEY,
    COLUMNS_RETYPED_METADATA_KEY,
)
from persistiq_dagster_tests.defs.test_checks import load
from persistiq_dagster_tests.defs.test_load_errors import failure_text
from persistiq_dagster_tests.support import persistiq_for, query, run_assets

DAY = "2024-01-09"
AT = datetime(2024, 1, 9, 10, tzinfo=UTC)
LEADS = AssetKey(["persistiq", "leads"])


def latest_leads_metadata(instance: DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(LEADS)
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def add_favourite_colour(store) -> list[str]:
    ids = [lead["id"] for lead in store.leads[:4]]
    store.add_lead_field("favorite_color", "Favourite colour", dict.fromkeys(ids, "blue"), at=AT)
    return ids


def test_a_custom_field_added_partway_is_reported_named_and_described(
    store, emulator, persistiq, warehouse
):
    instance = DagsterInstance.ephemeral()
    first = load(persistiq, warehouse, instance, select=["lead_fields", "leads"])
    assert first[("leads", SCHEMA_CHECK_NAME)].passed  # a new table is the start, not a change
    assert latest_leads_metadata(instance)[COLUMNS_ADDED_METADATA_KEY] == []

    add_favourite_colour(store)
    load(persistiq, warehouse, instance, select=["lead_fields"])
    checks = load(persistiq, warehouse, instance, select=["leads"], partition_key=DAY)

    metadata = latest_leads_metadata(instance)
    assert metadata[COLUMNS_ADDED_METADATA_KEY] == ["leads.data__favorite_color"]
    assert metadata[COLUMNS_RETYPED_METADATA_KEY] == []
    check = checks[("leads", SCHEMA_CHECK_NAME)]
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.description == "1 column(s) added: leads.data__favorite_color."
    columns = {c.name: c.description for c in metadata["dagster/column_schema"].columns}
    assert columns["data__favorite_color"] == (
        "Favourite colour: a custom lead field (data.favorite_color)"
    )
    assert columns["data__company_name"] == "Name of the lead's company (data.company_name)"


def test_a_value_of_another_type_is_reported_as_retyped(store, emulator, persistiq, warehouse):
    instance = DagsterInstance.ephemeral()
    load(persistiq, warehouse, instance, select=["leads"])
    store.update_leads(ids=[store.leads[0]["id"]], at=AT)
    store.leads[0] = {**store.leads[0], "sent_count": "twelve"}
    store.bump()

    checks = load(persistiq, warehouse, instance, select=["leads"], partition_key=DAY)

    metadata = latest_leads_metadata(instance)
    assert metadata[COLUMNS_RETYPED_METADATA_KEY] == ["leads.sent_count -> sent_count__v_text"]
    assert (
        "leads.sent_count -> sent_count__v_text" in checks[("leads", SCHEMA_CHECK_NAME)].description
    )


def test_freeze_refuses_a_new_column_and_writes_nothing(store, emulator, warehouse):
    frozen = persistiq_for(emulator, schema_contract="freeze")
    run_assets(frozen, warehouse, select=["lead_fields", "leads"])
    before = sorted(query(warehouse, "select * from persistiq.leads"), key=repr)
    changed = add_favourite_colour(store)

    result = run_assets(
        frozen, warehouse, select=["leads"], partition_key=DAY, raise_on_error=False
    )

    assert not result.success
    assert (
        "PersistIQ sent a new column 'data__favorite_color' for table leads, and "
        "PERSISTIQ_SCHEMA_CONTRACT=freeze refuses schema changes: nothing was written. "
        "Set PERSISTIQ_SCHEMA_CONTRACT=evolve to let it in."
    ) in failure_text(result)
    assert sorted(query(warehouse, "select * from persistiq.leads"), key=repr) == before
    # Evolve lets the same load in.
    run_assets(persistiq_for(emulator), warehouse, select=["leads"], partition_key=DAY)
    colours = query(warehouse, "select id from persistiq.leads where data__favorite_color = 'blue'")
    assert sorted(row[0] for row in colours) == sorted(changed)
