"""What each materialisation reports through dagster-dlt's metadata hook, after real loads from
the emulator into DuckDB: every column with its description, child tables too, and the run's
dlt load ids."""

import pytest

from persistiq_dagster.defs.names import LOAD_IDS_METADATA_KEY
from persistiq_dagster.source.columns import DLT_COLUMN_DESCRIPTIONS, columns_for
from persistiq_dagster_tests.conftest import ACTIVITY_TABLES, CORE_TABLES, query, run_assets


@pytest.mark.parametrize(
    "tables",
    [
        pytest.param(CORE_TABLES, id="snapshots"),
        pytest.param(("leads",), id="leads"),
        pytest.param(ACTIVITY_TABLES, id="activity"),
    ],
)
def test_the_column_table_describes_every_column_loaded(persistiq, warehouse, tables):
    result = run_assets(persistiq, warehouse, select=tables)
    assert result.success
    events = result.get_asset_materialization_events()
    # One per table, or for leads, events and replies one per day of the run.
    assert {event.asset_key.path[-1] for event in events} == set(tables)
    for event in events:
        table = event.asset_key.path[-1]
        metadata = event.materialization.metadata
        columns = {c.name: c for c in metadata["dagster/column_schema"].schema.columns}
        # The column table is the warehouse table's, column for column...
        in_warehouse = {
            name
            for (name,) in query(
                warehouse,
                "select column_name from information_schema.columns "
                f"where table_schema = 'persistiq' and table_name = '{table}'",
            )
        }
        assert set(columns) == in_warehouse, table
        # ...each declared column with its declared description, and dlt's own described too.
        for name, hint in columns_for(table, reply_bodies=False).items():
            assert columns[name].description == hint["description"], (table, name)
        for name in (name for name in columns if name.startswith("_dlt_")):
            assert columns[name].description == DLT_COLUMN_DESCRIPTIONS[name], (table, name)
        assert columns["id"].constraints.other == ["primary_key"]
        assert metadata[LOAD_IDS_METADATA_KEY].value, table


def test_child_tables_have_their_column_tables_too(persistiq, warehouse):
    result = run_assets(persistiq, warehouse, select=("users",))
    (event,) = result.get_asset_materialization_events()
    mailboxes = {
        c.name: c for c in event.materialization.metadata["users__mailboxes"].schema.columns
    }
    assert {"id", "email", "_dlt_parent_id", "_dlt_list_idx"} <= set(mailboxes)
    assert all(column.description for column in mailboxes.values()), mailboxes
