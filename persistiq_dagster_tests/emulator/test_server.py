"""The PersistIQ emulator over real HTTP: paging, filters, errors, limits, faults, data."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from persistiq_dagster_tests.support import scan
from persistiq_emulator import PersistIQEmulator, make_dataset
from persistiq_emulator.data import parse_timestamp

KEY = "test-api-key"
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_url_paging_serves_every_lead_once(make_emulator, http):
    emulator = make_emulator(make_dataset(leads=250))
    first = http.get(emulator.base_url + "leads").json()
    assert list(first) == ["status", "errors", "has_more", "next_page", "leads"]
    assert (first["status"], first["errors"], first["has_more"]) == ("success", [], True)
    assert first["next_page"] == f"http://127.0.0.1:{emulator.port}/v1/leads?page=2"

    pages = scan(http, emulator.base_url + "leads")
    assert [len(page["leads"]) for page in pages] == [100, 100, 50]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert pages[-1]["next_page"] is None
    ids = [lead["id"] for page in pages for lead in page["leads"]]
    assert len(ids) == len(set(ids)) == 250
    assert ids == sorted(ids)

    past_end = http.get(emulator.base_url + "leads", params={"page": 4}).json()
    assert (past_end["leads"], past_end["has_more"], past_end["next_page"]) == ([], False, None)


def test_number_style_and_runtime_settings(make_emulator, http):
    emulator = make_emulator(make_dataset(leads=250), next_page_style="number")
    first = http.get(emulator.base_url + "leads").json()
    assert first["next_page"] == 2
    last = http.get(emulator.base_url + "leads", params={"page": 3}).json()
    assert (len(last["leads"]), last["has_more"], last["next_page"]) == (50, False, None)

    emulator.page_size = 30
    emulator.next_page_style = "url"
    page = http.get(emulator.base_url + "leads", params={"page": 2}).json()
    assert len(page["leads"]) == 30
    assert page["next_page"].endswith("/v1/leads?page=3")
    with pytest.raises(ValueError):
        emulator.next_page_style = "cursor"


def test_next_page_drops_filters_unless_told_to_keep_them(make_emulator, http):
    emulator = make_emulator(make_dataset(leads=400))
    after = "2024-01-10T00:00:00Z"
    params = {"updated_after": after, "created_after": "2024-01-02"}
    first = http.get(emulator.base_url + "leads", params=params).json()
    assert first["next_page"] == f"http://127.0.0.1:{emulator.port}/v1/leads?page=2"
    # Following that URL verbatim silently loses the filter: page 2 is unfiltered.
    unfiltered_page_2 = http.get(first["next_page"]).json()["leads"]
    assert any(lead["updated_at"] <= after for lead in unfiltered_page_2)

    emulator.next_page_keeps_params = True
    next_url = http.get(emulator.base_url + "leads", params=params).json()["next_page"]
    assert next_url.endswith(
        "/v1/leads?updated_after=2024-01-10T00%3A00%3A00Z&created_after=2024-01-02&page=2"
    )
    filtered_page_2 = http.get(next_url).json()["leads"]
    assert len(filtered_page_2) == 100
    assert all(lead["updated_at"] > after for lead in filtered_page_2)


def test_updated_after_is_strict_and_accepts_three_spellings(make_emulator, http):
    store = make_dataset(leads=300)
    emulator = make_emulator(store)
    pivot = sorted(lead["updated_at"] for lead in store.leads)[150]
    expected = {lead["id"] for lead in store.leads if lead["updated_at"] > pivot}

    pages = scan(http, emulator.base_url + "leads", {"updated_after": pivot})
    got = {lead["id"] for page in pages for lead in page["leads"]}
    assert got == expected
    assert not any(lead["updated_at"] == pivot for page in pages for lead in page["leads"])

    emulator.next_page_style = "number"
    spellings = ["2024-02-20", "2024-02-20T00:00:00Z", "2024-02-20T00:00:00+00:00"]
    bodies = [
        http.get(emulator.base_url + "leads", params={"updated_after": spelling}).json()
        for spelling in spellings
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    assert 0 < len(bodies[0]["leads"]) < 100 and bodies[0]["next_page"] is None


def test_leads_without_updated_at_always_pass_the_filter(make_emulator, http):
    store = make_dataset(leads=40, with_updated_at=False)
    assert all("updated_at" not in lead and "created_at" not in lead for lead in store.leads)
    emulator = make_emulator(store)
    body = http.get(emulator.base_url + "leads", params={"updated_after": "2030-01-01"}).json()
    assert len(body["leads"]) == 40


def test_status_and_owner_filters(make_emulator, http):
    store = make_dataset(leads=200, campaigns=30)
    emulator = make_emulator(store)
    paused = http.get(emulator.base_url + "leads", params={"status": "paused"}).json()["leads"]
    assert {lead["id"] for lead in paused} == {
        lead["id"] for lead in store.leads if lead["status"] == "paused"
    }
    owner = store.campaigns[0]["creator"]["id"]
    campaigns = http.get(emulator.base_url + "campaigns", params={"owner_id": owner}).json()
    assert campaigns["campaigns"]
    assert all(campaign["creator"]["id"] == owner for campaign in campaigns["campaigns"])
    assert len(campaigns["campaigns"]) < 30


def test_unauthorized_echoes_the_key_sent(make_emulator):
    emulator = make_emulator()
    response = requests.get(emulator.base_url + "users", headers={"x-api-key": "s3cret-WRONG"})
    assert response.status_code == 401
    assert response.json() == {
        "status": "error",
        "error": {"reason": "unauthorized", "message": "Failed to find api key: s3cret-WRONG"},
    }
    assert requests.get(emulator.base_url + "users").status_code == 401


def test_not_found_and_bad_request(make_emulator, http):
    emulator = make_emulator()
    missing = http.get(emulator.base_url + "prospects")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/json; charset=utf-8"
    assert missing.json()["error"]["reason"] == "not_found"
    assert http.post(emulator.base_url + "leads", json={}).status_code == 404

    bad_date = http.get(emulator.base_url + "leads", params={"updated_after": "last tuesday"})
    assert bad_date.status_code == 400
    assert bad_date.json()["status"] == "error"
    assert bad_date.json()["error"]["reason"] == "bad_request"
    assert http.get(emulator.base_url + "leads", params={"page": "0"}).status_code == 400


def test_rate_limit_429_has_headers_but_no_retry_after_and_recovers(make_emulator, http):
    emulator = make_emulator(rate_limit=3, rate_limit_window=0.5)
    remaining = []
    for _ in range(3):
        response = http.get(emulator.base_url + "users")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]

    limited = http.get(emulator.base_url + "users")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert time.time() - 1 <= reset <= time.time() + 2
    assert limited.json()["error"]["reason"] == "too_many_requests"
    assert limited.json()["error"]["message"] == (
        f"You performed more than 3 requests per minute. Limit will be reseted at {reset}."
    )

    emulator.inject(status=503, path="/v1/users")  # injected answers are not counted
    assert http.get(emulator.base_url + "users").status_code == 503
    time.sleep(0.6)
    recovered = http.get(emulator.base_url + "users")
    assert recovered.status_code == 200
    assert recovered.headers["X-RateLimit-Remaining"] == "2"


def test_fault_rate_is_roughly_applied_and_seeded(make_emulator, http):
    def statuses(emulator: PersistIQEmulator) -> list[int]:
        return [http.get(emulator.base_url + "users").status_code for _ in range(200)]

    first = statuses(make_emulator(fault_rate=0.3, fault_seed=42))
    again = statuses(make_emulator(fault_rate=0.3, fault_seed=42))
    assert first == again
    faults = Counter(status for status in first if status != 200)
    assert set(faults) == {500, 502, 503, 504}
    assert 35 <= sum(faults.values()) <= 85

    emulator = make_emulator(fault_rate=1.0)
    body = http.get(emulator.base_url + "users").json()
    assert body["error"]["reason"] == "internal_error"
    emulator.fault_rate = 0.0
    assert http.get(emulator.base_url + "users").status_code == 200


def test_inject_raw_bodies_and_dropped_connections(make_emulator, http):
    emulator = make_emulator()
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    emulator.inject(status=502, body=html, path="/v1/leads", content_type="text/html", times=2)
    assert http.get(emulator.base_url + "users").status_code == 200
    for _ in range(2):
        response = http.get(emulator.base_url + "leads")
        assert (response.status_code, response.content) == (502, html)
        assert response.headers["Content-Type"] == "text/html"
    assert http.get(emulator.base_url + "leads").status_code == 200

    emulator.inject(status=200, body={"status": "success", "has_more": False}, path="/v1/leads")
    assert "leads" not in http.get(emulator.base_url + "leads").json()

    emulator.inject(drop_connection=True)
    with pytest.raises(requests.ConnectionError):
        http.get(emulator.base_url + "campaigns")
    assert http.get(emulator.base_url + "campaigns").status_code == 200
    assert emulator.count(path="/v1/campaigns", status=0) == 1


def test_request_log_records_what_was_sent(make_emulator, http):
    emulator = make_emulator()
    http.get(emulator.base_url + "leads", params={"page": 2, "status": "active"})
    requests.get(emulator.base_url + "users")
    first, second = emulator.requests
    assert (first.method, first.path, first.status) == ("GET", "/v1/leads", 200)
    assert first.query == {"page": "2", "status": "active"}
    assert first.user_agent == "emulator-tests/1"
    assert (second.path, second.status) == ("/v1/users", 401)
    assert emulator.count(status=401) == 1 and emulator.count(path="/v1/leads") == 1
    emulator.clear_requests()
    assert emulator.requests == []


def test_update_and_add_leads_change_what_updated_after_returns(make_emulator, http):
    store = make_dataset(leads=150)
    emulator = make_emulator(store)
    newest = max(lead["updated_at"] for lead in store.leads)
    version = store.version
    at = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

    changed = store.update_leads(count=7, at=at)
    assert store.version > version and len(set(changed)) == 7
    assert make_dataset(leads=150).update_leads(count=7, at=at) == changed
    added = store.add_leads(3, at=at)
    body = http.get(emulator.base_url + "leads", params={"updated_after": newest}).json()
    assert {lead["id"] for lead in body["leads"]} == set(changed) | set(added)
    assert {lead["updated_at"] for lead in body["leads"]} == {"2024-06-01T12:00:00Z"}

    before = {lead["id"]: lead["status"] for lead in store.leads}
    store.update_leads(ids=[changed[0]])
    updated = next(lead for lead in store.leads if lead["id"] == changed[0])
    assert updated["status"] != before[changed[0]]
    age = datetime.now(UTC) - parse_timestamp(updated["updated_at"])
    assert 0 <= age.total_seconds() < 60


def test_make_dataset_is_deterministic_and_shaped(make_emulator, http):
    store = make_dataset(users=4, leads=120, campaigns=9, seed=3)
    same = make_dataset(users=4, leads=120, campaigns=9, seed=3)
    other = make_dataset(users=4, leads=120, campaigns=9, seed=4)
    assert (store.users, store.leads, store.campaigns) == (same.users, same.leads, same.campaigns)
    assert store.leads != other.leads

    user_ids = {user["id"] for user in store.users}
    assert all(user["salesforce_id"] is None for user in store.users)
    assert len({lead["id"] for lead in store.leads}) == 120
    assert all(lead["owner_id"] in user_ids for lead in store.leads)
    assert all(lead["data"]["twitch_name"] is None for lead in store.leads)
    low, high = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    for lead in store.leads:
        created, updated = parse_timestamp(lead["created_at"]), parse_timestamp(lead["updated_at"])
        assert low <= created <= updated <= high and lead["updated_at"].endswith("Z")
    assert all(set(c["stats"]) >= {"total_contacted", "prospects_replied"} for c in store.campaigns)

    emulator = make_emulator(store)
    raw = http.get(emulator.base_url + "leads").content
    served = json.loads(raw.decode("utf-8"))["leads"]
    assert served == sorted(store.leads, key=lambda lead: lead["id"])[:100]
    assert any(ch in raw.decode("utf-8") for ch in "ëŁ山")


@pytest.mark.slow
def test_full_scan_of_20k_leads_takes_exactly_200_requests(make_emulator, http):
    emulator = make_emulator(make_dataset(leads=20_000))
    pages = scan(http, emulator.base_url + "leads")
    assert len({lead["id"] for page in pages for lead in page["leads"]}) == 20_000
    assert emulator.count(path="/v1/leads") == 200


def test_stop_is_idempotent_and_really_stops(http):
    with PersistIQEmulator(store=make_dataset(leads=5)) as emulator:
        assert http.get(emulator.base_url + "users").status_code == 200
    emulator.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(emulator.base_url + "users", timeout=2)


def test_cli_serves_until_sigterm():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "persistiq_emulator", "--port", "0"]
    command += ["--leads", "30", "--api-key", "demo-key", "--next-page-style", "number"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("PersistIQ emulator serving http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1]
        response = requests.get(base_url + "leads", headers={"x-api-key": "demo-key"}, timeout=5)
        assert len(response.json()["leads"]) == 30
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
