"""Every declared column has a type and a one-line description, and a real load keeps the
descriptions in dlt's schema: the tables' own, the reply bodies' and the mailboxes'."""

import dlt
import pytest
from dlt.common.data_types.typing import DATA_TYPES
from dlt.common.normalizers.json.relational import DataItemNormalizer
from dlt.common.schema.typing import C_DLT_ID, C_DLT_LOAD_ID, DEFAULT_VALIDITY_COLUMN_NAMES

from persistiq_dagster.source.catalog import TABLE_NAMES, TABLES_BY_NAME
from persistiq_dagster.source.columns import (
    CAMPAIGN_STATS_FIELDS,
    COLUMNS_BY_RESOURCE,
    DLT_COLUMN_DESCRIPTIONS,
    LEAD_DATA_FIELDS,
    NESTED_COLUMN_DESCRIPTIONS,
    NESTED_COLUMNS_BY_RESOURCE,
    REPLY_BODY_COLUMNS,
    columns_for,
    nested_hints_for,
)
from persistiq_dagster_tests.support import persistiq_for, query, run_assets

MAX_DESCRIPTION = 120


def declared_tables() -> dict[str, dict]:
    """Every table's declared columns by table name: top-level ones with the reply bodies, and
    the child tables declared through nested hints."""
    tables = {table: columns_for(table, reply_bodies=True) for table in COLUMNS_BY_RESOURCE}
    for table, paths in NESTED_COLUMNS_BY_RESOURCE.items():
        for path, columns in paths.items():
            tables[f"{table}__{path}"] = columns
    return tables


def assert_one_line(description: object, where: str) -> None:
    assert isinstance(description, str) and description.strip(), where
    assert "\n" not in description and "\r" not in description, where
    assert description == description.strip(), where
    assert len(description) <= MAX_DESCRIPTION, where


# -- fast: the declarations ------------------------------------------------------------------


def test_every_table_of_the_catalogue_declares_its_columns():
    assert set(COLUMNS_BY_RESOURCE) == set(TABLE_NAMES)


@pytest.mark.parametrize("table", sorted(declared_tables()))
def test_every_declared_column_has_a_type_and_a_one_line_description(table):
    columns = declared_tables()[table]
    assert columns
    for name, column in columns.items():
        assert column.get("data_type") in DATA_TYPES, f"{table}.{name}"
        assert_one_line(column.get("description"), f"{table}.{name}")
    descriptions = [column["description"] for column in columns.values()]
    assert len(set(descriptions)) == len(descriptions), f"{table}: two columns, one description"


def test_reply_bodies_are_declared_only_when_loaded_and_described_when_they_are():
    assert not set(REPLY_BODY_COLUMNS) & set(columns_for("replies"))
    with_bodies = columns_for("replies", reply_bodies=True)
    assert set(REPLY_BODY_COLUMNS) == {"body", "preview"} <= set(with_bodies)
    for name in REPLY_BODY_COLUMNS:
        assert "PERSISTIQ_LOAD_REPLY_BODIES" in with_bodies[name]["description"]


@pytest.mark.parametrize(
    ("table", "prefix", "fields"),
    [("leads", "data", LEAD_DATA_FIELDS), ("campaigns", "stats", CAMPAIGN_STATS_FIELDS)],
)
def test_each_field_of_a_generated_family_has_its_own_description(table, prefix, fields):
    columns = COLUMNS_BY_RESOURCE[table]
    family = {name: column for name, column in columns.items() if name.startswith(f"{prefix}__")}
    assert set(family) == {f"{prefix}__{field}" for field in fields}
    descriptions = {name: column["description"] for name, column in family.items()}
    assert len(set(descriptions.values())) == len(fields)
    for field in fields:
        # Each names the field of the object it comes from, e.g. (data.first_name).
        assert f"({prefix}.{field})" in descriptions[f"{prefix}__{field}"]


def test_ids_are_required_and_the_other_hints_stay():
    for table, columns in COLUMNS_BY_RESOURCE.items():
        assert columns["id"]["nullable"] is False, table
        assert all(column["nullable"] for name, column in columns.items() if name != "id"), table
    assert COLUMNS_BY_RESOURCE["leads"]["updated_at"]["dedup_sort"] == "desc"
    timestamps = {
        (table, name)
        for table, columns in declared_tables().items()
        for name, column in columns.items()
        if column["data_type"] == "timestamp"
    }
    assert ("leads", "updated_at") in timestamps and ("events", "occurred_at") in timestamps
    for table, name in timestamps:
        assert "UTC" in COLUMNS_BY_RESOURCE[table][name]["description"], (table, name)


def test_nested_hints_name_their_columns_as_dlt_needs():
    (users_mailboxes,) = nested_hints_for("users").values()
    assert set(nested_hints_for("users")) == {"mailboxes"}
    assert users_mailboxes["columns"] == NESTED_COLUMNS_BY_RESOURCE["users"]["mailboxes"]
    for name, column in users_mailboxes["columns"].items():
        assert column["name"] == name
    assert all(nested_hints_for(table) == {} for table in TABLE_NAMES if table != "users")


def test_every_child_table_column_is_described():
    assert set(NESTED_COLUMN_DESCRIPTIONS) == {"users__mailboxes", "users__mailboxes__campaign_ids"}
    for table, descriptions in NESTED_COLUMN_DESCRIPTIONS.items():
        assert descriptions, table
        for name, description in descriptions.items():
            assert_one_line(description, f"{table}.{name}")
    for name, column in NESTED_COLUMNS_BY_RESOURCE["users"]["mailboxes"].items():
        assert NESTED_COLUMN_DESCRIPTIONS["users__mailboxes"][name] == column["description"]


def test_dlts_own_columns_are_described_under_dlts_names():
    assert set(DLT_COLUMN_DESCRIPTIONS) == {
        C_DLT_ID,
        C_DLT_LOAD_ID,
        DataItemNormalizer.C_DLT_PARENT_ID,
        DataItemNormalizer.C_DLT_LIST_IDX,
        DataItemNormalizer.C_DLT_ROOT_ID,
        *DEFAULT_VALIDITY_COLUMN_NAMES,
    }
    for name, description in DLT_COLUMN_DESCRIPTIONS.items():
        assert_one_line(description, name)


# -- end to end: a real load from the emulator into DuckDB -----------------------------------

# The tables a load of everything makes, dlt's own included: none more with the nested hints.
LOADED_TABLES = {
    *TABLE_NAMES,
    "users__mailboxes",
    "users__mailboxes__campaign_ids",
    "_dlt_loads",
    "_dlt_pipeline_state",
    "_dlt_version",
}
# users__mailboxes in the warehouse exactly as it was before its columns were declared.
MAILBOX_COLUMNS = [
    ("id", "VARCHAR", "YES"),
    ("email", "VARCHAR", "YES"),
    ("_dlt_parent_id", "VARCHAR", "NO"),
    ("_dlt_list_idx", "BIGINT", "NO"),
    ("_dlt_id", "VARCHAR", "NO"),
]

TABLES_SQL = "select table_name from duckdb_tables() where schema_name = 'persistiq'"


def stored_schema(warehouse, table: str):
    """dlt's schema of the pipeline that loads ``table``, as stored by the last run."""
    pipeline_name = TABLES_BY_NAME[table.split("__")[0]].pipeline
    return dlt.attach(pipeline_name, pipelines_dir=str(warehouse.working_dir())).default_schema


@pytest.mark.slow
def test_a_load_keeps_every_declared_description_in_dlts_schema(emulator, warehouse):
    run_assets(persistiq_for(emulator, load_reply_bodies=True), warehouse, select=TABLE_NAMES)

    tables = {row[0] for row in query(warehouse, TABLES_SQL)}
    assert tables == LOADED_TABLES
    for table, declared in declared_tables().items():
        stored = stored_schema(warehouse, table).get_table_columns(table)
        for name, column in declared.items():
            assert stored[name].get("description") == column["description"], f"{table}.{name}"
            assert stored[name]["data_type"] == column["data_type"], f"{table}.{name}"
        # Whatever dlt adds itself is described too, for the column tables in Dagster.
        assert {name for name in stored if name.startswith("_dlt")} <= set(DLT_COLUMN_DESCRIPTIONS)
    campaign_ids = stored_schema(warehouse, "users").get_table_columns(
        "users__mailboxes__campaign_ids"
    )
    described = NESTED_COLUMN_DESCRIPTIONS["users__mailboxes__campaign_ids"]
    assert {name for name in campaign_ids if not name.startswith("_dlt")} == set(described)
    assert (
        query(
            warehouse,
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'persistiq' and table_name = 'users__mailboxes' "
            "order by ordinal_position",
        )
        == MAILBOX_COLUMNS
    )


@pytest.mark.slow
def test_users_without_mailboxes_get_no_mailbox_table(store, emulator, warehouse):
    """Declaring the mailboxes' columns creates no table of them in the warehouse."""
    store.replace("users", [{**user, "mailboxes": []} for user in store.users])
    run_assets(persistiq_for(emulator), warehouse, select=["users"])

    tables = {row[0] for row in query(warehouse, TABLES_SQL)}
    assert "users" in tables
    assert not {table for table in tables if table.startswith("users__")}
