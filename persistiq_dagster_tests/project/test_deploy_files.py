"""Deployable to Kubernetes: the Dockerfile, .dockerignore and the Helm values, read as files
(no Docker, Helm or cluster needed). The image built and run is ``e2e/test_image.py``; its
command served from the project's venv, ``e2e/test_deploy_grpc.py``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from importlib.metadata import requires

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from persistiq_dagster import config
from persistiq_dagster.config import Settings
from persistiq_dagster_tests.dagster_cli import (
    DAGSTER,
    MODULE,
    PROJECT_DIR,
)

DOCKERFILE = PROJECT_DIR / "Dockerfile"
DOCKERIGNORE = PROJECT_DIR / ".dockerignore"
VALUES = PROJECT_DIR / "deploy" / "helm" / "values.yaml"
CONSTRAINTS = PROJECT_DIR / "constraints.txt"
DAGSTER_GRAPHQL = DAGSTER.parent / "dagster-graphql"

IMAGE = "registry.example.com/persistiq-dagster"
DEPLOYMENT = "persistiq-dagster"  # the chart names the code location after the deployment
SECRET = "persistiq-secrets"
PORT = 3030
SECRET_SETTINGS = (config.API_KEY_ENV, "DESTINATION__POSTGRES__CREDENTIALS")

READY_TIMEOUT = 120.0
CLI_TIMEOUT = 120.0
STOP_GRACE = 30.0  # Kubernetes' default terminationGracePeriodSeconds

# One GraphQL query, as the webserver asks a code location: what it serves.
# ------------------------------------------------------------------------------------------------
# The Dockerfile, as instructions


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """Every instruction, ``(KEYWORD, arguments)``, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def global_args(text: str) -> dict[str, str]:
    """The ``ARG``s before the first ``FROM`` (the ones a ``FROM`` can use), with defaults."""
    found = {}
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "FROM":
            break
        assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
        name, _, default = arguments.partition("=")
        found[name] = default
    return found


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """Each build stage's instructions, ``(KEYWORD, arguments)``, continuation lines joined."""
    instructions = dockerfile_instructions(text)
    first = next(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions[first:]:
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, arguments))
    return stages


def arguments_of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == keyword]


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    return dockerfile_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def image_command(stages) -> list[str]:
    """The final stage's CMD, the command the container runs."""
    commands = arguments_of(stages[-1], "CMD")
    assert commands, "the final stage sets CMD"
    return json.loads(commands[-1])


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture(scope="module")
def deployment(values) -> dict:
    user_deployments = values["dagster-user-deployments"]
    assert user_deployments["enabled"] is True
    (deployment,) = user_deployments["deployments"]
    return deployment


def test_the_image_is_slim_python_run_by_a_user_that_is_not_root(stages):
    # One base for both stages: the virtual environment links to the base's python3.
    assert global_args(DOCKERFILE.read_text()) == {"BASE_IMAGE": "python:3.11-slim"}
    for stage in stages:
        (base,) = arguments_of(stage, "FROM")
        assert re.fullmatch(r"\$\{BASE_IMAGE\}( AS \w+)?", base), base
    # python3: a Debian base has no `python` command (the venv's own has both).
    assert "python3 -m venv /opt/venv" in arguments_of(stages[0], "RUN")
    users = arguments_of(stages[-1], "USER")
    assert users, "the final stage sets USER"
    user, _, group = users[-1].partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot (set in the values) can check it.
    assert user.isdigit() and int(user) != 0, users[-1]
    assert not group or (group.isdigit() and int(group) != 0), users[-1]


def test_the_image_installs_the_project_from_the_pinned_set_with_postgres(stages):
    installs = [
        arguments
        for stage in stages
        for arguments in arguments_of(stage, "RUN")
        if "pip install" in arguments
    ]
    assert installs
    for install in installs:
        assert "-c constraints.txt" in install, install
        assert "'.[postgres]'" in install, install
        assert " -e " not in install and "--editable" not in install, install
    # The extra: psycopg2 for a PostgreSQL warehouse, and dagster-postgres, without which a run
    # pod cannot open the chart's instance (its storage is PostgreSQL). Both pinned in the lock.
    extra = {
        canonicalize_name(Requirement(text).name)
        for text in requires("persistiq_dagster") or []
        if Requirement(text).marker and Requirement(text).marker.evaluate({"extra": "postgres"})
    }
    assert {"dlt", "dagster-postgres"} <= extra
    pins = {
        canonicalize_name(line.split("==", 1)[0])
        for line in CONSTRAINTS.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert {"psycopg2-binary", "dagster-postgres"} <= pins


def test_the_image_serves_the_module_the_chart_serves_on_its_port(
    stages, image_command, deployment
):
    assert image_command == ["dagster", "api", "grpc", "-m", MODULE, "-h", "0.0.0.0", "-p", "3030"]
    # The chart starts the same server: dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>.
    assert deployment["dagsterApiGrpcArgs"] == ["-m", MODULE]
    assert deployment["port"] == PORT == int(image_command[-1])
    assert arguments_of(stages[-1], "EXPOSE") == [str(PORT)]


def test_no_secret_is_baked_into_the_image(stages):
    for stage in stages:
        for keyword, arguments in stage:
            if keyword in ("ENV", "ARG", "LABEL", "RUN"):
                for name in SECRET_SETTINGS:
                    assert name not in arguments, (keyword, arguments)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches
    the path or one of its folders decides, ``!`` puts back (the rules these patterns use)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for pattern in patterns:
        kept = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip().strip("/")
        forms = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(prefix, form) for prefix in prefixes for form in forms):
            ignored = not kept
    return ignored


def test_the_build_context_holds_what_the_image_copies_and_no_secrets(stages):
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for stage in stages
        for arguments in arguments_of(stage, "COPY")
        if not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]
    assert {"setup.py", "pyproject.toml", "constraints.txt", "persistiq_dagster"} <= set(copied)
    for source in copied:
        assert (PROJECT_DIR / source).exists(), source
        assert not dockerignored(source, patterns), source
    assert not dockerignored("persistiq_dagster/defs/sensors/leads_updates.py", patterns)
    for kept_out in (
        ".env",
        ".venv/bin/python",
        ".git/config",
        "data/persistiq_warehouse.duckdb",
        ".dagster_home/dagster.yaml",
        ".pytest_cache/README.md",
        "persistiq_dagster/__pycache__/config.cpython-311.pyc",
        "persistiq_dagster_tests/test_deploy.py",
        "persistiq_emulator/server.py",  # the emulator runs from a checkout, never an image
        "bench/results/run.json",
        # A local parse: the image parses its own, into the installed package.
        "persistiq_dagster/dbt_project/target/manifest.json",
    ):
        assert dockerignored(kept_out, patterns), kept_out


# ------------------------------------------------------------------------------------------------
# The Helm values


def test_the_values_deploy_this_image_with_its_settings_from_a_secret(deployment):
    image = deployment["image"]
    assert image["repository"] == IMAGE
    assert isinstance(image["tag"], str) and image["tag"] == "0.1.0"
    assert deployment["name"] == DEPLOYMENT
    assert deployment["envSecrets"] == [{"name": SECRET}]
    # Run pods get the deployment's env and Secret only with this on.
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True
    env = {variable["name"]: variable["value"] for variable in deployment["env"]}
    assert env[config.DESTINATION_ENV] == "postgres"
    assert not set(SECRET_SETTINGS) & set(env), "secrets belong in the Secret"
    known = {value for name, value in vars(config).items() if name.endswith("_ENV")}
    assert {name for name in env if name.startswith("PERSISTIQ_")} <= known


def test_the_values_settings_are_ones_the_code_location_accepts(deployment):
    env = {variable["name"]: variable["value"] for variable in deployment["env"]}
    # As the code location reads them: PersistIQConfigError, naming the variable, on a value
    # it does not accept (the destination's client, psycopg2, is checked to be installed too).
    loaded = Settings.from_env(env)
    assert loaded.start_date == env[config.START_DATE_ENV]
    assert loaded.timezone == env[config.TIMEZONE_ENV]
    assert loaded.destination == env[config.DESTINATION_ENV]
    assert loaded.loader_file_format == env[config.LOADER_FILE_FORMAT_ENV]
    assert loaded.dataset == env[config.DATASET_ENV]


def test_the_values_limit_the_warehouse_pool_to_one_run_and_monitor_runs(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    daemon = values["dagsterDaemon"]
    assert daemon["enabled"] is True
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    queue = coordinator["config"]["queuedRunCoordinator"]
    # Dagster refuses a run coordinator with these beside a `concurrency` section.
    assert queue["maxConcurrentRuns"] is None and not queue["tagConcurrencyLimits"]
    assert daemon["runMonitoring"]["enabled"] is True
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    assert concurrency["pools"]["defaultLimit"] == 1
    assert concurrency["pools"]["granularity"] in ("run", "op")


def test_the_values_use_an_external_postgresql_whose_password_is_not_in_them(values):
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False
    assert postgresql["postgresqlHost"]
    assert "postgresqlPassword" not in postgresql
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def test_the_chart_version_the_values_name_is_the_locked_dagster():
    (chart_version,) = re.findall(r"--version (\S+)", VALUES.read_text())
    locked = re.search(r"^dagster==(\S+)$", CONSTRAINTS.read_text(), re.MULTILINE)
    assert locked, "constraints.txt pins dagster"
    assert chart_version == locked.group(1)
