"""dbt's connection, written from the project's own settings for each run: the DuckDB file of
``PERSISTIQ_DUCKDB_PATH``, or the PostgreSQL database dlt loads into (dlt's credentials, from
wherever dlt reads them). Nothing is configured twice, and no secret is put on a command line:
the profile is a file only its owner can read, removed when the run ends
(``resource.PersistIQAnalytics.run``)."""

import os
from pathlib import Path
from typing import Any

import yaml
from dlt.common.destination import Destination

from persistiq_dagster import config
from persistiq_dagster.config import PersistIQConfigError
from persistiq_dagster.defs.resources.warehouse import PersistIQWarehouse

PROFILE_NAME = "persistiq"  # dbt_project.yml's profile
TARGET_NAME = "warehouse"
THREADS = 4


def profile_output(warehouse: PersistIQWarehouse, schema: str) -> dict[str, Any]:
    """The dbt target for ``warehouse``, with the models in ``schema``."""
    destination = config.destination_type(warehouse.destination)
    if destination == "duckdb":
        path = Path(warehouse.duckdb_path).expanduser().resolve()
        if path.stem.lower() == schema.lower():
            raise PersistIQConfigError(
                f"{config.ANALYTICS_SCHEMA_ENV}={schema} is named like the DuckDB file {path}: "
                f"DuckDB names its catalog after the file. Set {config.ANALYTICS_SCHEMA_ENV} "
                "to another name."
            )
        return {"type": "duckdb", "path": str(path), "schema": schema, "threads": THREADS}
    if destination == "postgres":
        return {**postgres_connection(warehouse.destination), "schema": schema}
    raise PersistIQConfigError(
        f"The analytics models run on {' and '.join(config.ANALYTICS_DESTINATIONS)}, not "
        f"{config.DESTINATION_ENV}={warehouse.destination}."
    )


def postgres_connection(destination: str) -> dict[str, Any]:
    """dbt-postgres's fields from the credentials dlt loads with."""
    factory = Destination.from_reference(destination)
    spec = factory.spec()
    spec.dataset_name = "unused"  # required by dlt's configuration; dbt has its own schema
    credentials = factory.configuration(spec).credentials
    connection: dict[str, Any] = {
        "type": "postgres",
        "host": credentials.host,
        "port": int(credentials.port or 5432),
        "user": credentials.username,
        "password": credentials.password or "",
        "dbname": credentials.database,
        "threads": THREADS,
    }
    query = dict(credentials.query or {})
    if "sslmode" in query:
        connection["sslmode"] = query["sslmode"]
    return connection


def write_profile(folder: Path, warehouse: PersistIQWarehouse, schema: str) -> Path:
    """``folder/profiles.yml`` for ``warehouse``, readable by its owner alone."""
    profile = {
        PROFILE_NAME: {
            "target": TARGET_NAME,
            "outputs": {TARGET_NAME: profile_output(warehouse, schema)},
        }
    }
    path = folder / "profiles.yml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        yaml.safe_dump(profile, file)
    return path
