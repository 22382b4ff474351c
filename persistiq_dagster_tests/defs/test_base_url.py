"""``PERSISTIQ_BASE_URL=https://api.persistiq.com/v1``, without the trailing slash, as most
people type it: every table loads, the connection check answers and the leads sensor polls,
exactly as with the slash."""

from persistiq_dagster.defs.connection_check import check_connection
from persistiq_dagster.defs.sensors.leads_poll import poll_leads
from persistiq_dagster.source.catalog import TABLE_NAMES
from persistiq_dagster_tests.support import count_rows, persistiq_for, run_assets


def test_every_table_loads_without_the_trailing_slash(emulator, store, warehouse):
    assert not emulator.base_url.rstrip("/").endswith("/")
    persistiq = persistiq_for(emulator, base_url=emulator.base_url.rstrip("/"))

    result = run_assets(persistiq, warehouse, select=TABLE_NAMES)

    assert result.success
    for table in ("users", "campaigns", "leads", "events"):
        assert count_rows(warehouse, table) == len(store.records(table)) > 0, table
    assert emulator.count("/v1/leads") > 0 and emulator.count(status=404) == 0


def test_the_connection_check_and_the_sensor_poll_without_the_trailing_slash(emulator):
    persistiq = persistiq_for(emulator, base_url=emulator.base_url.rstrip("/"))
    answers = check_connection(persistiq)
    assert [answer.table for answer in answers if not answer.ok] == []
    assert len(answers) == len(TABLE_NAMES)
    page = poll_leads(persistiq, "2024-01-01T00:00:00Z")
    assert page.leads and emulator.count(status=404) == 0
