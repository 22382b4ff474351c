"""The README's command blocks, pasted as they are, in a copy of the project.

Every ```bash block runs, in README order, in one bash session (a block may export what a later
one uses), except those marked ``<!-- readme-test: skip: <why> -->`` on the line before: the
ones that need a real PersistIQ key, run for minutes, or are this test's own command. The
session starts with no PERSISTIQ_* variable and no DAGSTER_HOME, as a new user's shell would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from persistiq_dagster_tests.dagster_cli import PROJECT_DIR

README = PROJECT_DIR / "README.md"
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<why>.+?)\s*-->")
BLOCK = re.compile(r"^```bash\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
TIMEOUT = 900
SCHEDULE = "persistiq_leads_daily"
LOCATION = "persistiq_dagster"  # workspace.yaml's, as make dev loads it


@dataclass(frozen=True)
class Block:
    line: int
    body: str
    skip_reason: str | None


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = SKIP_MARKER.search(before)
        blocks.append(
            Block(
                line=text.count("\n", 0, match.start()) + 1,
                body=match.group("body"),
                skip_reason=marker.group("why") if marker else None,
            )
        )
    return blocks


def project_copy(root: Path) -> Path:
    """The project's files as git tracks them (plus uncommitted edits), with the same venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in listed:
        source = PROJECT_DIR / name
        if source.is_file():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # keeps mtimes: make sees the venv as up to date
    (root / ".venv").symlink_to(PROJECT_DIR / ".venv")
    # This venv runs this test, so it is installed: tell make so, not to build it again here.
    installed = (PROJECT_DIR / ".venv" / "bin" / "activate").stat().st_mtime
    for name in ("setup.py", "pyproject.toml", "constraints.txt"):
        os.utime(root / name, (installed - 1, installed - 1))
    return root


def test_every_block_is_either_run_or_says_why_not():
    blocks = readme_blocks(README.read_text())
    assert len(blocks) >= 6
    skipped = [block for block in blocks if block.skip_reason]
    assert all(len(block.skip_reason) > 10 for block in skipped)
    # make test itself, a real key and dagster dev, your own PostgreSQL, a Kubernetes cluster,
    # the benchmarks.
    assert len(skipped) <= 5, [(block.line, block.skip_reason) for block in skipped]


def test_the_readme_commands_work_as_written(tmp_path):
    blocks = readme_blocks(README.read_text())
    copy = project_copy(tmp_path / "project")
    script = ["set -euo pipefail"]
    for block in blocks:
        if block.skip_reason is None:
            script += [f"echo '::: README line {block.line}'", block.body]
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PERSISTIQ_", "DAGSTER_", "VIRTUAL_ENV"))
    }
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # no calls home from dlt in tests
    log = tmp_path / "readme.log"
    with log.open("w") as output_file:  # a file, not a pipe: the emulator's & keeps it open
        session = subprocess.Popen(
            ["bash", "-c", "\n".join(script)],
            cwd=copy, env=env, stdin=subprocess.DEVNULL, stdout=output_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            session.wait(timeout=TIMEOUT)
        finally:
            # The emulator the README starts in the background, and anything else left running.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session.pid, signal.SIGKILL)
            session.wait(timeout=30)
    output = log.read_text()
    assert session.returncode == 0, output[-8000:]
    assert "Asset checks: 80 of 80 passed" in output, output[-4000:]  # make demo
    assert "Top campaigns by reply rate (persistiq_analytics.campaign_performance)" in output
    # make demo prints its steps, not Dagster's log (that goes to the file it names).
    demo = output[output.index("::: README line") : output.index("Loaded from")]
    assert "Dagster's log: " in demo and " - DEBUG - " not in demo, demo[-3000:]
    assert "10 of 10 endpoints answered" in output, output[-4000:]  # the connection check
    with DagsterInstance.from_config(str(copy / ".dagster_home")) as instance:
        # The shell's runs (five dg launch, the models' among them, one dagster asset
        # materialize) landed in the instance make dev uses...
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS] * 6
        assert instance.get_latest_materialization_event(
            AssetKey(["persistiq_analytics", "campaign_performance"])
        )
        # ...and the schedule was started under the code location make dev loads.
        (state,) = [s for s in instance.all_instigator_state() if s.name == SCHEDULE]
        assert state.status.value == "RUNNING"
        assert state.origin.repository_origin.code_location_origin.location_name == LOCATION
    # The query blocks ran against the emulator's warehouse and printed their tables.
    assert output.count("stats__prospects_replied") >= 2, output[-4000:]
    assert "reply_rate" in output and "opens" in output, output[-4000:]  # the analyst queries
