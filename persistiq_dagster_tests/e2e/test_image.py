"""The image we ship, built from the Dockerfile and run as a deployment runs it: its own command
serving the code location (Dagster's gRPC health check, then what the webserver asks it), the
README's users and campaigns command inside it as its user into a mounted folder, what it must
not hold, and a package that cannot be written.

Docker comes from ``docker_engine``: the machine's engine, or a ``dockerd`` started for this
module and stopped at its end; the base is ``python:3.11-slim`` or, where Docker Hub cannot be
reached, one made from Debian's packages once per machine. Every container uses the host's
network (the emulator and the code server are on loopback) and is removed even when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import duckdb
import pytest
import yaml

from persistiq_dagster import config
from persistiq_dagster_tests.conftest import required_in_ci
from persistiq_dagster_tests.dagster_cli import (
    DAGSTER,
    MODULE,
    PROJECT_DIR,
    make_dagster_home,
    project_env,
)
from persistiq_dagster_tests.docker_engine import (
    DockerUnavailable,
    base_image,
    docker,
    running_docker,
)
from persistiq_dagster_tests.e2e.test_deploy_grpc import SERVED
from persistiq_dagster_tests.project.test_deploy_files import DOCKERFILE, dockerfile_stages
from persistiq_emulator import PersistIQEmulator, make_dataset

DAGSTER_GRAPHQL = DAGSTER.parent / "dagster-graphql"
TAG = "persistiq-dagster:e2e-test"
USER = "10001:10001"  # the Dockerfile's USER
PORT = 3030  # the Dockerfile's CMD and EXPOSE
DATA_DIR = "/opt/dagster/data"  # where PERSISTIQ_DUCKDB_PATH points in the image
WAREHOUSE_FILE = "persistiq_warehouse.duckdb"
BUILD_TIMEOUT = 1800
RUN_TIMEOUT = 300
READY_TIMEOUT = 120.0
STOP_GRACE = 30
SECRET_KEY = "sk-live-5e0b7a93c4d1"  # distinctive, so a search for it can't match by chance
# The README's users and campaigns command, as the image runs it (`dagster` on its PATH).
README_COMMAND = (
    "dagster asset materialize -m persistiq_dagster.definitions "
    "--select persistiq/users,persistiq/campaigns"
)


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    try:
        with running_docker():
            yield
    except DockerUnavailable as error:
        required_in_ci(f"no Docker: {error}")


@pytest.fixture(scope="module")
def image(engine) -> Iterator[str]:
    started = time.monotonic()
    base = base_image()
    print(f"\nbase {base}: {time.monotonic() - started:.0f} s (made once per machine)")
    started = time.monotonic()
    docker(
        "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "--tag", TAG,
        str(PROJECT_DIR), timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    size = int(docker("image", "inspect", "--format", "{{.Size}}", TAG).stdout)
    print(f"{TAG}: built in {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    try:
        yield TAG
    finally:
        docker("image", "rm", "--force", TAG, check=False)


def container_name() -> str:
    return f"persistiq-e2e-{uuid.uuid4().hex[:10]}"


def in_container(image: str, *command: str, options: tuple[str, ...] = (), env=None):
    """``command`` in a fresh container of ``image`` (removed after), on the host's network."""
    return docker(
        "run", "--rm", "--name", container_name(), "--network", "host", *options, image,
        *command, check=False, timeout=RUN_TIMEOUT, env=env,
    )  # fmt: skip


def test_the_image_command_serves_the_code_location(image, tmp_path):
    """The CMD as the container runs it: the health check Dagster's Helm chart probes with,
    then every asset (the models' too), job, schedule and sensor through a gRPC workspace."""
    name = container_name()
    docker("run", "--detach", "--name", name, "--network", "host", image)
    workspace = tmp_path / "workspace.yaml"
    grpc_server = {"host": "127.0.0.1", "port": PORT, "location_name": "persistiq-dagster"}
    workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": grpc_server}]}))
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            health = docker(
                "exec", name, "dagster", "api", "grpc-health-check", "-p", str(PORT), check=False
            )
            if health.returncode == 0:
                break
            state = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
            logs = docker("logs", name, check=False)
            assert state == "true", f"the container exited:\n{logs.stdout}{logs.stderr}"
            assert time.monotonic() < deadline, f"no health after {READY_TIMEOUT} s:\n{logs}"
            time.sleep(1)
        served = subprocess.run(
            [str(DAGSTER_GRAPHQL), "-w", str(workspace), "-t", SERVED],
            env=project_env(make_dagster_home(tmp_path / "dagster_home")),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        logs = docker("logs", name)
        stopped = time.monotonic()
        docker("stop", "--time", str(STOP_GRACE), name, timeout=STOP_GRACE + 30)
        stop_seconds = time.monotonic() - stopped
        exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    finally:
        docker("rm", "--force", name, check=False)

    assert "gRPC connection successful" in health.stdout + health.stderr
    assert served.returncode == 0, served.stderr
    (entry,) = json.loads(served.stdout)["data"]["workspaceOrError"]["locationEntries"]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repository,) = location["repositories"]
    assets = {"/".join(node["assetKey"]["path"]) for node in repository["assetNodes"]}
    assert {"persistiq/users", "persistiq/campaigns", "persistiq/leads"} <= assets
    assert "persistiq_analytics/campaign_performance" in assets  # the manifest in the image
    # The manifest was parsed at build time: loading did not parse it again.
    assert "prepare_analytics" not in logs.stdout + logs.stderr
    # Dagster's code server exits at SIGTERM, well within Kubernetes' grace period.
    assert stop_seconds < STOP_GRACE and exit_code != "137", (stop_seconds, exit_code)


def test_the_readme_command_runs_inside_the_container_as_its_user(image, tmp_path):
    """Users and campaigns from the emulator on the host's loopback into a DuckDB file on a
    mounted folder, written by the image's user; the key comes from the environment only."""
    store = make_dataset(users=5, leads=120, campaigns=12)
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, *(int(part) for part in USER.split(":")))
    with PersistIQEmulator(store=store, api_key=SECRET_KEY) as emulator:
        completed = in_container(
            image,
            *README_COMMAND.split(),
            options=(
                "--volume",
                f"{data}:{DATA_DIR}",
                # Named only: docker reads the value from its own environment, not the argv.
                "--env",
                config.API_KEY_ENV,
                "--env",
                f"{config.BASE_URL_ENV}={emulator.base_url}",
            ),  # fmt: skip
            env={**os.environ, config.API_KEY_ENV: SECRET_KEY},
        )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    assert "RUN_SUCCESS" in output
    assert SECRET_KEY not in output
    warehouse = data / WAREHOUSE_FILE
    assert warehouse.stat().st_uid == int(USER.split(":")[0])
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        counts = {
            table: connection.execute(f"select count(*) from persistiq.{table}").fetchone()[0]
            for table in ("users", "campaigns")
        }
    assert counts == {"users": len(store.users), "campaigns": len(store.campaigns)}


WHAT_IT_HOLDS = """
import importlib.util, json, os
names = {"persistiq_emulator", "persistiq_dagster_tests", "bench", ".env", "secrets.toml",
         ".git", "dagster.yaml"}
def private_key(path):
    with open(path, "rb") as file:
        return b"PRIVATE KEY-----" in file.read(1 << 20)
found = []
for top in ("/opt", "/home", "/root", "/src", "/tmp", "/etc"):
    for folder, dirs, files in os.walk(top):
        found += [os.path.join(folder, n) for n in dirs + files
                  if n in names or n.endswith(".duckdb")]
        found += [os.path.join(folder, n) for n in files if n.endswith((".pem", ".key"))
                  and private_key(os.path.join(folder, n))]
import persistiq_dagster
package = os.path.dirname(persistiq_dagster.__file__)
print(json.dumps({
    "uid": os.getuid(),
    "found": found,
    "importable": [m for m in ("persistiq_emulator", "persistiq_dagster_tests")
                   if importlib.util.find_spec(m)],
    "source_folder": os.path.exists("/src"),
    "manifest": os.path.exists(os.path.join(package, "dbt_project/target/manifest.json")),
}))
"""


def test_the_image_holds_no_emulator_tests_or_secrets_and_no_root_user(image):
    config_ = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config_["User"] == USER
    secret_words = ("KEY", "PASSWORD", "SECRET", "TOKEN", "CREDENTIALS")
    names = [variable.partition("=")[0] for variable in config_["Env"]]
    assert not [name for name in names if any(word in name for word in secret_words)], names

    completed = in_container(image, "python3", "-c", WHAT_IT_HOLDS)
    assert completed.returncode == 0, completed.stderr
    held = json.loads(completed.stdout)
    assert held["uid"] == int(USER.split(":")[0]) != 0
    assert held["found"] == [], held["found"]
    assert held["importable"] == []
    assert not held["source_folder"]
    assert held["manifest"]
    # As the Dockerfile says: the final stage copies the virtual environment alone.
    final = dockerfile_stages(DOCKERFILE.read_text())[-1]
    assert [args for keyword, args in final if keyword == "COPY"] == [
        "--from=build /opt/venv /opt/venv"
    ]


def test_a_read_only_package_without_its_manifest_still_loads_and_names_the_fix(image):
    """An image whose manifest is missing (here hidden under an empty folder its user cannot
    write): the Definitions load all the same, and one line says how to fix the image."""
    package = in_container(
        image, "python3", "-c", "import persistiq_dagster, os; print(os.path.dirname("
        "persistiq_dagster.__file__))",
    ).stdout.strip()  # fmt: skip
    target = f"{package}/dbt_project/target"
    completed = in_container(
        image,
        "python3", "-c",
        f"from {MODULE} import defs; "
        "print(len(defs.resolve_all_asset_keys()))",
        options=("--mount", f"type=tmpfs,destination={target},tmpfs-mode=0555"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-6000:]
    assert int(completed.stdout.strip().splitlines()[-1]) > 20
    (line,) = [line for line in completed.stderr.splitlines() if "prepare_analytics" in line]
    assert target in line and "cannot write" in line
    assert "Traceback" not in completed.stderr
