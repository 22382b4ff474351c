from setuptools import find_packages, setup

setup(
    name="persistiq_dagster",
    version="0.1.0",
    description="PersistIQ's read API loaded with dlt as Dagster assets",
    python_requires=">=3.11,<3.14",
    # The product alone: the emulator (persistiq_emulator/), the tests and the benchmark run
    # from a checkout of the project folder and are never installed, in the image or elsewhere.
    packages=find_packages(include=["persistiq_dagster", "persistiq_dagster.*"]),
    install_requires=[
        "dagster>=1.13.27,<1.14",
        "dagster-webserver>=1.13.27,<1.14",
        # dg, Dagster's recommended command line: dg dev, dg launch, dg check defs, dg list defs.
        "dagster-dg-cli>=1.13.27,<1.14",
        # The home of @dlt_assets; dagster-embedded-elt's dlt module only re-exports it.
        "dagster-dlt>=0.29.27,<0.30",
        "dlt[duckdb,parquet]>=1.31,<2",
        "requests>=2.32,<3",
        "filelock>=3.12,<5",  # the warehouse lock (also one of Dagster's own dependencies)
        # The analytics models: dbt run by Dagster. dbt-core 1.12 depends on
        # dbt-core-experimental-parser, whose source package downloads a wheel from GitHub
        # while it builds, which fails wherever only package registries are reachable.
        "dagster-dbt>=0.29.27,<0.30",
        "dbt-core>=1.11,<1.12",
        "dbt-duckdb>=1.11.1,<1.12",
        "pyyaml>=6,<7",  # dbt's profile, written for each run
    ],
    # The dbt project (models, seed, macros), read from the installed package.
    package_data={
        "persistiq_dagster": [
            "dbt_project/*.yml",
            "dbt_project/models/**/*",
            "dbt_project/seeds/*",
            "dbt_project/macros/*",
        ]
    },
    extras_require={
        # pytest-xdist: both test tiers run on every core (make test-fast, make test).
        "dev": ["pytest>=8,<10", "pytest-xdist>=3.8,<4", "ruff>=0.15,<1", "playwright>=1.50,<2"],
        # PERSISTIQ_DESTINATION=postgres (psycopg2, through dlt's own extra), and Dagster's own
        # storage on PostgreSQL for a production instance (deploy/dagster.yaml).
        # dbt-postgres: the analytics models on PostgreSQL.
        "postgres": [
            "dlt[postgres]>=1.31,<2",
            "dagster-postgres>=0.29.27,<0.30",
            "dbt-postgres>=1.11,<1.12",
        ],
    },
)
