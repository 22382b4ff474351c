"""The models as Dagster shows them: downstream of the load assets, in their own group, with
every column described on the asset page and their dbt tests as asset checks."""

from dagster import AssetKey

from persistiq_dagster.defs.analytics.translator import source_table
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME
from persistiq_dagster_tests.support import DEFAULT_DEFS, DEFAULT_SETTINGS

GRAPH = DEFAULT_DEFS.resolve_asset_graph()
MODELS = {
    spec.key: spec
    for spec in DEFAULT_DEFS.resolve_all_asset_specs()
    if spec.group_name == ANALYTICS_GROUP_NAME
}


def model(name: str) -> AssetKey:
    return AssetKey([ANALYTICS_GROUP_NAME, name])


def test_staging_models_read_the_load_assets_and_marts_read_staging():
    users = {AssetKey(["persistiq", "users"])}
    assert GRAPH.get(model("stg_persistiq__users")).parent_keys == users
    # users__mailboxes is a child table of users: the same asset.
    assert GRAPH.get(model("stg_persistiq__mailboxes")).parent_keys == {
        AssetKey(["persistiq", "users"])
    }
    assert GRAPH.get(model("stg_persistiq__events")).parent_keys == {
        AssetKey(["persistiq", "events"]),
        model("persistiq_event_types"),
        model("stg_persistiq__campaign_mailboxes"),
    }
    assert GRAPH.get(model("campaign_performance")).parent_keys == {
        model("stg_persistiq__campaigns"),
        model("stg_persistiq__campaign_leads"),
        model("stg_persistiq__replies"),
    }
    # Every model is downstream of some load: the graph runs from the API to the answers.
    loads = {key for key in GRAPH.get_all_asset_keys() if key.path[0] == "persistiq"}
    for key in MODELS:
        if key != model("persistiq_event_types"):
            assert ancestors(key) & loads, key


def ancestors(key: AssetKey) -> set[AssetKey]:
    parents = GRAPH.get(key).parent_keys
    return set(parents).union(*(ancestors(parent) for parent in parents if parent in MODELS))


def test_every_model_column_is_described_on_its_asset_page():
    for key, spec in MODELS.items():
        if key == model("persistiq_event_types"):
            continue
        columns = spec.metadata["dagster/column_schema"].columns
        assert columns, key
        undescribed = [column.name for column in columns if not (column.description or "").strip()]
        assert undescribed == [], key
        assert "Grain:" in spec.description, key


def test_models_are_owned_and_tagged_like_the_loads():
    for spec in MODELS.values():
        assert list(spec.owners) == list(DEFAULT_SETTINGS.asset_owners)
        assert DEFAULT_SETTINGS.asset_tags.items() <= spec.tags.items()
        assert spec.automation_condition is not None


def test_dbt_tests_are_asset_checks_on_their_models():
    checks = {k for k in GRAPH.asset_check_keys if k.asset_key.path[0] == ANALYTICS_GROUP_NAME}
    names = {(key.asset_key.path[-1], key.name) for key in checks}
    assert ("campaign_performance", "unique_campaign_performance_campaign_id") in names
    assert ("stg_persistiq__events", "event_types_mapped") in names
    assert ("campaign_performance", "replied_leads_match_persistiq") in names
    assert len(checks) == 39  # 37 dbt tests and the two checks that name what they find


def test_a_child_table_is_part_of_its_parents_asset():
    assert source_table("users__mailboxes") == "users"
    assert source_table("campaign_leads") == "campaign_leads"
