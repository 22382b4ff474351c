"""The models come up to date after a load with nobody acting: each tick of the automation
sensor, evaluated here against a real (in-memory) Dagster instance, asks for exactly the models
downstream of what was loaded."""

from dagster import AssetMaterialization, DagsterInstance, evaluate_automation_conditions

from persistiq_dagster.defs.analytics.automation import SENSOR_NAME
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, asset_key, model_key
from persistiq_dagster_tests.support import DEFAULT_DEFS

MODELS = sorted(
    key for key in DEFAULT_DEFS.resolve_asset_graph().get_all_asset_keys()
    if key.path[0] == ANALYTICS_GROUP_NAME
)  # fmt: skip


def requested(result) -> set[str]:
    return {
        evaluated.key.path[-1]
        for evaluated in result.results
        if evaluated.true_subset.size > 0 and hasattr(evaluated.key, "path")
    }


def tick(instance, cursor=None):
    """One tick; what it requested is then built (its materialisations reported)."""
    result = evaluate_automation_conditions(defs=DEFAULT_DEFS, instance=instance, cursor=cursor)
    names = requested(result)
    for name in names:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=model_key(name)))
    return names, result.cursor


def settle(instance, cursor, ticks: int = 4):
    """Tick until a tick asks for nothing (or ``ticks`` times): what was asked, in all."""
    asked: set[str] = set()
    for _ in range(ticks):
        names, cursor = tick(instance, cursor)
        if not names:
            return asked, cursor
        asked |= names
    raise AssertionError(f"still asking after {ticks} ticks: {names}")


def loaded(instance, table: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=asset_key(table), partition=partition)
    )


def test_after_a_load_exactly_the_models_downstream_of_it_are_requested():
    with DagsterInstance.ephemeral() as instance:
        started, cursor = tick(instance)  # the sensor's first tick only looks
        first, cursor = tick(instance, cursor)
        assert (started, first) == (set(), {"persistiq_event_types"})  # only the seed

        for key in MODELS:  # every model built once
            instance.report_runless_asset_event(AssetMaterialization(asset_key=key))
        nothing, cursor = settle(instance, cursor)
        assert nothing == set()

        loaded(instance, "events", partition="2024-01-05")
        after_events, cursor = settle(instance, cursor)
        assert after_events == {"stg_persistiq__events", "campaign_daily", "mailbox_daily"}

        loaded(instance, "leads", partition="2024-01-05")
        loaded(instance, "campaigns")
        after_both, cursor = settle(instance, cursor)
        assert after_both == {
            "stg_persistiq__leads", "lead_funnel", "stg_persistiq__campaigns",
            "stg_persistiq__campaign_versions", "campaign_performance", "campaign_daily",
            "campaign_stats_daily",
        }  # fmt: skip


def test_a_model_waits_for_the_models_it_reads():
    """users loaded on a fresh instance: its staging models, not lead_funnel, which also
    reads leads, never built yet."""
    with DagsterInstance.ephemeral() as instance:
        _, cursor = tick(instance)
        seed, cursor = tick(instance, cursor)
        assert seed == {"persistiq_event_types"}
        loaded(instance, "users")
        after_users, _ = settle(instance, cursor)
        assert after_users == {"stg_persistiq__users", "stg_persistiq__mailboxes"}


def test_the_sensor_is_on_by_default_and_targets_the_models():
    sensor = next(s for s in DEFAULT_DEFS.sensors if s.name == SENSOR_NAME)
    assert sensor.default_status.value == "RUNNING"
    assert model_key("campaign_performance") in sensor.asset_selection.resolve(
        DEFAULT_DEFS.resolve_asset_graph()
    )


def test_the_checks_of_each_model_built_run_with_it():
    with DagsterInstance.ephemeral() as instance:
        _, cursor = settle(instance, tick(instance)[1])
        for key in MODELS:
            instance.report_runless_asset_event(AssetMaterialization(asset_key=key))
        _, cursor = settle(instance, cursor)
        loaded(instance, "events", partition="2024-01-05")
        result = evaluate_automation_conditions(defs=DEFAULT_DEFS, instance=instance, cursor=cursor)
    checks = {
        (evaluated.key.asset_key.path[-1], evaluated.key.name)
        for evaluated in result.results
        if evaluated.true_subset.size > 0 and not hasattr(evaluated.key, "path")
    }
    checked = {model for model, _ in checks}
    assert checked == {"stg_persistiq__events", "campaign_daily", "mailbox_daily"}
    assert ("stg_persistiq__events", "event_types_mapped") in checks
    assert ("stg_persistiq__events", "unique_stg_persistiq__events_event_id") in checks
