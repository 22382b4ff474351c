"""The image's own command serves the code location over gRPC, asked what Dagster's Helm chart
asks it: its gRPC health check (the chart's readiness probe) and, through a workspace that
points at it as the chart's workspace does, its assets, jobs, schedules and sensors. It runs in
a process group of its own, stopped as Kubernetes stops a container.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from persistiq_dagster import config
from persistiq_dagster.defs.names import WAREHOUSE_POOL
from persistiq_dagster_tests.dagster_cli import DAGSTER, make_dagster_home, project_env
from persistiq_dagster_tests.project.test_deploy_files import (
    DEPLOYMENT,
    DOCKERFILE,
    arguments_of,
    dockerfile_stages,
)

DAGSTER_GRAPHQL = DAGSTER.parent / "dagster-graphql"
READY_TIMEOUT = 120.0
CLI_TIMEOUT = 120.0
STOP_GRACE = 30.0  # Kubernetes' default terminationGracePeriodSeconds
SERVED = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name
    locationOrLoadError {
      __typename
      ... on PythonError { message }
      ... on RepositoryLocation { repositories {
        jobs { name }
        schedules { name }
        sensors { name }
        assetNodes { assetKey { path } pools }
      } }
    }
} } } }
"""


@pytest.fixture(scope="module")
def image_command() -> list[str]:
    """The final stage's CMD, the command the container runs."""
    commands = arguments_of(dockerfile_stages(DOCKERFILE.read_text())[-1], "CMD")
    assert commands, "the final stage sets CMD"
    return json.loads(commands[-1])


# ------------------------------------------------------------------------------------------------
# The code server, for real


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def terminate(server: subprocess.Popen, sig: signal.Signals, grace: float) -> float | None:
    """Send ``sig`` to the server's process group; the seconds it took to exit, or None."""
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, sig)
    try:
        server.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - started


def container_signals() -> None:
    """In the child: SIGINT handled as in a container's first process, whatever this shell
    ignores (Dagster answers SIGTERM as it answers SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until_serving(server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while "Started Dagster code server" not in log.read_text():
        assert server.poll() is None, f"the code server exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, (
            f"not serving after {READY_TIMEOUT} s:\n{log.read_text()}"
        )
        time.sleep(0.2)


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT
    )


def test_the_image_command_serves_the_code_location_over_grpc(image_command, tmp_path):
    home = make_dagster_home(tmp_path / "dagster_home")
    env = project_env(home)  # no PERSISTIQ_* variable: no key, as before the Secret is made
    assert config.API_KEY_ENV not in env
    port = free_port()
    # The Dockerfile's command, on loopback and a free port, from a folder without the source.
    command = [str(DAGSTER), *image_command[1:]]
    command[command.index("0.0.0.0")] = "127.0.0.1"
    command[-1] = str(port)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "grpc_server": {
                            "host": "127.0.0.1",
                            "port": port,
                            "location_name": DEPLOYMENT,
                        }
                    }
                ]
            }
        )
    )
    log = tmp_path / "code_server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=container_signals,
        )
    try:
        wait_until_serving(server, log)
        with ThreadPoolExecutor(max_workers=2) as pool:
            health = pool.submit(
                run, [str(DAGSTER), "api", "grpc-health-check", "-p", str(port)], env, tmp_path
            )
            served = pool.submit(
                run, [str(DAGSTER_GRAPHQL), "-w", str(workspace), "-t", SERVED], env, tmp_path
            )
            health, served = health.result(), served.result()
        # What Kubernetes sends a pod it replaces; it kills it STOP_GRACE seconds later.
        stopped_after = terminate(server, signal.SIGTERM, STOP_GRACE)
    finally:
        if server.poll() is None:
            terminate(server, signal.SIGKILL, STOP_GRACE)

    # The readiness probe the chart gives the code server.
    assert health.returncode == 0, health.stdout + health.stderr
    assert "gRPC connection successful" in health.stdout + health.stderr

    assert served.returncode == 0, served.stderr
    (entry,) = json.loads(served.stdout)["data"]["workspaceOrError"]["locationEntries"]
    assert entry["name"] == DEPLOYMENT
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repository,) = location["repositories"]
    nodes = repository["assetNodes"]
    assets = {"/".join(node["assetKey"]["path"]): node["pools"] for node in nodes}
    loads = {"persistiq/users", "persistiq/campaigns", "persistiq/leads", "persistiq/events"}
    assert loads <= set(assets), sorted(assets)
    # The pool the values limit to one run: every PersistIQ asset is in it.
    assert all(pools == [WAREHOUSE_POOL] for pools in assets.values()), assets
    schedules = {schedule["name"] for schedule in repository["schedules"]}
    assert {
        "persistiq_users_campaigns_daily",
        "persistiq_leads_daily",
        "persistiq_activity_daily",
    } <= schedules
    sensors = {sensor["name"] for sensor in repository["sensors"]}
    assert {"persistiq_leads_updates_sensor", "persistiq_run_failure_sensor"} <= sensors
    jobs = {job["name"] for job in repository["jobs"]}
    assert {"persistiq_leads_job", "persistiq_users_campaigns_job"} <= jobs

    assert stopped_after is not None, f"still serving {STOP_GRACE} s after SIGTERM"
