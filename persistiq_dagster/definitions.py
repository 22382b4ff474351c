"""The Dagster Definitions: assets, jobs and resources, bound from the environment."""

from dagster import Definitions
from dagster_dlt import DagsterDltResource

from persistiq_dagster.assets import persistiq_core_assets, persistiq_leads_assets
from persistiq_dagster.jobs import leads_job, users_campaigns_job
from persistiq_dagster.resources import persistiq_from_env, warehouse_from_env

defs = Definitions(
    assets=[persistiq_core_assets, persistiq_leads_assets],
    jobs=[users_campaigns_job, leads_job],
    resources={
        "dlt": DagsterDltResource(),
        "persistiq": persistiq_from_env(),
        "warehouse": warehouse_from_env(),
    },
)
