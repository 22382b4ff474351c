"""The models come up to date after every load, with nobody acting: declarative automation.

Chosen over adding the models to the load jobs because it follows a load however it was
started (a schedule, the leads sensor, the UI, the CLI, a backfill), builds only the models
downstream of what was loaded, and waits for a run in progress instead of racing it. The
sensor that evaluates it, ``persistiq_analytics_automation``, is on by default and is ticked by
Dagster's daemon, which ``dagster dev`` runs in the default instance.
"""

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, GROUP_NAME

SENSOR_NAME = "persistiq_analytics_automation"
SENSOR_INTERVAL_SECONDS = 30


def after_loads() -> AutomationCondition:
    """Build when what a model reads was updated (or the model's SQL changed), once no run of
    it or of what it reads is in progress. Like ``AutomationCondition.eager()``, but a model
    does not wait for every daily partition of a load to exist (most days are never loaded),
    only for the models it reads; and a model nothing has been loaded for is not built."""
    return (
        (
            AutomationCondition.any_deps_updated() | AutomationCondition.code_version_changed()
        ).since_last_handled()
        & ~AutomationCondition.any_deps_missing().ignore(AssetSelection.groups(GROUP_NAME))
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after loads")


def seed_condition() -> AutomationCondition:
    """The seed has nothing upstream: build it when missing or edited."""
    return (
        (
            AutomationCondition.missing() | AutomationCondition.code_version_changed()
        ).since_last_handled()
        & ~AutomationCondition.in_progress()
    ).with_label("when missing or edited")


def with_its_asset() -> AutomationCondition:
    """A check runs whenever its model is built (or was just built), in the same run."""
    return AutomationCondition.any_deps_updated().with_label("with its model")


def build_analytics_automation_sensor() -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        SENSOR_NAME,
        target=AssetSelection.groups(ANALYTICS_GROUP_NAME),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        description=(
            "Builds the analytics models (dbt) downstream of every PersistIQ load, however the "
            "load was started."
        ),
    )
