"""End to end: the issue's acceptance command, ``dagster asset materialize``, in a subprocess.

Settings come only from PERSISTIQ_* environment variables pointed at an emulator in this
process; DAGSTER_HOME, the dlt working folder and the DuckDB file all live under ``tmp_path``.
"""

from __future__ import annotations

import gzip
import math
import os
import signal
import subprocess
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from persistiq_dagster_tests.dagster_cli import (
    DAGSTER,
    MODULE,
    PROJECT_DIR,
    make_dagster_home,
    project_env,
)
from persistiq_dagster_tests.support import assert_each_page_once, page_count
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS

DATASET = "persistiq"
PAGE_SIZE = 100
WRONG_KEY = "wrong-key-123456"
CLI_TIMEOUT = 180


SECRET_KEY = "sk-live-7c1d9e4f2a6b"  # distinctive, so a search for it can't match by chance
ALL_DAYS = "...".join(DEFAULT_UPDATED_DAYS)  # every day make_dataset() spreads updates over


@pytest.fixture
def emulator() -> Iterator[PersistIQEmulator]:
    store = make_dataset(users=5, leads=345, campaigns=12)
    with PersistIQEmulator(store=store, page_size=PAGE_SIZE, api_key=SECRET_KEY) as running:
        yield running


def materialize_command(
    select: str, tmp_path: Path, api_key: str, base_url: str, *extra: str
) -> tuple[list[str], dict[str, str]]:
    """The acceptance command and an environment with only the PERSISTIQ_* settings given."""
    env = project_env(
        make_dagster_home(tmp_path / "dagster_home"),
        PERSISTIQ_API_KEY=api_key,
        PERSISTIQ_BASE_URL=base_url,
        PERSISTIQ_DUCKDB_PATH=str(tmp_path / "warehouse" / "persistiq_cli.duckdb"),
        PERSISTIQ_PIPELINES_DIR=str(tmp_path / "dlt_pipelines"),
    )
    return [str(DAGSTER), "asset", "materialize", "-m", MODULE, "--select", select, *extra], env


def materialize(
    select: str, tmp_path: Path, api_key: str, base_url: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    command, env = materialize_command(select, tmp_path, api_key, base_url, *extra)
    return subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def output_of(completed: subprocess.CompletedProcess[str]) -> str:
    return completed.stdout + completed.stderr


def table_counts(duckdb_path: Path, tables: tuple[str, ...]) -> dict[str, int]:
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        return {
            table: connection.execute(f"select count(*) from {DATASET}.{table}").fetchone()[0]
            for table in tables
        }


def pages_requested(emulator: PersistIQEmulator, path: str) -> list[int]:
    return sorted(int(r.query.get("page", "1")) for r in emulator.requests if r.path == path)


def expected_pages(count: int) -> list[int]:
    return list(range(1, max(math.ceil(count / PAGE_SIZE), 1) + 1))


def test_materialize_core_then_leads_from_the_cli(
    emulator: PersistIQEmulator, tmp_path: Path
) -> None:
    store = emulator.store
    assert math.ceil(len(store.leads) / PAGE_SIZE) == 4  # 345 leads: 3 full pages and 45

    core = materialize(
        "persistiq/users,persistiq/campaigns", tmp_path, emulator.api_key, emulator.base_url
    )
    assert core.returncode == 0, output_of(core)[-6000:]
    duckdb_path = tmp_path / "warehouse" / "persistiq_cli.duckdb"
    assert table_counts(duckdb_path, ("users", "campaigns")) == {
        "users": len(store.users),
        "campaigns": len(store.campaigns),
    }
    assert pages_requested(emulator, "/v1/users") == expected_pages(len(store.users))
    assert pages_requested(emulator, "/v1/campaigns") == expected_pages(len(store.campaigns))
    assert pages_requested(emulator, "/v1/leads") == [], "leads were not selected"

    # Issue 3's acceptance command: a range of days, in one run.
    leads = materialize(
        "persistiq/leads",
        tmp_path,
        emulator.api_key,
        emulator.base_url,
        "--partition-range",
        "2024-01-10...2024-01-20",
    )
    assert leads.returncode == 0, output_of(leads)[-6000:]
    in_range = {
        lead["id"] for lead in store.leads if "2024-01-10" <= lead["updated_at"] < "2024-01-21"
    }
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        loaded = {
            row[0] for row in connection.execute(f"select id from {DATASET}.leads").fetchall()
        }
    assert loaded == in_range
    after = [lead for lead in store.leads if lead["updated_at"] > "2024-01-09T23:59:59Z"]
    assert_each_page_once(emulator, "/v1/leads", len(after))  # read several at a time
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert len(instance.get_runs()) == 2  # users+campaigns, then every day of the range
    # The leads run did not touch users or campaigns again.
    assert pages_requested(emulator, "/v1/users") == [1]
    assert pages_requested(emulator, "/v1/campaigns") == [1]
    assert all(record.status == 200 for record in emulator.requests), [
        (r.path, r.query, r.status) for r in emulator.requests if r.status != 200
    ]
    assert {r.path for r in emulator.requests} == {"/v1/users", "/v1/campaigns", "/v1/leads"}
    # After two successful runs the key is in no output, event log, run record or dlt file.
    assert SECRET_KEY not in output_of(core) + output_of(leads)
    assert files_containing(tmp_path, SECRET_KEY) == []


def test_a_run_killed_mid_load_and_run_again_loads_every_lead_once(
    emulator: PersistIQEmulator, tmp_path: Path
) -> None:
    store = emulator.store
    store.add_leads(2655, at=datetime(2024, 2, 1, tzinfo=UTC))  # 3000 leads: 30 pages
    emulator.latency = 0.1
    command, env = materialize_command(
        "persistiq/leads", tmp_path, SECRET_KEY, emulator.base_url, "--partition-range", ALL_DAYS
    )
    killed = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + CLI_TIMEOUT
        while emulator.count(path="/v1/leads") < 10 and time.monotonic() < deadline:
            assert killed.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    assert emulator.count(path="/v1/leads") < page_count(len(store.leads))
    emulator.latency = 0.0
    # Dagster's default instance sets no pool limit: nothing waits for the dead run, and the
    # warehouse lock it held went with its process.

    again = materialize(
        "persistiq/leads", tmp_path, SECRET_KEY, emulator.base_url, "--partition-range", ALL_DAYS
    )

    assert again.returncode == 0, output_of(again)[-6000:]
    duckdb_path = tmp_path / "warehouse" / "persistiq_cli.duckdb"
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        ids = [row[0] for row in connection.execute(f"select id from {DATASET}.leads").fetchall()]
    assert sorted(ids) == sorted(lead["id"] for lead in store.leads)


def decompressed(raw: bytes) -> bytes | None:
    """``raw`` decompressed if it is gzip or zlib data, else None."""
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:1] == b"\x78":
            return zlib.decompress(raw)
    except (OSError, EOFError, zlib.error):
        return None
    return None


def file_texts(path: Path) -> list[bytes]:
    """The bytes of ``path`` and, if it is gzip or zlib data, its decompressed bytes."""
    raw = path.read_bytes()
    inflated = decompressed(raw)
    return [raw] if inflated is None else [raw, inflated]


def files_containing(root: Path, needle: str) -> list[str]:
    found = []
    encoded = needle.encode()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(encoded in blob for blob in file_texts(path)):
            found.append(str(path))
    return found


def test_wrong_api_key_fails_with_a_redacted_message(
    emulator: PersistIQEmulator, tmp_path: Path
) -> None:
    completed = materialize(
        "persistiq/users,persistiq/campaigns", tmp_path, WRONG_KEY, emulator.base_url
    )
    output = output_of(completed)
    assert completed.returncode != 0, output[-6000:]
    assert emulator.count(status=401) >= 1, "the wrong key never reached the emulator"
    assert "unauthorized" in output.lower(), output[-6000:]
    assert "PERSISTIQ_API_KEY" in output, output[-6000:]

    leaked_lines = [line for line in output.splitlines() if WRONG_KEY in line]
    assert not leaked_lines, "the API key appears in the command output:\n" + "\n".join(
        leaked_lines
    )
    # DAGSTER_HOME (run storage, event logs, compute logs), the dlt working folder and the
    # warehouse folder: the key must not be written anywhere.
    leaked_files = files_containing(tmp_path, WRONG_KEY)
    assert not leaked_files, f"the API key was written to: {leaked_files}"
    # No 401 was retried: retrying cannot fix a wrong key.
    paths = [record.path for record in emulator.requests]
    assert len(paths) == len(set(paths)), f"a 401 was retried: {paths}"


def test_materialize_every_other_table_from_the_cli(
    emulator: PersistIQEmulator, tmp_path: Path
) -> None:
    """The snapshots beyond users and campaigns in one run; events and replies of every day
    in another: each table holds what the emulator serves, each page read once."""
    store = emulator.store
    snapshots = materialize(
        "persistiq/campaign_leads,persistiq/lead_statuses,persistiq/lead_fields,"
        "persistiq/tags,persistiq/dnc_domains",
        tmp_path,
        emulator.api_key,
        emulator.base_url,
    )
    assert snapshots.returncode == 0, output_of(snapshots)[-6000:]
    activity = materialize(
        "persistiq/events,persistiq/replies",
        tmp_path,
        emulator.api_key,
        emulator.base_url,
        "--partition-range",
        ALL_DAYS,
    )
    assert activity.returncode == 0, output_of(activity)[-6000:]

    duckdb_path = tmp_path / "warehouse" / "persistiq_cli.duckdb"
    served = {
        "campaign_leads": sum(len(store.campaign_leads_of(c["id"])) for c in store.campaigns),
        **{
            table: len(store.records(table))
            for table in (
                "lead_statuses",
                "lead_fields",
                "tags",
                "dnc_domains",
                "events",
                "replies",
            )
        },
    }
    assert table_counts(duckdb_path, tuple(served)) == served
    assert pages_requested(emulator, "/v1/users") == [], "users were not selected"
    assert pages_requested(emulator, "/v1/leads") == [], "leads were not selected"
    assert pages_requested(emulator, "/v1/campaigns") == [1, 1]  # listed once per run
    assert pages_requested(emulator, "/v1/dnc_domains") == expected_pages(len(store.dnc_domains))
    assert_each_page_once(emulator, "/v1/events", len(store.events))
    for campaign in store.campaigns:
        for table, records in (
            ("leads", store.campaign_leads_of(campaign["id"])),
            ("replies", store.replies_of(campaign["id"])),
        ):
            path = f"/v1/campaigns/{campaign['id']}/{table}"
            assert pages_requested(emulator, path) == expected_pages(len(records)), path
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert len(instance.get_runs()) == 2  # a range of days is one run
    assert SECRET_KEY not in output_of(snapshots) + output_of(activity)
    assert files_containing(tmp_path, SECRET_KEY) == []
