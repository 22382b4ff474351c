"""What each materialisation reports through dagster-dlt's metadata hook, after real loads from
the emulator into DuckDB: every column with its description, child tables too, and the run's
dlt load ids."""

import pytest

from persistiq_dagster.defs.names import LOAD_IDS_METADATA_KEY
from persistiq_dagster.source.catalog import ACTIVITY_PIPELINE, CORE_PIPELINE, LEADS_PIPELINE
from persistiq_dagster.source.columns import DLT_COLUMN_DESCRIPTIONS, columns_for
from persistiq_dagster_tests.support import ACTIVITY_TABLES, CORE_TABLES, query


@pytest.mark.parametrize(
    ("pipeline", "tables"),
    [
        pytest.param(CORE_PIPELINE, CORE_TABLES, id="snapshots"),
        pytest.param(LEADS_PIPELINE, ("leads",), id="leads"),
        pytest.param(ACTIVITY_PIPELINE, ACTIVITY_TABLES, id="activity"),
    ],
)
def test_the_column_table_describes_every_column_loaded(loaded, pipeline, tables):
    result, warehouse = loaded.results[pipeline], loaded.warehouse
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


def test_child_tables_have_their_column_tables_too(loaded):
    events = loaded.results[CORE_PIPELINE].get_asset_materialization_events()
    (event,) = [event for event in events if event.asset_key.path[-1] == "users"]
    mailboxes = {
        c.name: c for c in event.materialization.metadata["users__mailboxes"].schema.columns
    }
    assert {"id", "email", "_dlt_parent_id", "_dlt_list_idx"} <= set(mailboxes)
    assert all(column.description for column in mailboxes.values()), mailboxes
