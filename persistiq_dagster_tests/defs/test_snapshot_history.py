"""Users and campaigns are snapshots: the current rows are exactly what PersistIQ returned last,
and earlier versions stay as history (dlt's scd2), through the emulator into DuckDB."""

from persistiq_dagster_tests.support import query, run_assets

CURRENT = "_dlt_valid_to is null"


def current_ids(warehouse, table: str) -> set[str]:
    return {row[0] for row in query(warehouse, f"select id from persistiq.{table} where {CURRENT}")}


def test_a_removed_campaign_is_retired_and_a_changed_one_keeps_its_history(
    emulator, store, persistiq, warehouse
):
    run_assets(persistiq, warehouse, select=["users", "campaigns"])
    removed, changed = store.campaigns[0], store.campaigns[1]
    replied_before = changed["stats"]["prospects_replied"]
    store.replace(
        "campaigns",
        [
            {**changed, "stats": {**changed["stats"], "prospects_replied": replied_before + 7}},
            *store.campaigns[2:],
        ],
    )

    run_assets(persistiq, warehouse, select=["users", "campaigns"])

    assert current_ids(warehouse, "campaigns") == {c["id"] for c in store.campaigns}
    assert len(store.campaigns) == 11
    assert query(warehouse, "select count(*) from persistiq.campaigns") == [(13,)]  # 11 + 2 old
    ((retired_at,),) = query(
        warehouse, f"select _dlt_valid_to from persistiq.campaigns where id = '{removed['id']}'"
    )
    assert retired_at is not None
    history = query(
        warehouse,
        "select stats__prospects_replied, _dlt_valid_from, _dlt_valid_to from persistiq.campaigns "
        f"where id = '{changed['id']}' order by _dlt_valid_from",
    )
    assert [row[0] for row in history] == [replied_before, replied_before + 7]
    (old, new) = history
    assert old[2] == new[1] == retired_at  # one load closed the old version, opened the new
    assert new[2] is None
    # Users did not change: one version each, all current.
    assert query(warehouse, "select count(*), count(_dlt_valid_to) from persistiq.users") == [
        (len(store.users), 0)
    ]


def test_an_empty_snapshot_retires_every_row(emulator, store, persistiq, warehouse):
    run_assets(persistiq, warehouse, select=["users", "campaigns"])
    store.replace("campaigns", [])
    store.users[0]["first_name"] = "Renamed"  # a new version of one user in the same load
    store.bump()

    run_assets(persistiq, warehouse, select=["users", "campaigns"])

    assert current_ids(warehouse, "campaigns") == set()
    assert current_ids(warehouse, "users") == {u["id"] for u in store.users}
    # Our retirement of the empty snapshot is stamped with the load's time, as dlt's scd2
    # stamps the user's new version, not with the clock when the retiring query ran.
    ((renamed_from,),) = query(
        warehouse,
        "select _dlt_valid_from from persistiq.users "
        f"where id = '{store.users[0]['id']}' and _dlt_valid_to is null",
    )
    assert query(warehouse, "select distinct _dlt_valid_to from persistiq.campaigns") == [
        (renamed_from,)
    ]
