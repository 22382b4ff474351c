"""The emulator's endpoints beyond users/leads/campaigns, over real HTTP: paging, filters,
windows, event shapes, campaign leads, replies, and that the seeds' data did not move."""

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from persistiq_dagster_tests.support import scan
from persistiq_emulator import EmulatorStore, PersistIQEmulator, make_dataset, select
from persistiq_emulator.data import (
    event_campaign_id,
    event_group,
    event_lead_id,
    event_user_id,
    format_timestamp,
    parse_timestamp,
    public,
)
from persistiq_emulator.generate import DEFAULT_UPDATED_FROM, DEFAULT_UPDATED_TO

KEY = "test-api-key"
REPO_ROOT = Path(__file__).resolve().parents[2]
ENVELOPE = ["status", "errors", "has_more", "next_page"]


def scan_records(http: requests.Session, url: str, key: str, params: dict | None = None):
    return [record for page in scan(http, url, params) for record in page[key]]


def ids(records: list[dict]) -> list[str]:
    return [record["id"] for record in records]


def midnight(text: str) -> bool:
    return text.endswith("T00:00:00Z")


# -- the seeds' data stays put -----------------------------------------------------------------


def digest_of_seed_records(store: EmulatorStore) -> str:
    users = [{k: v for k, v in user.items() if k != "mailboxes"} for user in store.users]
    payload = {
        "users": sorted(users, key=lambda r: r["id"]),
        "leads": sorted(store.leads, key=lambda r: r["id"]),
        "campaigns": sorted(store.campaigns, key=lambda r: r["id"]),
    }
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def test_users_leads_and_campaigns_are_exactly_what_they_were():
    # These digests pin the users (minus the new `mailboxes` key), leads and campaigns that
    # make_dataset() produced BEFORE the endpoints beyond the seeds were added; they were
    # computed from that code. New data must come from random generators of its own. Campaign
    # stats that agree with the replies are the one deliberate change (see the next test).
    assert digest_of_seed_records(make_dataset(seed=0, stats_agree_with_replies=False)) == (
        "b5384f11478ad0f0eb942db680001c8d3929908d85851594eddc50b1f3cc1ff3"
    )
    drawn = make_dataset(seed=7, users=3, leads=1000, campaigns=4, stats_agree_with_replies=False)
    assert digest_of_seed_records(drawn) == (
        "b245bf254e18a5808d63d3a8f321f7e2f0cb0f057d04d62cb0dd2736846c1a7a"
    )
    # Changing how much new data there is does not move the old data either.
    lean = make_dataset(
        seed=0, events=3, replies=0, tags=0, dnc_domains=1, event_shape="docs",
        stats_agree_with_replies=False,
    )  # fmt: skip
    assert digest_of_seed_records(lean) == digest_of_seed_records(
        make_dataset(seed=0, stats_agree_with_replies=False)
    )


def test_campaign_stats_agree_with_the_replies_and_nothing_else_moves():
    """prospects_replied is the distinct leads with a reply, the counts that contain it are at
    least it, and every other field of every record is as first drawn."""
    agreeing, drawn = make_dataset(seed=3), make_dataset(seed=3, stats_agree_with_replies=False)
    for name in ("users", "leads", "campaign_leads", "replies", "events"):
        assert agreeing.records(name) == drawn.records(name), name
    moved = 0
    for campaign, first in zip(agreeing.campaigns, drawn.campaigns, strict=True):
        assert {k: v for k, v in campaign.items() if k != "stats"} == {
            k: v for k, v in first.items() if k != "stats"
        }
        stats = campaign["stats"]
        replied = {r["lead_id"] for r in agreeing.replies if r["campaign_id"] == campaign["id"]}
        assert stats["prospects_replied"] == len(replied)
        assert stats["prospects_opened"] <= stats["prospects_reached"]
        assert stats["prospects_reached"] <= stats["prospects_contacted"]
        assert stats["prospects_replied"] <= stats["prospects_opened"]
        assert stats["prospects_bounced"] == first["stats"]["prospects_bounced"]
        moved += stats != first["stats"]
    assert moved > 0


def test_new_data_is_deterministic_and_seeded():
    first, again, other = make_dataset(seed=5), make_dataset(seed=5), make_dataset(seed=6)
    for name in ("users", "campaign_leads", "replies", "events", "tags", "dnc_domains"):
        assert first.records(name) == again.records(name), name
        assert first.records(name) != other.records(name), name


# -- the endpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key", "sizes"),
    [
        ("dnc_domains", "dnc_domains", [100, 30]),
        ("tags", "tags", [25]),
        ("events", "events", [100, 100, 100, 100]),
    ],
)
def test_paged_top_level_endpoints_serve_every_record_once(make_emulator, http, path, key, sizes):
    store = make_dataset()
    emulator = make_emulator(store)
    first = http.get(emulator.base_url + path).json()
    assert list(first) == [*ENVELOPE, key]
    assert (first["status"], first["errors"]) == ("success", [])
    if len(sizes) > 1:
        assert first["next_page"] == f"http://127.0.0.1:{emulator.port}/v1/{path}?page=2"

    pages = scan(http, emulator.base_url + path)
    assert [len(page[key]) for page in pages] == sizes
    assert [page["has_more"] for page in pages] == [True] * (len(sizes) - 1) + [False]
    served = [record for page in pages for record in page[key]]
    assert ids(served) == sorted(record["id"] for record in store.records(key))
    assert served == sorted((public(r) for r in store.records(key)), key=lambda r: r["id"])

    past_end = http.get(emulator.base_url + path, params={"page": len(sizes) + 1}).json()
    assert (past_end[key], past_end["has_more"], past_end["next_page"]) == ([], False, None)
    assert http.get(emulator.base_url + path, params={"page": "0"}).status_code == 400


def test_dnc_domains_page_by_number_too(make_emulator, http):
    emulator = make_emulator(make_dataset(), next_page_style="number", page_size=50)
    pages = scan(http, emulator.base_url + "dnc_domains")
    assert [page["next_page"] for page in pages] == [2, 3, None]
    assert [len(page["dnc_domains"]) for page in pages] == [50, 50, 30]
    assert all(d["id"].startswith("dom_") for page in pages for d in page["dnc_domains"])


@pytest.mark.parametrize(("path", "count"), [("lead_statuses", 6), ("lead_fields", 8)])
def test_lead_statuses_and_fields_ignore_page_and_answer_everything(
    make_emulator, http, path, count
):
    store = make_dataset()
    emulator = make_emulator(store, page_size=2)  # would be several pages if they paged
    bodies = [
        http.get(emulator.base_url + path, params=params).json()
        for params in ({}, {"page": 1}, {"page": 2}, {"page": "0"}, {"page": "abc"})
    ]
    assert all(body == bodies[0] for body in bodies)
    assert list(bodies[0]) == [*ENVELOPE, path]
    assert (bodies[0]["has_more"], bodies[0]["next_page"]) == (False, None)
    assert len(bodies[0][path]) == count
    assert bodies[0][path] == sorted(store.records(path), key=lambda r: r["id"])
    prefix = "lss_" if path == "lead_statuses" else "lcf_"
    assert all(record["id"].startswith(prefix) for record in bodies[0][path])


def test_unknown_paths_stay_404(make_emulator, http):
    emulator = make_emulator()
    campaign_id = emulator.store.campaigns[1]["id"]
    for path in (
        "replies",
        "campaign_leads",
        "events/",
        "campaigns//leads",
        f"campaigns/{campaign_id}/leads/",
        f"campaigns/{campaign_id}/stats",
        f"campaigns/{campaign_id}",
    ):
        response = http.get(emulator.base_url + path)
        assert response.status_code == 404, path
        assert response.json()["error"]["reason"] == "not_found"
    assert http.post(emulator.base_url + "tags", json={}).status_code == 404


# -- campaign leads ----------------------------------------------------------------------------


def test_campaign_leads_empty_campaign_long_campaign_and_live_leads(make_emulator, http):
    store = make_dataset()
    emulator = make_emulator(store)
    empty, long = store.campaigns[0]["id"], store.campaigns[1]["id"]

    body = http.get(f"{emulator.base_url}campaigns/{empty}/leads").json()
    assert body == {
        "status": "success",
        "errors": [],
        "has_more": False,
        "next_page": None,
        "campaign_leads": [],
    }

    pages = scan(http, f"{emulator.base_url}campaigns/{long}/leads")
    assert len(pages) >= 2 and [len(p["campaign_leads"]) for p in pages][0] == 100
    assert pages[0]["next_page"].endswith(f"/v1/campaigns/{long}/leads?page=2")
    served = [cl for page in pages for cl in page["campaign_leads"]]
    assert len(served) >= 150
    assert ids(served) == sorted(set(ids(served)))
    assert served == store.campaign_leads_of(long)
    assert all(list(cl) == ["id", "campaign_id", "mailbox_id", "lead"] for cl in served)
    assert all(cl["id"].startswith("cl_") and cl["campaign_id"] == long for cl in served)
    leads = {lead["id"]: lead for lead in scan_records(http, emulator.base_url + "leads", "leads")}
    assert all(cl["lead"] == leads[cl["lead"]["id"]] for cl in served)

    # The nested lead is the current lead, not a copy taken at generation time.
    lead_id = served[0]["lead"]["id"]
    old_status = served[0]["lead"]["status"]
    store.update_leads(ids=[lead_id], at=datetime(2024, 6, 1, tzinfo=UTC))
    again = http.get(f"{emulator.base_url}campaigns/{long}/leads").json()["campaign_leads"]
    nested = next(cl["lead"] for cl in again if cl["lead"]["id"] == lead_id)
    assert nested["status"] != old_status
    assert nested["updated_at"] == "2024-06-01T00:00:00Z"


def test_every_lead_is_in_at_most_two_campaigns_and_once_per_campaign():
    store = make_dataset(leads=400, campaigns=6)
    pairs = [(cl["campaign_id"], cl["lead_id"]) for cl in store.campaign_leads]
    assert len(pairs) == len(set(pairs))
    per_lead = Counter(lead_id for _, lead_id in pairs)
    campaign_ids = [c["id"] for c in store.campaigns]
    assert max(per_lead.values()) == 2
    assert 0 < len(per_lead) < 400  # some leads are in no campaign
    held = Counter(campaign_id for campaign_id, _ in pairs)
    assert held[campaign_ids[0]] == 0 and held[campaign_ids[1]] >= 150
    assert all(held[c] > 0 for c in campaign_ids[1:])

    small = make_dataset(leads=40, campaigns=2)
    assert len(small.campaign_leads_of(small.campaigns[1]["id"])) == 40
    assert small.campaign_leads_of(small.campaigns[0]["id"]) == []
    lonely = make_dataset(leads=40, campaigns=1)
    assert (lonely.campaign_leads, lonely.replies) == ([], [])


def test_unknown_or_deleted_campaign_is_a_counted_404(make_emulator, http):
    store = make_dataset()
    emulator = make_emulator(store, rate_limit=50)
    for suffix in ("leads", "replies"):
        response = http.get(f"{emulator.base_url}campaigns/c_000000000000/{suffix}")
        assert response.status_code == 404
        assert response.json() == {
            "status": "error",
            "error": {"reason": "not_found", "message": "Campaign c_000000000000 not found"},
        }
    assert response.headers["X-RateLimit-Remaining"] == "48"  # both 404s were counted

    # A campaign deleted between listing campaigns and reading its leads.
    doomed = store.campaigns[1]["id"]
    listed = ids(http.get(emulator.base_url + "campaigns").json()["campaigns"])
    assert doomed in listed
    assert http.get(f"{emulator.base_url}campaigns/{doomed}/leads").status_code == 200
    assert store.remove_campaign(doomed) is True
    for suffix in ("leads", "replies"):
        gone = http.get(f"{emulator.base_url}campaigns/{doomed}/{suffix}")
        assert gone.status_code == 404
        assert gone.json()["error"]["message"] == f"Campaign {doomed} not found"
    assert doomed not in ids(http.get(emulator.base_url + "campaigns").json()["campaigns"])
    assert all(cl["campaign_id"] != doomed for cl in store.campaign_leads)
    assert all(reply["campaign_id"] != doomed for reply in store.replies)
    mailbox_campaigns = {
        campaign_id
        for user in http.get(emulator.base_url + "users").json()["users"]
        for box in user["mailboxes"]
        for campaign_id in box["campaign_ids"]
    }
    assert doomed not in mailbox_campaigns and mailbox_campaigns
    assert store.remove_campaign(doomed) is False


def test_campaign_filters_name_lead_id_and_owner(make_emulator, http):
    store = make_dataset(campaigns=12)
    emulator = make_emulator(store)
    url = emulator.base_url + "campaigns"
    target = store.campaigns[3]
    by_name = http.get(url, params={"name": target["name"]}).json()["campaigns"]
    assert ids(by_name) == [target["id"]]
    assert http.get(url, params={"name": target["name"][:-1]}).json()["campaigns"] == []

    lead_id = next(
        lead_id
        for lead_id, n in Counter(cl["lead_id"] for cl in store.campaign_leads).items()
        if n == 2
    )
    expected = sorted(cl["campaign_id"] for cl in store.campaign_leads if cl["lead_id"] == lead_id)
    assert ids(http.get(url, params={"lead_id": lead_id}).json()["campaigns"]) == expected
    assert http.get(url, params={"lead_id": "l_nobody"}).json()["campaigns"] == []

    owner = expected and store.campaign(expected[0])["creator"]["id"]
    both = http.get(url, params={"lead_id": lead_id, "owner_id": owner}).json()["campaigns"]
    assert ids(both) == [c for c in expected if store.campaign(c)["creator"]["id"] == owner]


# -- users' mailboxes ----------------------------------------------------------------------


def test_users_carry_mailboxes_matching_campaign_leads(make_emulator, http):
    store = make_dataset(users=8)
    emulator = make_emulator(store)
    users = http.get(emulator.base_url + "users").json()["users"]
    used: dict[str, set[str]] = {}
    for cl in store.campaign_leads:
        if cl["mailbox_id"]:
            used.setdefault(cl["mailbox_id"], set()).add(cl["campaign_id"])
    mailbox_ids = []
    for user in users:
        assert list(user)[-1] == "mailboxes" and 1 <= len(user["mailboxes"]) <= 2
        boxes = [box["id"] for box in user["mailboxes"]]
        mailbox_ids += boxes
        if user["default_mailbox_id"] is not None:
            assert user["default_mailbox_id"] == boxes[0]
        assert all(b.startswith("mbox_") for b in boxes[1 if user["default_mailbox_id"] else 0 :])
        for box in user["mailboxes"]:
            assert list(box) == ["id", "email", "campaign_ids"] and "@" in box["email"]
            assert box["campaign_ids"] == sorted(used.get(box["id"], ()))
    assert len(mailbox_ids) == len(set(mailbox_ids))
    assert set(used) <= set(mailbox_ids)
    assert any(len(user["mailboxes"]) == 2 for user in users)
    assert any(box["campaign_ids"] for user in users for box in user["mailboxes"])


# -- replies ---------------------------------------------------------------------------------


def test_replies_shape_unicode_and_nulls():
    store = make_dataset()
    replies = store.replies
    assert len(replies) == 60
    links = {(cl["campaign_id"], cl["lead_id"]) for cl in store.campaign_leads}
    assert all((r["campaign_id"], r["lead_id"]) in links for r in replies)
    assert not any(r["campaign_id"] == store.campaigns[0]["id"] for r in replies)
    fields = ["id", "from_email", "to_emails", "cc_emails", "subject", "body", "preview"]
    fields += ["sent_at", "sentiment", "kind", "lead_id", "campaign_id", "step_message_id"]
    low, high = DEFAULT_UPDATED_FROM, DEFAULT_UPDATED_TO
    for reply in replies:
        assert list(reply) == fields and reply["id"].startswith("r_")
        assert reply["preview"] == (None if reply["body"] is None else reply["body"][:80])
        assert low <= parse_timestamp(reply["sent_at"]) <= high
        assert reply["sentiment"] in ("positive", "neutral", "negative", None)
        assert reply["kind"] in ("reply", "auto_reply")  # never null: PersistIQ's contract
    text = "".join(str(r["subject"]) + str(r["body"]) for r in replies)
    for awkward in ("é", "了", "👍", "\u200f", '"', "\n", "\t"):
        assert awkward in text, repr(awkward)
    assert any(r["subject"] is None for r in replies)
    assert any(r["preview"] is None for r in replies)
    assert all(isinstance(r["cc_emails"], list) for r in replies)  # the contract: a list
    assert any(r["cc_emails"] == [] for r in replies)
    assert any(len(r["body"] or "") > 80 for r in replies)  # previews are cut somewhere
    assert any(midnight(r["sent_at"]) for r in replies)


def test_replies_endpoint_filters_and_window_ends(make_emulator, http):
    store = make_dataset(replies=400)
    emulator = make_emulator(store, page_size=20)
    boundary = next(r for r in store.replies if midnight(r["sent_at"]))
    campaign_id, start = boundary["campaign_id"], boundary["sent_at"]
    url = f"{emulator.base_url}campaigns/{campaign_id}/replies"

    everything = scan_records(http, url, "replies")
    assert everything == store.replies_of(campaign_id) and len(everything) > 20
    assert all(r["campaign_id"] == campaign_id for r in everything)

    end = format_timestamp(parse_timestamp(start) + timedelta(days=9))
    window = {"start_at": start, "end_at": end}

    def expected(inclusive: bool) -> list[str]:
        def inside(sent_at: str) -> bool:
            moment, low, high = (parse_timestamp(x) for x in (sent_at, start, end))
            return low <= moment <= high if inclusive else low < moment < high

        return [r["id"] for r in everything if inside(r["sent_at"])]

    inclusive = ids(scan_records(http, url, "replies", window))
    assert boundary["id"] in inclusive and inclusive == expected(True)
    emulator.window_ends = "exclusive"
    exclusive = ids(scan_records(http, url, "replies", window))
    assert boundary["id"] not in exclusive and exclusive == expected(False)
    # An end exactly at the boundary reply keeps it only when ends are inclusive.
    before = {"end_at": start}
    assert boundary["id"] not in ids(scan_records(http, url, "replies", before))
    emulator.window_ends = "inclusive"
    assert boundary["id"] in ids(scan_records(http, url, "replies", before))

    lead_id = boundary["lead_id"]
    by_lead = scan_records(http, url, "replies", {"lead_id": lead_id})
    assert by_lead == [r for r in everything if r["lead_id"] == lead_id] and by_lead

    bad = http.get(url, params={"start_at": "yesterday-ish"})
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "reason": "bad_request",
        "message": "Invalid start_at: 'yesterday-ish'",
    }
    assert http.get(url, params={"end_at": "2024-13-01"}).status_code == 400


# -- events ----------------------------------------------------------------------------------


def test_events_are_spread_with_boundary_cases():
    store = make_dataset()
    events = store.events
    assert len(events) == 400 and len(set(ids(events))) == 400
    assert all(e["id"].startswith("evt_") for e in events)
    times = [store.event_time(e) for e in events]
    assert all(DEFAULT_UPDATED_FROM <= t < DEFAULT_UPDATED_TO for t in times)
    assert all(t.microsecond == 0 for t in times)
    assert sum(t.hour == t.minute == t.second == 0 for t in times) >= 3
    assert max(Counter(times).values()) >= 2  # at least two on one second
    assert {event_group(e) for e in events} == {"campaign", "settings", "lead_detail"}
    users, leads = {u["id"] for u in store.users}, {lead["id"] for lead in store.leads}
    campaigns = {c["id"] for c in store.campaigns}
    assert {event_user_id(e) for e in events} <= users | {None}
    assert {event_lead_id(e) for e in events} <= leads | {None}
    assert {event_campaign_id(e) for e in events} <= campaigns | {None}
    assert {e["event_type"] for e in events} == {
        "email_sent", "email_opened", "email_clicked", "email_replied", "email_bounced",
        "lead_status_changed",
    }  # fmt: skip


def test_both_event_shapes_describe_the_same_events(make_emulator, http):
    openapi, docs = make_dataset(), make_dataset(event_shape="docs")
    assert (openapi.event_shape, docs.event_shape) == ("openapi", "docs")
    served = {}
    for store in (openapi, docs):
        emulator = make_emulator(store)
        served[store.event_shape] = scan_records(http, emulator.base_url + "events", "events")
    assert ids(served["openapi"]) == ids(served["docs"]) == sorted(ids(openapi.events))
    for first, second in zip(served["openapi"], served["docs"], strict=True):
        assert list(first) == ["id", "event_type", "data", "created_at"]
        assert list(first["data"]) == ["campaign_id", "lead_id", "user_id", "mailbox_id"]
        assert list(second) == [
            "id", "kind", "event_at", "user_id", "user", "campaign", "lead", "params", "diff",
        ]  # fmt: skip
        assert first["event_type"] == second["kind"]
        assert first["created_at"] == second["event_at"]
        assert first["data"]["campaign_id"] == (second["campaign"] or {}).get("id")
        assert first["data"]["lead_id"] == (second["lead"] or {}).get("id")
        assert first["data"]["user_id"] == second["user_id"] == (second["user"] or {}).get("id")
        assert isinstance(second["params"], dict)
    with_diff = [e for e in served["docs"] if e["diff"] is not None]
    assert with_diff and all(e["kind"] == "lead_status_changed" for e in with_diff)
    assert all(set(e["user"]) == {"id", "name", "email"} for e in served["docs"] if e["user"])
    assert all(set(e["campaign"]) == {"id", "name"} for e in served["docs"] if e["campaign"])


@pytest.mark.parametrize("shape", ["openapi", "docs"])
def test_event_filters_group_campaign_lead_user(make_emulator, http, shape):
    store = make_dataset(event_shape=shape)
    emulator = make_emulator(store)
    url = emulator.base_url + "events"
    events = store.events
    some = next(e for e in events if event_group(e) == "campaign")
    cases = {
        ("group", "settings"): lambda e: event_group(e) == "settings",
        ("group", "lead_detail"): lambda e: event_group(e) == "lead_detail",
        ("campaign", event_campaign_id(some)): lambda e: (
            event_campaign_id(e) == event_campaign_id(some)
        ),
        ("lead", event_lead_id(some)): lambda e: event_lead_id(e) == event_lead_id(some),
        ("user", event_user_id(some)): lambda e: event_user_id(e) == event_user_id(some),
    }
    for (name, value), keep in cases.items():
        expected = sorted(e["id"] for e in events if keep(e))
        got = scan_records(http, url, "events", {name: value})
        assert ids(got) == expected, name
        assert 0 < len(got) < len(events), name
        assert all("_group" not in e for e in got)
    combined = scan_records(http, url, "events", {"group": "campaign", "user": event_user_id(some)})
    assert ids(combined) == sorted(
        e["id"]
        for e in events
        if event_group(e) == "campaign" and event_user_id(e) == event_user_id(some)
    )
    assert http.get(url, params={"group": "nonsense"}).json()["events"] == []


@pytest.mark.parametrize("shape", ["openapi", "docs"])
def test_event_window_ends_at_a_midnight_boundary(make_emulator, http, shape):
    store = make_dataset(event_shape=shape)
    emulator = make_emulator(store)
    url = emulator.base_url + "events"
    boundary = next(
        e
        for e in store.events
        if store.event_time(e).hour == 0
        and store.event_time(e).minute == 0
        and store.event_time(e).second == 0
    )
    day = store.event_time(boundary)
    # The day that starts at the boundary event, and the day that ends at it.
    after = {"start_at": format_timestamp(day), "end_at": format_timestamp(day + timedelta(days=1))}
    before = {
        "start_at": format_timestamp(day - timedelta(days=1)),
        "end_at": format_timestamp(day),
    }

    def expected(window: dict, inclusive: bool) -> list[str]:
        low, high = parse_timestamp(window["start_at"]), parse_timestamp(window["end_at"])
        return sorted(
            e["id"]
            for e in store.events
            if (
                low <= store.event_time(e) <= high
                if inclusive
                else low < store.event_time(e) < high
            )
        )

    for window in (after, before):
        inclusive = ids(scan_records(http, url, "events", window))
        assert boundary["id"] in inclusive and inclusive == expected(window, True)
    emulator.window_ends = "exclusive"
    for window in (after, before):
        exclusive = ids(scan_records(http, url, "events", window))
        assert boundary["id"] not in exclusive and exclusive == expected(window, False)
        assert exclusive  # a day still holds events

    # Exclusive days tile nothing twice; inclusive days share their midnight events.
    assert not set(expected(after, False)) & set(expected(before, False))
    assert boundary["id"] in set(expected(after, True)) & set(expected(before, True))
    with pytest.raises(ValueError):
        emulator.window_ends = "half-open"
    assert select(store, "events", tuple(sorted(after.items())), window_ends="exclusive") == [
        e for e in scan_records(http, url, "events", after)
    ]


def test_events_bad_window_is_400_and_null_times_never_match(make_emulator, http):
    store = make_dataset(events=10)
    emulator = make_emulator(store)
    url = emulator.base_url + "events"
    for params in ({"start_at": "last tuesday"}, {"end_at": ""}, {"start_at": "2024-02-30"}):
        response = http.get(url, params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["reason"] == "bad_request"

    timeless = {**store.events[0], "id": "evt_000000000000", "created_at": None}
    store.replace("events", [*store.events, timeless])
    assert "evt_000000000000" in ids(scan_records(http, url, "events"))
    for params in ({"start_at": "2000-01-01"}, {"end_at": "2100-01-01"}):
        windowed = ids(scan_records(http, url, "events", params))
        assert "evt_000000000000" not in windowed and len(windowed) == 10


def test_make_dataset_counts_and_shape_validation():
    store = make_dataset(events=7, replies=3, tags=30, dnc_domains=5)
    assert [len(store.records(n)) for n in ("events", "replies", "tags", "dnc_domains")] == [
        7, 3, 30, 5,
    ]  # fmt: skip
    assert len({tag["name"] for tag in store.tags}) == 30
    assert any(not tag["name"].isascii() for tag in store.tags)
    assert make_dataset(leads=0, campaigns=0, users=0).events  # nothing to refer to, still fine
    with pytest.raises(ValueError):
        make_dataset(event_shape="xml")
    with pytest.raises(ValueError):
        PersistIQEmulator(store=store, window_ends="open")


def test_cli_flags_for_new_data(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "persistiq_emulator", "--port", "0", "--leads", "20"]
    command += ["--events", "12", "--replies", "4", "--tags", "3", "--dnc-domains", "101"]
    command += ["--event-shape", "docs", "--window-ends", "exclusive"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        base_url = process.stdout.readline().strip().rsplit(" ", 1)[1]
        headers = {"x-api-key": KEY}

        def get(path: str, **params) -> dict:
            return requests.get(base_url + path, headers=headers, params=params, timeout=5).json()

        events = get("events")["events"]
        assert len(events) == 12 and all("event_at" in e for e in events)
        assert len(get("tags")["tags"]) == 3
        assert (len(get("dnc_domains")["dnc_domains"]), get("dnc_domains")["has_more"]) == (
            100,
            True,
        )
        midnight_event = next((e for e in events if midnight(e["event_at"])), None)
        assert midnight_event is not None
        at = midnight_event["event_at"]
        assert midnight_event["id"] not in ids(get("events", start_at=at)["events"])  # exclusive
        process.terminate()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
