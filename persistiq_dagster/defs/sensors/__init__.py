"""Sensors: the leads sensor (new PersistIQ updates start runs) and the run-failure report."""
