"""Sensors: launch the leads job when PersistIQ reports updated leads; report failed runs."""

from persistiq_dagster.sensors.leads_updates import leads_updates_sensor
from persistiq_dagster.sensors.run_failure import persistiq_run_failure_sensor

__all__ = ["leads_updates_sensor", "persistiq_run_failure_sensor"]
