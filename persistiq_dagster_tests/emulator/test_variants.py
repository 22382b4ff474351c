"""The emulator's contract variants: each changes what it says it does, on the records it says,
and nothing else; the server variants change the answers."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from persistiq_dagster_tests.support import scan
from persistiq_emulator import make_dataset
from persistiq_emulator.__main__ import chosen_variants, parse_args
from persistiq_emulator.data import event_time, parse_timestamp, reply_time
from persistiq_emulator.variants import (
    CONTRACT_VARIANTS,
    CUSTOM_FIELDS,
    LEAD_NULL_PLACES,
    NULL_EVERY,
    ODD_EMPLOYEES,
    REPLY_NULL_PLACES,
    server_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZE = {"leads": 120, "campaigns": 6, "events": 240, "replies": 60, "seed": 3}


def dataset(*variants: str):
    return make_dataset(**SIZE, variants=variants)


def test_an_unknown_variant_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown variants \\['utc_only'\\]; known: leads_with"):
        make_dataset(variants=["utc_only"])


def test_leads_without_times_drops_both_times_from_every_third_lead():
    plain, varied = dataset(), dataset("leads_without_times")
    for position, (before, after) in enumerate(zip(plain.leads, varied.leads, strict=True)):
        undated = position % 3 == 0
        assert ("updated_at" in after, "created_at" in after) == (not undated, not undated)
        assert {k: v for k, v in before.items() if k not in ("updated_at", "created_at")} == {
            k: v for k, v in after.items() if k not in ("updated_at", "created_at")
        }


def test_total_prospects_renames_the_total_of_every_other_campaign():
    plain, varied = dataset(), dataset("total_prospects")
    for position, (before, after) in enumerate(zip(plain.campaigns, varied.campaigns, strict=True)):
        key = "total_prospects" if position % 2 == 0 else "total_contacted"
        assert set(after["stats"]) == set(before["stats"]) - {"total_contacted"} | {key}
        assert after["stats"][key] == before["stats"]["total_contacted"]


def times_of(store) -> list[tuple[str, str]]:
    """Every (text, field) timestamp of the leads, replies and events."""
    found = []
    for record in [*store.leads, *store.replies, *store.events]:
        for field in ("created_at", "updated_at", "last_sent_at", "sent_at"):
            if isinstance(record.get(field), str):
                found.append((record[field], field))
    return found


def test_precise_times_keep_each_instant_to_the_second_and_write_midnight_west_of_utc():
    plain, varied = times_of(dataset()), times_of(dataset("precise_times"))
    assert len(plain) == len(varied)
    forms = {"-07:00": 0, "+05:30": 0, "Z": 0}
    for (before, _), (after, _) in zip(plain, varied, strict=True):
        moved = parse_timestamp(after) - parse_timestamp(before)
        assert timedelta(0) <= moved < timedelta(seconds=1)
        forms[next(suffix for suffix in forms if after.endswith(suffix))] += 1
        if before.endswith("T00:00:00Z"):
            assert after.endswith("T17:00:00-07:00") and moved == timedelta(0)
    assert min(forms.values()) > 0
    assert any("." in after for after, _ in varied)
    assert any(before.endswith("T00:00:00Z") for before, _ in plain)


@pytest.mark.parametrize(
    ("variant", "resource", "places"),
    [
        ("null_lead_refs", "leads", LEAD_NULL_PLACES),
        ("null_reply_fields", "replies", REPLY_NULL_PLACES),
    ],
)
def test_null_variants_null_their_fields_at_their_places_only(variant, resource, places):
    plain, varied = dataset().records(resource), dataset(variant).records(resource)
    for position, (before, after) in enumerate(zip(plain, varied, strict=True)):
        for field, place in places.items():
            expected = None if position % NULL_EVERY == place else before[field]
            assert after[field] == expected, (position, field)
    for field in places:
        assert any(after[field] is None for after in varied), field


def test_typed_lead_data_sends_every_json_type_and_lists_the_custom_fields():
    store = dataset("typed_lead_data")
    typed = [lead["data"] for lead in store.leads if "employees" in lead["data"]]
    assert len(typed) == len(store.leads[1::5])
    kinds = {name: {type(data[name]).__name__ for data in typed} for name in CUSTOM_FIELDS}
    assert kinds == {
        "employees": {"int", "str"},
        "is_customer": {"bool"},
        "annual_revenue": {"float"},
        "languages": {"list"},
        "office": {"dict"},
    }
    assert [data["employees"] for data in typed].count(ODD_EMPLOYEES) == 1
    assert {type(data["phone"]) for data in typed} == {int}
    assert {field["name"] for field in store.lead_fields} >= set(CUSTOM_FIELDS)


def test_a_reply_without_a_campaign_id_is_listed_under_its_campaign_without_hidden_keys(
    make_emulator, http
):
    store = dataset("null_reply_fields")
    emulator = make_emulator(store)
    orphan = next(reply for reply in store.replies if reply["campaign_id"] is None)
    campaign_id = orphan["_campaign_id"]
    pages = scan(http, f"{emulator.base_url}campaigns/{campaign_id}/replies")
    served = {reply["id"]: reply for page in pages for reply in page["replies"]}
    assert served[orphan["id"]]["campaign_id"] is None
    assert not any(key.startswith("_") for reply in served.values() for key in reply)


def test_records_without_a_time_are_in_no_window_unless_the_server_variant_says_every(
    make_emulator, http
):
    store = dataset("null_reply_fields")
    window = {"start_at": "2024-01-01T00:00:00Z", "end_at": "2024-12-31T00:00:00Z"}

    def served(emulator) -> set[str]:
        return {
            reply["id"]
            for campaign in store.campaigns
            for page in scan(http, f"{emulator.base_url}campaigns/{campaign['id']}/replies", window)
            for reply in page["replies"]
        }

    untimed = {reply["id"] for reply in store.replies if reply_time(reply) is None}
    assert untimed
    assert served(make_emulator(store)) == {r["id"] for r in store.replies} - untimed
    everywhere = make_emulator(store, **server_settings(["untimed_in_windows"]))
    assert served(everywhere) == {r["id"] for r in store.replies}


def test_event_pages_of_500_and_next_page_urls_that_keep_the_filters(make_emulator, http):
    store = make_dataset(events=1200, leads=250)
    emulator = make_emulator(
        store, **server_settings(["event_pages_of_500", "next_page_keeps_params"])
    )
    window = {"start_at": "2024-01-01T00:00:00Z", "end_at": "2024-03-01T00:00:00Z"}
    pages = scan(http, f"{emulator.base_url}events", window)
    in_window = [e for e in store.events if event_time(e) < parse_timestamp(window["end_at"])]
    assert [len(page["events"]) for page in pages][:2] == [500, 500]
    assert sum(len(page["events"]) for page in pages) == len(in_window) > 1000
    assert "start_at=2024-01-01T00%3A00%3A00Z" in pages[0]["next_page"]
    leads = http.get(f"{emulator.base_url}leads", params={"updated_after": "2024-01-01"}).json()
    assert len(leads["leads"]) == 100  # other lists keep 100 a page
    assert "updated_after=2024-01-01" in leads["next_page"]


def test_the_command_line_takes_variants_one_by_one_or_all():
    assert chosen_variants(parse_args(["--variant", "all"]).variant) == CONTRACT_VARIANTS
    named = parse_args(["--variant", "precise_times", "--variant", "event_pages_of_500"]).variant
    assert chosen_variants(named) == ("precise_times", "event_pages_of_500")
    with pytest.raises(SystemExit):
        parse_args(["--variant", "utc_only"])


def test_the_command_line_serves_every_variant():
    command = [sys.executable, "-m", "persistiq_emulator", "--port", "0", "--variant", "all"]
    command += ["--leads", "30", "--events", "600", "--api-key", "demo-key"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        base_url = process.stdout.readline().strip().rsplit(" ", 1)[1]
        headers = {"x-api-key": "demo-key"}
        events = requests.get(base_url + "events", headers=headers, timeout=5).json()
        leads = requests.get(base_url + "leads", headers=headers, timeout=5).json()
        assert len(events["events"]) == 500
        assert sum("updated_at" not in lead for lead in leads["leads"]) == 10
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.stdout.close()
