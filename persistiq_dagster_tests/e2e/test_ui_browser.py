"""End to end in a real browser: ``dagster dev`` against the emulator, driven from the UI.

Debian's Chromium (``/usr/bin/chromium``, headless) is driven with Playwright's Python client;
no browser is downloaded. The tests click what a user clicks: the asset graph of the group,
"Materialize selected" for users and campaigns, the launch dialog of the leads partitions.
GraphQL only checks the outcome (and first hides the community sign-up dialog). Each step
saves a screenshot, also when it fails, under ``ui_screenshots/<test name>/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from persistiq_dagster_tests.conftest import required_in_ci
from persistiq_dagster_tests.dagster_cli import (
    PROJECT_DIR,
    make_project_dagster_home,
)
from persistiq_dagster_tests.e2e.test_dagster_dev import (
    RUN_TIMEOUT,
    DagsterDev,
    running_dagster_dev,
    wait_for_run,
)
from persistiq_emulator import PersistIQEmulator, make_dataset

CHROMIUM = Path("/usr/bin/chromium")
try:
    import playwright.sync_api as playwright_sync
except ImportError:  # the dev extra brings it
    playwright_sync = None
expect = playwright_sync.expect if playwright_sync else None


@pytest.fixture(autouse=True, scope="module")
def chromium_and_playwright() -> None:
    """Skipped where there is no browser; failed instead under CI=true (required_in_ci)."""
    if not CHROMIUM.exists():
        required_in_ci(f"no Chromium at {CHROMIUM} (Debian package chromium; .ci/run installs it)")
    if playwright_sync is None:
        required_in_ci("Playwright's Python client is not installed (dev extra)")


SCREENSHOTS = PROJECT_DIR / "ui_screenshots"
# Tall enough for the whole group's graph: the graph renders only the nodes in view.
VIEWPORT = {"width": 1600, "height": 2800}
UI_TIMEOUT_MS = 90_000  # a page, a dialog, a toast, on a loaded CI machine
expect.set_options(timeout=UI_TIMEOUT_MS)
RUN_TIMEOUT_MS = int(RUN_TIMEOUT * 1000)  # until a run launched from the UI has finished
# Chromium in this closed network: no calls home, no GPU; no sandbox as root (containers).
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GROUP = "persistiq"
TABLES = [
    "campaign_leads",
    "campaigns",
    "dnc_domains",
    "events",
    "lead_fields",
    "lead_statuses",
    "leads",
    "replies",
    "tags",
    "users",
]
CHECKS = ["id_unique_and_not_null", "rows_match_last_load", "schema_unchanged"]
EXTRA_CHECKS = {"leads": ["owner_id_not_null"]}
# Dagster's own freshness check comes with every asset too.
CHECK_COUNT = {table: 1 + len(CHECKS) + len(EXTRA_CHECKS.get(table, [])) for table in TABLES}
KINDS = {"api", "dlt", "duckdb"}
KIND_LABELS = ["api", "dlt", "DuckDB"]  # as the graph shows them
LEADS_DAY = "2024-01-15"  # inside the emulator's data (2024-01-01..2024-03-01)

GROUP_ASSETS_QUERY = """
query GroupAssets($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    kinds
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""

RUNS_QUERY = """
query {
  runsOrError {
    ... on Runs { results { runId status tags { key value } assetSelection { path } } }
  }
}
"""


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DagsterDev, str, str]]:
    """A ``dagster dev`` of its own against an emulator; its process group is killed after."""
    root = tmp_path_factory.mktemp("ui_browser")
    store = make_dataset(users=5, leads=250, campaigns=12)
    with (
        PersistIQEmulator(store=store) as emulator,
        running_dagster_dev(
            root,
            make_project_dagster_home(root / "dagster_home"),
            PERSISTIQ_API_KEY=emulator.api_key,
            PERSISTIQ_BASE_URL=emulator.base_url,
        ) as (server, location, repository),
    ):
        # The "Join the Dagster community" dialog would cover the page on localhost.
        assert server.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
        yield server, location, repository


@pytest.fixture(scope="module")
def browser():
    manager = playwright_sync.sync_playwright().start()
    try:
        args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
        launched = manager.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        manager.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(UI_TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def step(page, request: pytest.FixtureRequest) -> Callable:
    """``with step("name"):`` saves ui_screenshots/<test>/<nn>-<name>.png when the block
    ends, passed or failed."""
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0

    @contextlib.contextmanager
    def run(name: str) -> Iterator[None]:
        nonlocal count
        count += 1
        path = folder / f"{count:02d}-{name}.png"
        try:
            yield
        finally:
            try:
                page.screenshot(path=str(path))
            except Exception as error:  # never hide the step's own failure
                path.with_suffix(".txt").write_text(f"no screenshot: {error!r}\n")

    return run


def repo_path(location: str, repository: str) -> str:
    """A code location in the UI's URLs: ``repo@location``, or the location alone."""
    return location if repository == "__repository__" else f"{repository}@{location}"


def asset_node(page, table: str):
    """The graph's node of persistiq/<table>: the box titled with its name."""
    title = page.locator(f'[data-tooltip="{table}"]')
    return page.locator("[class*='AssetNode_assetNodeContainer']").filter(has=title)


def launched_run(server: DagsterDev, page) -> dict:
    """The run that the UI's "Launched run <id>" toast names, from GraphQL."""
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    prefix = re.search(r"Launched run ([0-9a-f]{8})", toast.inner_text()).group(1)
    runs = server.graphql(RUNS_QUERY)["runsOrError"]["results"]
    (run,) = [run for run in runs if run["runId"].startswith(prefix)]
    return run


def run_tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def test_asset_graph_shows_every_asset_with_its_checks_and_kinds(ui_server, page, step) -> None:
    server, location, repository = ui_server
    url = f"{server.url}/locations/{repo_path(location, repository)}/asset-groups/{GROUP}/lineage"
    with step("asset-graph"):
        page.goto(url)
        expect(page.get_by_text(f"{GROUP}", exact=True).first).to_be_visible()
        nodes = page.locator("[class*='AssetNode_assetNodeContainer']")
        expect(nodes).to_have_count(len(TABLES))
        for table in TABLES:
            node = asset_node(page, table)
            expect(node).to_have_count(1)
            expect(node.get_by_text(table, exact=True).first).to_be_visible()
            expect(node).to_contain_text(re.compile(rf"\d+ / {CHECK_COUNT[table]} Passed"))
            for label in KIND_LABELS:
                expect(node.get_by_text(label, exact=True)).to_be_visible()

    # The names behind the counts, as the UI's own endpoint serves them.
    group = {"groupName": GROUP, "repositoryName": repository, "repositoryLocationName": location}
    nodes = server.graphql(GROUP_ASSETS_QUERY, {"group": group})["assetNodes"]
    by_table = {node["assetKey"]["path"][-1]: node for node in nodes}
    assert sorted(by_table) == TABLES
    for table, node in by_table.items():
        names = {check["name"] for check in node["assetChecksOrError"]["checks"]}
        assert set(CHECKS + EXTRA_CHECKS.get(table, [])) <= names, (table, names)
        assert len(names) == CHECK_COUNT[table], (table, names)
        assert set(node["kinds"]) >= KINDS, (table, node["kinds"])


def test_materialize_users_and_campaigns_from_the_graph(ui_server, page, step) -> None:
    server, location, repository = ui_server
    url = f"{server.url}/locations/{repo_path(location, repository)}/asset-groups/{GROUP}/lineage"
    with step("graph"):
        page.goto(url)
        expect(asset_node(page, "users")).to_be_visible()
        expect(asset_node(page, "campaigns")).to_be_visible()
    with step("users-and-campaigns-selected"):
        asset_node(page, "users").get_by_text("users", exact=True).first.click()
        asset_node(page, "campaigns").get_by_text("campaigns", exact=True).first.click(
            modifiers=["Shift"]
        )
        materialize = page.get_by_role("button", name="Materialize selected (2)")
        expect(materialize).to_be_enabled()
    with step("run-launched"):
        materialize.click()
        run = launched_run(server, page)
    assert run_tags(run).get("dagster/from_ui") == "true", run
    assert sorted(key["path"][-1] for key in run["assetSelection"]) == ["campaigns", "users"]

    with step("run-succeeded"):
        page.goto(f"{server.url}/runs/{run['runId']}")
        expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    runs = server.graphql(RUNS_QUERY)["runsOrError"]["results"]
    (done,) = [r for r in runs if r["runId"] == run["runId"]]
    assert done["status"] == "SUCCESS", done

    for table in ("users", "campaigns"):
        with step(f"{table}-checks"):
            page.goto(f"{server.url}/assets/{GROUP}/{table}?view=checks")
            for check in CHECKS:
                status = page.locator(f'[title="{check}"] + span').first
                expect(status).to_have_text(
                    re.compile("succeeded", re.IGNORECASE), timeout=RUN_TIMEOUT_MS
                )


def test_launch_one_day_of_leads_from_the_partitions_view(ui_server, page, step) -> None:
    server, _, _ = ui_server
    with step("leads-partitions"):
        page.goto(f"{server.url}/assets/{GROUP}/leads?view=partitions")
        expect(page.get_by_text(re.compile(r"^Missing \(\d[\d,]*\)$"))).to_be_visible()
        expect(page.get_by_text("Materialized (0)", exact=True)).to_be_visible()
    with step("launch-dialog"):
        page.get_by_role("button", name="Materialize…").first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Launch runs to materialize")).to_be_visible()
        # The dialog offers the last 90 days first; the emulator's data is older.
        dialog.get_by_text("Show all partitions").click()
        partitions = dialog.get_by_placeholder("ex: ")
        partitions.fill(LEADS_DAY)
        partitions.press("Enter")
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        launch = dialog.get_by_role("button", name="Launch 1 run")
        expect(launch).to_be_enabled()
    with step("run-launched"):
        launch.click()
        run = launched_run(server, page)
    tags = run_tags(run)
    assert tags.get("dagster/partition") == LEADS_DAY, tags
    assert tags.get("dagster/from_ui") == "true", tags

    with step("partition-materialized"):
        expect(page.get_by_text("Materialized (1)", exact=True)).to_be_visible(
            timeout=RUN_TIMEOUT_MS
        )
        page.get_by_placeholder("Filter by name").fill(LEADS_DAY)
        page.get_by_text(LEADS_DAY, exact=True).first.click()
        expect(page.get_by_text(run["runId"][:8]).first).to_be_visible()
    # The partition shows materialised once the leads are loaded; the run goes on with the
    # checks of the leads, so it may not have ended yet.
    assert wait_for_run(server, run["runId"]) == "SUCCESS", run
