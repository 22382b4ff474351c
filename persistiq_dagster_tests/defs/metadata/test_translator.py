"""The asset specs as the UI shows them before any run: lineage, owners, tags, table names,
columns, code references, and metadata the UI can print.

The Definitions of the defaults, and others built from their own settings, in this process.
"""

from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MetadataValue,
    TableSchema,
)

from persistiq_dagster import config
from persistiq_dagster.config import PROJECT_DIR, PersistIQConfigError, Settings
from persistiq_dagster.defs.build import build_defs
from persistiq_dagster.defs.names import GROUP_NAME
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.source.catalog import PARENT_TABLE, TABLE_NAMES, TABLES_BY_NAME
from persistiq_dagster.source.columns import columns_for
from persistiq_dagster_tests.support import DEFAULT_DEFS, DEFAULT_SETTINGS

SPECS = {
    spec.key.path[-1]: spec
    for spec in DEFAULT_DEFS.resolve_all_asset_specs()
    if spec.group_name == GROUP_NAME
}


def own_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags but the ``dagster/kind/...`` ones Dagster makes of the kinds."""
    return {key: value for key, value in tags.items() if not key.startswith("dagster/kind/")}


def test_every_table_is_an_asset():
    assert sorted(SPECS) == sorted(TABLE_NAMES)


def test_tables_read_once_per_campaign_draw_their_lineage_from_campaigns():
    derived = {name for name in TABLE_NAMES if TABLES_BY_NAME[name].per_campaign}
    assert derived == {"campaign_leads", "replies"}
    for name, spec in SPECS.items():
        upstream = {dep.asset_key for dep in spec.deps}
        expected = {AssetKey(["persistiq", PARENT_TABLE])} if name in derived else set()
        assert upstream == expected, name


def test_every_asset_has_the_default_owners_and_tags_and_how_it_loads():
    for name, spec in SPECS.items():
        assert list(spec.owners) == list(config.DEFAULT_ASSET_OWNERS)
        assert own_tags(spec.tags) == {
            **config.DEFAULT_ASSET_TAGS,
            "persistiq/loads": TABLES_BY_NAME[name].loads,
        }, name
        assert {"api", "dlt", "duckdb"} <= spec.kinds


def test_the_table_name_is_where_to_query_it_before_any_run():
    warehouse = PersistIQWarehouse.from_settings(DEFAULT_SETTINGS)
    for name, spec in SPECS.items():
        assert spec.metadata["dagster/table_name"] == warehouse.qualified_table_name(name)
        assert spec.metadata["dagster/table_name"].endswith(f".persistiq.{name}")


def test_the_column_table_lists_each_declared_column_with_its_description():
    for name, spec in SPECS.items():
        schema = spec.metadata["dagster/column_schema"]
        declared = columns_for(name, reply_bodies=False)
        assert [column.name for column in schema.columns] == list(declared), name
        for column in schema.columns:
            assert column.description == declared[column.name]["description"]
            assert column.type == declared[column.name]["data_type"]
        assert schema.columns[0].name == "id" and not schema.columns[0].constraints.nullable


def test_each_asset_links_to_the_function_that_loads_it():
    for name, spec in SPECS.items():
        references = spec.metadata["dagster/code_references"]
        assert isinstance(references, CodeReferencesMetadataValue), name
        (reference,) = references.code_references
        assert isinstance(reference, LocalFileCodeReference)
        lines = Path(reference.file_path).read_text().splitlines()
        assert Path(reference.file_path) == PROJECT_DIR / "persistiq_dagster" / "defs" / "assets.py"
        # The line is the decorator's, @dlt_assets; the function follows it.
        below = [line.strip() for line in lines[reference.line_number - 1 :]]
        assert below[0] == "@dlt_assets(", (name, below[0])
        first_def = next(line for line in below if line.startswith("def "))
        assert first_def.startswith(f"def {TABLES_BY_NAME[name].pipeline}_assets("), name


def test_no_metadata_value_is_one_the_ui_cannot_print():
    """Anything but these types shows as "[ClassName] (unserializable)" on the asset page."""
    printable = (MetadataValue, TableSchema, str, int, float, bool)
    for name, spec in SPECS.items():
        for key, value in spec.metadata.items():
            assert isinstance(value, printable), (name, key, type(value))
        # What dagster-dlt kept as objects is described in words instead.
        assert spec.metadata["dagster_dlt/source"].value.startswith("dlt source persistiq_")


def specs_with(**environ: str) -> dict[str, dict]:
    """Owners, tags and code links of each asset, in the Definitions ``environ`` builds."""
    defs = build_defs(Settings.from_env(environ))
    return {
        spec.key.path[-1]: {
            "owners": list(spec.owners),
            "tags": spec.tags,
            "links": [
                getattr(ref, "url", None)
                for ref in spec.metadata["dagster/code_references"].code_references
            ],
        }
        for spec in defs.resolve_all_asset_specs()
        if spec.group_name == GROUP_NAME
    }


def test_owners_tags_and_repository_links_are_settings():
    specs = specs_with(
        PERSISTIQ_ASSET_OWNERS="team:revops, ana@example.com",
        PERSISTIQ_ASSET_TAGS="tier=gold,pii=",
        PERSISTIQ_CODE_REPOSITORY_URL="https://github.com/acme/persistiq_dagster/",
        PERSISTIQ_CODE_REPOSITORY_BRANCH="prod",
    )
    leads = specs["leads"]
    assert leads["owners"] == ["team:revops", "ana@example.com"]
    assert own_tags(leads["tags"]) == {
        "tier": "gold",
        "pii": "",
        "persistiq/loads": "daily_by_updated_at",
    }
    (link,) = leads["links"]
    assert link.startswith(
        "https://github.com/acme/persistiq_dagster/tree/prod/persistiq_dagster/defs/assets.py#L"
    ), link


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PERSISTIQ_ASSET_OWNERS", "revops"),
        ("PERSISTIQ_ASSET_TAGS", "tier gold"),
        ("PERSISTIQ_ASSET_TAGS", "tier=gold silver"),
        ("PERSISTIQ_CODE_REPOSITORY_URL", "https://git.example.com/acme/persistiq_dagster"),
    ],
)
def test_a_wrong_owner_tag_or_repository_names_the_variable(variable, value):
    """Settings.from_env or build_defs, which the code location calls when it loads, fails in
    one line naming the variable and its value."""
    with pytest.raises(PersistIQConfigError) as raised:
        specs_with(**{variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}={value!r}") and "\n" not in message, message
