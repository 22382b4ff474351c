"""``build_defs(settings)``: the Dagster Definitions (assets, checks, jobs, schedules, sensors
and resources), every one of them built from one ``Settings`` value."""

from dataclasses import dataclass

from dagster import (
    AssetChecksDefinition,
    AssetsDefinition,
    ConfigurableResource,
    Definitions,
    SensorDefinition,
    in_process_executor,
)

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.assets import build_load_assets
from persistiq_dagster.defs.checks import build_table_checks
from persistiq_dagster.defs.connection_check import build_connection_check_job
from persistiq_dagster.defs.freshness import build_freshness_checks, build_freshness_sensor
from persistiq_dagster.defs.jobs import build_load_jobs
from persistiq_dagster.defs.leads_reconcile import (
    build_leads_reconcile_schedule,
    persistiq_leads_reconcile_job,
)
from persistiq_dagster.defs.partitions import daily_partitions
from persistiq_dagster.defs.resources.dlt import PersistIQDltResource
from persistiq_dagster.defs.resources.persistiq import PersistIQResource
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse
from persistiq_dagster.defs.schedules import build_schedules
from persistiq_dagster.defs.sensors.leads_updates import build_leads_updates_sensor
from persistiq_dagster.defs.sensors.run_failure import build_run_failure_sensor


def build_defs(settings: Settings) -> Definitions:
    partitions = daily_partitions(settings)
    assets = build_load_assets(settings, partitions)
    jobs = build_load_jobs(assets)
    freshness_checks = build_freshness_checks(
        assets.all, settings.freshness_hours, settings.freshness_deadline, settings.timezone
    )
    analytics = Analytics.build(settings)
    return Definitions(
        assets=[*assets.all, *analytics.assets],
        asset_checks=[
            *build_table_checks(settings.enabled_tables),
            *freshness_checks,
            *analytics.checks,
        ],
        jobs=[
            *jobs.all,
            build_connection_check_job(settings.enabled_tables),
            persistiq_leads_reconcile_job,
        ],
        schedules=[
            *build_schedules(settings, jobs, partitions),
            build_leads_reconcile_schedule(settings, persistiq_leads_reconcile_job),
        ],
        sensors=[
            build_leads_updates_sensor(
                settings.leads_sensor_interval_seconds,
                partitions,
                jobs,
                settings.leads_sensor_activity_minutes,
            ),
            build_run_failure_sensor(
                [*(job.name for job in jobs.all), persistiq_leads_reconcile_job.name],
                settings.failure_webhook_url,
            ),
            build_freshness_sensor(freshness_checks),
            *analytics.sensors,
        ],
        # Every step holds the warehouse lock, so steps never run side by side: one process
        # per run, not one per step, saves a Python start and a load of these Definitions for
        # each step.
        executor=in_process_executor,
        resources={
            "dlt": PersistIQDltResource(),
            "persistiq": PersistIQResource.from_settings(settings),
            "warehouse": PersistIQWarehouse.from_settings(settings),
            **analytics.resources,
        },
    )


@dataclass(frozen=True)
class Analytics:
    """The dbt models with their checks, automation and resource; none when turned off or on
    a warehouse they do not run on (``Settings.runs_analytics``)."""

    assets: list[AssetsDefinition]
    checks: list[AssetChecksDefinition]
    sensors: list[SensorDefinition]
    resources: dict[str, ConfigurableResource]

    @classmethod
    def build(cls, settings: Settings) -> "Analytics":
        if not settings.runs_analytics:
            return cls([], [], [], {})
        # Imported here, not at the top: dbt-core, which dagster-dbt brings, costs every
        # process that loads these Definitions about 55 MiB, and PERSISTIQ_ANALYTICS=false
        # spares the runs of a deployment without the models that cost.
        from persistiq_dagster.defs.analytics.assets import build_analytics_assets
        from persistiq_dagster.defs.analytics.automation import build_analytics_automation_sensor
        from persistiq_dagster.defs.analytics.checks import build_analytics_checks
        from persistiq_dagster.defs.analytics.project import analytics_project
        from persistiq_dagster.defs.analytics.resource import PersistIQAnalytics

        models = build_analytics_assets(settings, analytics_project())
        built = {key.path[-1] for key in models.keys}
        return cls(
            [models],
            build_analytics_checks(built, settings.reply_tolerance),
            [build_analytics_automation_sensor()],
            {"analytics": PersistIQAnalytics.from_settings(settings)},
        )
