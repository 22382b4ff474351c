"""``python -m persistiq_dagster.cli.connection_check``: its lines, its exit status, the key
never shown; run in process (the command itself, as a user runs it: e2e/)."""

import os

import pytest

from persistiq_dagster.cli.connection_check import main
from persistiq_dagster.source.catalog import TABLE_NAMES
from persistiq_dagster_tests.defs.test_connection_check import (
    WRONG_KEY,
    endpoint_paths,
    requested,
)

N = len(TABLE_NAMES)


@pytest.fixture
def environment(monkeypatch):
    """Set the command's environment: only the PERSISTIQ_* variables given."""

    def set_to(**settings: str) -> None:
        for name in [name for name in os.environ if name.startswith("PERSISTIQ_")]:
            monkeypatch.delenv(name)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)

    return set_to


def test_good_key_prints_a_line_per_endpoint_and_exits_0(emulator, environment, capsys):
    environment(PERSISTIQ_API_KEY=emulator.api_key, PERSISTIQ_BASE_URL=emulator.base_url)

    assert main() == 0
    lines = capsys.readouterr().out.splitlines()
    for table in TABLE_NAMES:
        assert sum(line.split()[:2] == [table, "ok"] for line in lines) == 1, lines
    assert lines[-1].endswith(f"{N} of {N} endpoints answered")
    assert requested(emulator) == dict.fromkeys(endpoint_paths(emulator), 1)


def test_bad_key_exits_1_without_showing_the_key(emulator, environment, capsys):
    environment(PERSISTIQ_API_KEY=WRONG_KEY, PERSISTIQ_BASE_URL=emulator.base_url)

    assert main() == 1
    printed = capsys.readouterr()
    assert WRONG_KEY not in printed.out + printed.err
    assert "401 unauthorized" in printed.out
    assert f"0 of {N} endpoints answered, {N} failed" in printed.out
    assert emulator.count(status=401) > 0  # the key did reach PersistIQ


def test_no_key_exits_2_naming_the_variable(emulator, environment, capsys):
    environment(PERSISTIQ_BASE_URL=emulator.base_url)

    assert main() == 2
    assert "PERSISTIQ_API_KEY" in capsys.readouterr().err
    assert emulator.count() == 0


def test_a_wrong_setting_exits_2_naming_it(emulator, environment, capsys):
    environment(PERSISTIQ_API_KEY=emulator.api_key, PERSISTIQ_BASE_URL="api.persistiq.com/v1")

    assert main() == 2
    assert "PERSISTIQ_BASE_URL='api.persistiq.com/v1'" in capsys.readouterr().err
    assert emulator.count() == 0
