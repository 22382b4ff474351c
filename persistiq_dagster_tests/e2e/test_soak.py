"""A bounded soak: many small loads in a row, on loopback; the process's memory stays flat."""

from persistiq_dagster_tests.support import count_rows, run_assets

WARM_UP_LOADS = 5
SOAK_LOADS = 30
# Far above the noise of one load (a few MB) and far below a leak of a page per load.
MAX_GROWTH_MIB = 60


def resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_many_small_loads_in_a_row_keep_memory_flat(emulator, store, persistiq, warehouse):
    days = [f"2024-01-{day:02d}" for day in range(1, 32)] + [
        f"2024-02-{day:02d}" for day in range(1, 10)
    ]

    for day in days[:WARM_UP_LOADS]:
        run_assets(persistiq, warehouse, select=["leads"], partition_key=day)
    before = resident_mib()
    for day in days[WARM_UP_LOADS : WARM_UP_LOADS + SOAK_LOADS]:
        run_assets(persistiq, warehouse, select=["leads"], partition_key=day)
    growth = resident_mib() - before

    loaded_days = days[: WARM_UP_LOADS + SOAK_LOADS]
    expected = [lead for lead in store.leads if lead["updated_at"][:10] in loaded_days]
    assert count_rows(warehouse, "leads") == len(expected)
    print(f"RSS growth over {SOAK_LOADS} loads: {growth:.1f} MiB")
    assert growth < MAX_GROWTH_MIB, f"memory grew {growth:.1f} MiB over {SOAK_LOADS} loads"
