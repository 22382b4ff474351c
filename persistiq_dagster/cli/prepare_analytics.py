"""Parse the dbt project into its manifest, as a deployment does once at build time
(Dagster's recommendation for ``@dbt_assets``): ``make`` and the Dockerfile run it, so loading
the Definitions reads a manifest instead of running dbt.

    python -m persistiq_dagster.cli.prepare_analytics
"""

from persistiq_dagster.defs.analytics.project import prepare


def main() -> None:
    print(f"dbt manifest: {prepare()}")


if __name__ == "__main__":
    main()
