"""Benchmark: the project's Dagster CLI against a plain dlt script, on the same emulated API.

    make bench    # = .venv/bin/python bench/compare.py
    .venv/bin/python bench/compare.py --scenarios noop,latency --repeats 1 --leads 5000

The emulator runs in this process (a thread) and counts the requests. Every load is a child
process in fresh directories (an empty DAGSTER_HOME for the project), started through a small
launcher that reads its peak RSS with os.wait4. Prints the median (min-max) per scenario and
writes every figure to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from persistiq_emulator.generate import DEFAULT_UPDATED_DAYS, make_dataset
from persistiq_emulator.server import PersistIQEmulator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
API_KEY = "bench-key"
PAGE_SIZE = 100
WINDOW = 60.0
UNLIMITED = 1_000_000  # PERSISTIQ_REQUESTS_PER_MINUTE when the scenario sets no budget
CHILD_TIMEOUT = 3 * 3600
FIRST_DAY, LAST_DAY = DEFAULT_UPDATED_DAYS  # the days make_dataset spreads lead updates over
# The project asks for leads updated after one second before its first day; plain dlt too.
PLAIN_START = f"{datetime.fromisoformat(FIRST_DAY) - timedelta(seconds=1):%Y-%m-%dT%H:%M:%SZ}"
DAGSTER = [str(BIN / "dagster"), "asset", "materialize", "-m", "persistiq_dagster.definitions"]
BACKFILL = ["--select", "persistiq/leads", "--partition-range", f"{FIRST_DAY}...{LAST_DAY}"]
LAST_DAY_AGAIN = ["--select", "persistiq/leads", "--partition", LAST_DAY]
USERS_CAMPAIGNS = ["--select", "persistiq/users,persistiq/campaigns"]
# 359 daily partitions from the first day of the data (which spans the first 61 of them).
MANY_DAYS = 359
MANY_LAST_DAY = f"{datetime.fromisoformat(FIRST_DAY) + timedelta(days=MANY_DAYS - 1):%Y-%m-%d}"
MANY_RANGE = f"{FIRST_DAY}...{MANY_LAST_DAY}"
MANY_PARTITIONS = ["--select", "persistiq/leads", "--partition-range", MANY_RANGE]
ONE_PARTITION = ["--select", "persistiq/leads", "--partition", FIRST_DAY]
RSS_GOAL_MIB = 400e6 / 2**20  # 400 MB
# Settings the command line adds to every project run (--without-models).
PROJECT_SETTINGS: dict[str, str] = {}


@dataclass
class Scenario:
    leads: int
    latency: float = 0.0
    rate_limit: int | None = None
    repeats: int | None = None  # None: --repeats


SCENARIOS = {
    "100k": Scenario(100_000),
    "latency": Scenario(20_000, latency=0.150),
    "ratelimit": Scenario(20_000, rate_limit=100),
    "noop": Scenario(10_000),
    "partitions": Scenario(2_345),
    "1m": Scenario(1_000_000, repeats=1),
}
DEFAULT_SCENARIOS = "100k,latency,ratelimit,noop,partitions"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Runs argv[2:] and writes its wall seconds and peak RSS to argv[1]. Peak RSS must be read
# this way round: a child spawned straight from this benchmark (which holds the emulator's data)
# starts with this process's peak as its own; one spawned from this small process does not.
LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "rss_kib": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(argv: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Run argv to its end in a new session: wall seconds, peak RSS (MiB), status, output."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        figures, out, err = Path(tmp, "figures.json"), Path(tmp, "out"), Path(tmp, "err")
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(figures), *argv]
        started = time.perf_counter()
        with out.open("w") as stdout, err.open("w") as stderr:
            child = subprocess.Popen(
                launcher, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                stderr=stderr, start_new_session=True,
            )  # fmt: skip
        watchdog = threading.Timer(CHILD_TIMEOUT, os.killpg, (child.pid, signal.SIGKILL))
        watchdog.start()
        try:  # wait for the exit but leave the zombie, so its process group id stays ours
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
            seconds = time.perf_counter() - started
        finally:
            watchdog.cancel()
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # anything it left running
            _, status, _ = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        measured = json.loads(figures.read_text()) if figures.exists() else {}
        return {
            "seconds": round(measured.get("seconds", seconds), 3),
            "rss_mib": round(measured.get("rss_kib", 0) / 1024, 1),  # KiB on Linux
            "exit": child.returncode,
            "stdout": out.read_text(),
            "stderr": err.read_text(),
        }


def measure(api: PersistIQEmulator, argv: list[str], env: dict[str, str], cwd: Path) -> dict:
    api.clear_requests()
    run = run_child(argv, env, cwd)
    run.update(requests=api.count(), http_429=api.count(status=429))
    return run


def count_rows(duckdb_path: Path, sql: str) -> int | None:
    """The first value `sql` returns from the DuckDB file, or None without file or table."""
    if not duckdb_path.exists():
        return None
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        try:
            return connection.execute(sql).fetchone()[0]
        except duckdb.CatalogException:
            return None


def leads_rows(workdir: Path) -> int | None:
    return count_rows(workdir / "bench.duckdb", "select count(*) from persistiq.leads")


def project_env(workdir: Path, base_url: str, requests_per_minute: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSISTIQ_")}
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)  # empty: Dagster's default instance, no dagster.yaml
    env.update(
        DAGSTER_HOME=str(home),
        PERSISTIQ_API_KEY=API_KEY,
        PERSISTIQ_BASE_URL=base_url,
        PERSISTIQ_DUCKDB_PATH=str(workdir / "bench.duckdb"),
        PERSISTIQ_PIPELINES_DIR=str(workdir / "pipelines"),
        PERSISTIQ_REQUESTS_PER_MINUTE=str(requests_per_minute),
        RUNTIME__DLTHUB_TELEMETRY="false",
        **PROJECT_SETTINGS,
    )
    return env


def project(api: PersistIQEmulator, workdir: Path, args: list[str], rpm: int = UNLIMITED) -> dict:
    return measure(api, DAGSTER + args, project_env(workdir, api.base_url, rpm), ROOT)


def plain(api: PersistIQEmulator, workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSISTIQ_")}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    argv = [
        sys.executable, str(ROOT / "bench" / "plain_dlt.py"), "--base-url", api.base_url,
        "--api-key", API_KEY, "--duckdb", str(workdir / "bench.duckdb"),
        "--pipelines-dir", str(workdir / "pipelines"), "--start", PLAIN_START,
    ]  # fmt: skip
    return measure(api, argv, env, workdir)


def check(run: dict, what: str, rows: int | None, expected: int, fatal: bool = True) -> dict:
    """Add rows; exit loudly if the run failed or loaded other than `expected` rows."""
    run["rows"] = rows
    problem = f"exit status {run['exit']}" if run["exit"] else None
    if not problem and rows != expected:
        problem = f"{rows} rows, expected {expected}"
    run["ok"] = problem is None
    if problem:
        tail = (run["stderr"] + run["stdout"])[-3000:]
        if fatal:
            raise SystemExit(f"\n{what} FAILED: {problem}\n--- last output ---\n{tail}")
        log(f"{what} failed: {problem}")
        run["error"] = tail
    del run["stdout"], run["stderr"]
    log(f"{what}: {run['seconds']:.1f} s, {run['rss_mib']:.0f} MiB, {run['requests']} requests")
    return run


def emulator(store, scenario: Scenario) -> PersistIQEmulator:
    """A fresh emulator on the shared store: a new request log, rate-limit window and cache."""
    return PersistIQEmulator(
        store=store, api_key=API_KEY, page_size=PAGE_SIZE, rate_limit=scenario.rate_limit,
        rate_limit_window=WINDOW, latency=scenario.latency, port=0,
    )  # fmt: skip


def backfill(kind: str, store, scenario: Scenario, fatal: bool = True) -> dict:
    """One load of every lead by `kind` ("project" or "plain") in fresh directories."""
    rpm = scenario.rate_limit or UNLIMITED
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, emulator(store, scenario) as api:
        workdir = Path(tmp)
        run = project(api, workdir, BACKFILL, rpm) if kind == "project" else plain(api, workdir)
        return check(run, kind, leads_rows(workdir), len(store.leads), fatal)


def noop_round(store, scenario: Scenario) -> dict[str, dict]:
    """Load everything, then time the runs that find nothing new, for both loaders."""
    expected, runs = len(store.leads), {}
    current = "select count(*) from persistiq.{} where _dlt_valid_to is null"
    with emulator(store, scenario) as api:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            workdir = Path(tmp)
            run = project(api, workdir, BACKFILL)
            runs["setup"] = check(run, "project setup load", leads_rows(workdir), expected)
            run = project(api, workdir, LAST_DAY_AGAIN)
            runs["project"] = check(run, "project last day again", leads_rows(workdir), expected)
            run = project(api, workdir, USERS_CAMPAIGNS)
            rows = sum(
                count_rows(workdir / "bench.duckdb", current.format(table)) or 0
                for table in ("users", "campaigns")
            )
            expected_core = len(store.users) + len(store.campaigns)
            runs["core"] = check(run, "project users+campaigns", rows, expected_core)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            workdir = Path(tmp)
            check(plain(api, workdir), "plain setup load", leads_rows(workdir), expected)
            runs["plain"] = check(plain(api, workdir), "plain again", leads_rows(workdir), expected)
    return runs


def partitions_round(store, scenario: Scenario) -> dict[str, dict]:
    """One run of one day and one run of MANY_DAYS days, each in a fresh instance: what a
    partition costs beyond the data (planned and materialisation events in Dagster's log)."""
    runs = {}
    day_rows = sum(1 for lead in store.leads if lead["updated_at"].startswith(FIRST_DAY))
    for key, argv, expected in (
        ("one", ONE_PARTITION, day_rows),
        ("many", MANY_PARTITIONS, len(store.leads)),
    ):
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp, emulator(store, scenario) as api:
            workdir = Path(tmp)
            runs[key] = check(project(api, workdir, argv), key, leads_rows(workdir), expected)
    return runs


# -- reporting -----------------------------------------------------------------------------


def spread(values: list[float], spec: str = ".1f") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:{spec}}" if low == high else f"{mid:{spec}} ({low:{spec}}-{high:{spec}})"


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def table(rows: dict[str, list[dict]]) -> None:
    width = max(map(len, rows)) + 2
    print(f"  {'':<{width}}{'wall s':<20}{'peak RSS MiB':<18}{'requests':<18}{'429s':<8}rows")
    for label, runs in rows.items():
        failed = sum(not run["ok"] for run in runs)
        note = f"  ({failed} of {len(runs)} failed)" if failed else ""
        print(
            f"  {label:<{width}}{spread([r['seconds'] for r in runs]):<20}"
            f"{spread([r['rss_mib'] for r in runs], '.0f'):<18}"
            f"{spread([r['requests'] for r in runs], '.0f'):<18}"
            f"{spread([r['http_429'] for r in runs], '.0f'):<8}"
            f"{spread([r['rows'] for r in runs], '.0f')}{note}"
        )


def goal(entry: dict, text: str, met: bool) -> None:
    entry.setdefault("goals", {})[text] = met
    print(f"  goal {text}: {'ok' if met else 'MISSED'}")


def report(name: str, scenario: Scenario, results: dict) -> None:
    entry = results[name]
    runs = entry["runs"]
    pages = max(math.ceil(scenario.leads / PAGE_SIZE), 1)
    what = f"latency {scenario.latency:.3f} s/request" if scenario.latency else "no latency"
    if scenario.rate_limit:
        what = f"rate limit {scenario.rate_limit}/{WINDOW:.0f} s, budget {scenario.rate_limit}/min"
    count = max(len(r) for r in runs.values())
    print(f"\n{name}: {scenario.leads:,} leads ({pages:,} pages), {what}")
    print(f"  median (min-max) of {count} run(s) per row")
    if name == "noop":
        labels = {
            "setup": "project first load (setup)",
            "project": "project leads, last day again",
            "core": "project users+campaigns",
            "plain": "plain dlt, run again",
        }
        table({labels[key]: runs[key] for key in labels})
        leads_s, core_s = median(runs["project"], "seconds"), median(runs["core"], "seconds")
        print(
            f"  ratio project/plain (run again): {leads_s / median(runs['plain'], 'seconds'):.2f}x"
        )
        text = f"<= 8 s per CLI run (leads {leads_s:.1f} s, users+campaigns {core_s:.1f} s)"
        goal(entry, text, max(leads_s, core_s) <= 8)
        return
    if name == "partitions":
        table({"project, 1 day": runs["one"], f"project, {MANY_DAYS} days": runs["many"]})
        extra = median(runs["many"], "seconds") - median(runs["one"], "seconds")
        entry["seconds_per_partition"] = extra / (MANY_DAYS - 1)
        print(f"  each partition beyond the first: {1000 * extra / (MANY_DAYS - 1):.0f} ms")
        return
    labels = {"project": "project (dagster CLI)", "plain": "plain dlt"}
    if scenario.rate_limit:
        labels["plain"] = "plain dlt (no budget; retries 429)"
    table({labels[kind]: kind_runs for kind, kind_runs in runs.items()})
    wall, rss = median(runs["project"], "seconds"), median(runs["project"], "rss_mib")
    plain_ok = [run for run in runs.get("plain", []) if run["ok"]]
    if plain_ok:
        ratio = wall / median(plain_ok, "seconds")
        rss_ratio = rss / median(plain_ok, "rss_mib")
        print(f"  ratio project/plain: wall {ratio:.2f}x, peak RSS {rss_ratio:.2f}x")
        if name == "100k":
            goal(entry, f"wall <= 1.15x plain ({ratio:.2f}x)", ratio <= 1.15)
        if name == "latency":
            goal(entry, f"wall <= 0.5x plain ({ratio:.2f}x)", ratio <= 0.5)
    if name == "100k":
        text = f"peak RSS <= 400 MB = {RSS_GOAL_MIB:.0f} MiB ({rss:.0f} MiB)"
        goal(entry, text, rss <= RSS_GOAL_MIB)
    if scenario.rate_limit:
        # The first `limit` requests go at once, each further `limit` one window later.
        floor = (math.ceil(pages / scenario.rate_limit) - 1) * WINDOW
        entry["floor_seconds"] = floor
        errors = max(run["http_429"] for run in runs["project"])
        over = wall / floor if floor else math.inf
        print(f"  floor {floor:.0f} s ({pages} requests at {scenario.rate_limit}/min)")
        print(f"  ratio project/floor: {over:.2f}x")
        goal(
            entry,
            f"<= 1.15x floor, no 429 ({over:.2f}x, {errors} x 429)",
            over <= 1.15 and not errors,
        )
    if name == "1m" and "100k" in results:
        base = median(results["100k"]["runs"]["project"], "rss_mib")
        text = f"peak RSS <= 1.2x the 100k run ({rss:.0f} vs {base:.0f} MiB, {rss / base:.2f}x)"
        goal(entry, text, rss <= 1.2 * base)


# -- main ----------------------------------------------------------------------------------


def lead_counts(text: str | None, names: list[str]) -> dict[str, int]:
    """`--leads 5000` (every scenario) or `--leads 100k=50000,latency=5000`."""
    counts = {name: SCENARIOS[name].leads for name in names}
    for item in filter(None, (text or "").split(",")):
        name, _, value = item.rpartition("=")
        for target in [name] if name else names:
            counts[target] = int(value)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenarios", default=DEFAULT_SCENARIOS, help=f"comma list of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--repeats", type=int, help="runs per loader (default 3; 1m: 1)")
    parser.add_argument("--leads", help="N for every scenario, or name=N,name=N")
    parser.add_argument("--plain-1m", action="store_true", help="also run plain dlt in 1m")
    parser.add_argument(
        "--without-models",
        action="store_true",
        help="the project with PERSISTIQ_ANALYTICS=false: no dbt in its processes",
    )
    args = parser.parse_args()
    if args.without_models:
        PROJECT_SETTINGS["PERSISTIQ_ANALYTICS"] = "false"
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    counts = lead_counts(args.leads, names)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict[str, dict] = {}
    for name in names:
        scenario = SCENARIOS[name]
        scenario = Scenario(counts[name], scenario.latency, scenario.rate_limit, scenario.repeats)
        repeats = args.repeats or scenario.repeats or 3
        log(f"{name}: building {scenario.leads:,} leads")
        store = make_dataset(leads=scenario.leads)
        runs: dict[str, list[dict]] = {}
        results[name] = {"scenario": asdict(scenario), "repeats": repeats, "runs": runs}
        kinds = ["project", "plain"] if name != "1m" or args.plain_1m else ["project"]
        for repeat in range(repeats):
            log(f"{name}: run {repeat + 1} of {repeats}")
            if name in ("noop", "partitions"):
                round_ = noop_round if name == "noop" else partitions_round
                for key, run in round_(store, scenario).items():
                    runs.setdefault(key, []).append(run)
                continue
            for kind in kinds if repeat % 2 == 0 else kinds[::-1]:  # alternate who goes first
                fatal = not (kind == "plain" and scenario.rate_limit)
                runs.setdefault(kind, []).append(backfill(kind, store, scenario, fatal))
        del store
        report(name, scenario, results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n!.gitignore\n")
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version}
    out = RESULTS / f"{stamp}.json"
    out.write_text(
        json.dumps(
            {"started": stamp, "machine": machine, "args": vars(args), "scenarios": results},
            indent=2,
        )
    )
    print(f"\nraw figures: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
