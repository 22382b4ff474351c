"""Load the PersistIQ API (users, leads, campaigns) into a warehouse with dlt, as Dagster assets."""

__version__ = "0.1.0"
