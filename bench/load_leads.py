"""Benchmark: load N leads from the emulator into DuckDB; wall time and peak memory.

    .venv/bin/python bench/load_leads.py [--leads 100000] [--formats parquet,jsonl] [--repeats 3]

The emulator runs in its own process; each load runs in a fresh child process (the Dagster
leads asset, materialised in process, into a new DuckDB file), whose peak RSS is read from
the kernel with ``os.wait4``. Prints the median of the repeats per loader file format.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

API_KEY = "bench-key"


def child(base_url: str, loader_file_format: str, workdir: str) -> None:
    """One load of every lead, as the Dagster asset does it; prints rows and requests."""
    from dagster import AssetKey, materialize

    from persistiq_dagster.assets import persistiq_leads_assets
    from persistiq_dagster.dlt_resource import PersistIQDltResource
    from persistiq_dagster.emulator.data import DEFAULT_UPDATED_DAYS
    from persistiq_dagster.partitions import partition_range_tags
    from persistiq_dagster.resources import PersistIQResource, PersistIQWarehouse

    result = materialize(
        [persistiq_leads_assets],
        selection=[AssetKey(["persistiq", "leads"])],
        # Every day the emulator's data spans (make_dataset's default), in one run.
        tags=partition_range_tags(*DEFAULT_UPDATED_DAYS),
        resources={
            "dlt": PersistIQDltResource(),
            "persistiq": PersistIQResource(
                api_key=API_KEY, base_url=base_url, requests_per_minute=1_000_000
            ),
            "warehouse": PersistIQWarehouse(
                duckdb_path=f"{workdir}/bench.duckdb",
                pipelines_dir=f"{workdir}/pipelines",
                loader_file_format=loader_file_format,
            ),
        },
    )
    event = result.get_asset_materialization_events()[-1]
    print(json.dumps({"rows": event.materialization.metadata["dagster/row_count"].value}))


def start_emulator(leads: int) -> tuple[subprocess.Popen, str]:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "persistiq_dagster.emulator", "--port", "0",
         "--leads", str(leads), "--api-key", API_KEY],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    line = emulator.stdout.readline()
    if "http" not in line:
        emulator.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return emulator, line.split()[-1]


def measure(base_url: str, loader_file_format: str) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB and rows loaded, for one load in a fresh process."""
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", base_url, loader_file_format, workdir],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"load with {loader_file_format} failed (status {status})")
    rows = json.loads(output.strip().splitlines()[-1])["rows"]
    return seconds, usage.ru_maxrss / 1024, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--formats", default="parquet,jsonl")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    emulator, base_url = start_emulator(args.leads)
    try:
        print(f"{args.leads} leads, {args.repeats} runs each, median (min-max)")
        for loader_file_format in args.formats.split(","):
            runs = [measure(base_url, loader_file_format) for _ in range(args.repeats)]
            seconds = [run[0] for run in runs]
            memory = [run[1] for run in runs]
            rows = {run[2] for run in runs}
            print(
                f"{loader_file_format:<14} {statistics.median(seconds):6.1f} s "
                f"({min(seconds):.1f}-{max(seconds):.1f})  peak RSS "
                f"{statistics.median(memory):6.0f} MiB ({min(memory):.0f}-{max(memory):.0f})  "
                f"rows {sorted(rows)}"
            )
    finally:
        os.killpg(emulator.pid, 15)
        emulator.wait(timeout=10)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        child(*sys.argv[2:])
    else:
        main()
