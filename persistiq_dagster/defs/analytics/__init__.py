"""The analytics models: the dbt project in ``persistiq_dagster/dbt_project`` as Dagster assets
downstream of the loads, its profile from the settings, its checks and its automation."""
