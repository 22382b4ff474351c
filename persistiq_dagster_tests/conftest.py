"""Shared fixtures: a PersistIQ emulator on loopback and a DuckDB warehouse in tmp_path.

Two tiers, chosen by path: everything outside ``e2e/`` is the fast tier (``make test-fast``),
in process against the emulator and DuckDB files; ``e2e/`` adds the user's paths through
Dagster's command line, ``dagster dev``, a browser and PostgreSQL (``make test`` runs both).
The fast tier is held to that here: a test outside ``e2e/`` that starts Dagster's command line
or a server fails.

This file imports neither Dagster nor dlt: pytest-xdist's controller reads it and runs no test.
The fixtures take what they build from ``support``, imported when one is first used.
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # tests talk to loopback only

E2E_DIR = Path(__file__).resolve().parent / "e2e"
# What the fast tier never starts: Dagster's command line and servers, PostgreSQL, a browser,
# Docker.
E2E_PROGRAMS = frozenset(
    {"dagster", "dg", "dagster-webserver", "dagster-daemon", "dagster-graphql"}
    | {"pg_ctl", "initdb", "postgres", "runuser", "chromium"}
    | {"docker", "dockerd", "debootstrap"}
)


def requires_e2e(args) -> str | None:
    """The program ``args`` would start, if the fast tier may not start it."""
    argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    words = [os.fsdecode(word) for word in argv]
    program = Path(words[0]).name if words else ""
    module = words[words.index("-m") + 1] if "-m" in words[:-1] else ""
    if program in E2E_PROGRAMS or module.split(".")[0] in {"dagster", "dagster_dg_cli"}:
        return " ".join(words[:3])
    return None


@pytest.fixture(autouse=True)
def fast_tier_starts_no_dagster_process_or_server(request, monkeypatch):
    if E2E_DIR in Path(str(request.node.path)).parents:
        return
    popen_init = subprocess.Popen.__init__

    def refuse_e2e_programs(self, args, *more, **options):
        started = requires_e2e(args)
        if started:
            raise RuntimeError(
                f"{request.node.nodeid} starts {started!r}: a test that runs Dagster's command "
                "line or a server belongs in persistiq_dagster_tests/e2e/"
            )
        popen_init(self, args, *more, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_e2e_programs)


def required_in_ci(reason: str) -> None:
    """Skip for want of ``reason`` (a server, a browser); fail instead where ``CI=true``: CI
    installs everything, so a missing part there is a broken CI, not a test to skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, and {reason}", pytrace=False)
    pytest.skip(reason)


def support():
    """The shared helpers (``persistiq_dagster_tests.support``), imported on first use."""
    from persistiq_dagster_tests import support as module

    return module


@pytest.fixture
def store():
    return support().standard_store()


@pytest.fixture
def emulator(store):
    from persistiq_emulator import PersistIQEmulator

    with PersistIQEmulator(store=store) as running:
        yield running


@pytest.fixture
def persistiq(emulator):
    return support().persistiq_for(emulator)


@pytest.fixture
def warehouse(tmp_path):
    return support().duckdb_warehouse(tmp_path)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session; the tests that need it are skipped, with the
    reason, where it cannot run (pytest -ra lists them)."""
    from persistiq_dagster_tests.postgres_server import PostgresUnavailable, running_postgres

    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as error:
        required_in_ci(f"no PostgreSQL server: {error}")


@pytest.fixture
def postgres_warehouse(postgres, tmp_path, monkeypatch):
    """The warehouse in a dataset of its own on the test server, dlt's credentials set the
    way a user sets them."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.url)
    dataset = f"persistiq_{tmp_path.name[-20:].lower().replace('-', '_')}"
    return support().postgres_warehouse(dataset, tmp_path)


@pytest.fixture(scope="session")
def loaded(tmp_path_factory):
    """The session's one load of every table; tests using it must not write to it."""
    return support().load_everything(tmp_path_factory.mktemp("loaded"))


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """The session's one dbt build (``support.load_and_build_models``); read-only for tests."""
    return support().load_and_build_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def make_emulator():
    """Start emulators with the given settings; all are stopped after the test."""
    from persistiq_emulator import PersistIQEmulator

    started = []

    def start(store=None, **settings):
        emulator = PersistIQEmulator(store=store or support().ten_day_dataset(), **settings)
        started.append(emulator.start())
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def http() -> Iterator:
    """A client with the emulator's default key, for tests of the emulator itself."""
    import requests

    session = requests.Session()
    session.headers.update({"x-api-key": "test-api-key", "User-Agent": "emulator-tests/1"})
    yield session
    session.close()
