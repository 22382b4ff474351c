"""What each analytics model should hold, computed in Python from the emulator's own records,
not by running SQL: the tests compare the models with these."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from persistiq_dagster.defs.analytics.project import DBT_PROJECT_DIR
from persistiq_emulator import EmulatorStore
from persistiq_emulator.data import (
    event_campaign_id,
    event_lead_id,
    event_time,
    reply_campaign_id,
    reply_time,
)

SEED = DBT_PROJECT_DIR / "seeds" / "persistiq_event_types.csv"
STATS = {
    "contacted": "prospects_contacted",
    "reached": "prospects_reached",
    "opened": "prospects_opened",
    "replied": "prospects_replied",
    "bounced": "prospects_bounced",
    "opted_out": "prospects_optedout",
}


def event_activities() -> dict[str, str]:
    with SEED.open(newline="") as file:
        return {row["event_type"]: row["activity"] for row in csv.DictReader(file)}


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def event_type(event: dict) -> str | None:
    return event.get("event_type") or event.get("kind")


def rate(count: int, contacted: int) -> float | None:
    return None if not contacted else count / contacted


def membership_mailboxes(store: EmulatorStore) -> dict[tuple[str, str], str]:
    return {
        (link["campaign_id"], link["lead_id"]): link["mailbox_id"] for link in store.campaign_leads
    }


def loaded_replies(store: EmulatorStore) -> list[dict]:
    """The replies a load holds: those with a time (PersistIQ's windows hold no reply without
    one, as the emulator serves them by default), each with the campaign it was read for."""
    return [
        {**reply, "campaign_id": reply_campaign_id(reply)}
        for reply in store.replies
        if reply_time(reply) is not None
    ]


def campaign_performance(store: EmulatorStore) -> dict[str, dict]:
    leads = Counter(link["campaign_id"] for link in store.campaign_leads)
    replies_of: dict[str, list[dict]] = defaultdict(list)
    for reply in loaded_replies(store):
        replies_of[reply["campaign_id"]].append(reply)
    expected = {}
    for campaign in store.campaigns:
        stats = {name: campaign["stats"][field] for name, field in STATS.items()}
        replies = replies_of[campaign["id"]]
        positive = [reply for reply in replies if reply["sentiment"] == "positive"]
        times = [reply_time(reply) for reply in replies]
        contacted = stats["contacted"]
        expected[campaign["id"]] = {
            "campaign_name": campaign["name"],
            "leads": leads[campaign["id"]],
            **stats,
            "reply_rate": rate(stats["replied"], contacted),
            "open_rate": rate(stats["opened"], contacted),
            "bounce_rate": rate(stats["bounced"], contacted),
            "opt_out_rate": rate(stats["opted_out"], contacted),
            "replies": len(replies),
            "positive_replies": len(positive),
            "replied_leads": len({reply["lead_id"] for reply in replies} - {None}),
            "positive_reply_rate": rate(len({r["lead_id"] for r in positive} - {None}), contacted),
            "first_reply_at": min(times) if times else None,
            "last_reply_at": max(times) if times else None,
        }
    return expected


COUNTED = ("sent", "opened", "clicked", "replied", "bounced", "opted_out")


def campaign_daily(store: EmulatorStore, timezone: str) -> dict[tuple[str, date], dict]:
    names = {campaign["id"]: campaign["name"] for campaign in store.campaigns}
    activities = event_activities()
    rows: dict[tuple[str, date], dict] = {}

    def row(campaign_id: str, moment: datetime) -> dict:
        key = (campaign_id, local_day(moment, timezone))
        return rows.setdefault(
            key,
            {"campaign_name": names.get(campaign_id), "events": 0, "replies": 0,
             "positive_replies": 0, **dict.fromkeys(COUNTED, 0)},
        )  # fmt: skip

    for event in store.events:
        campaign_id = event_campaign_id(event)
        if campaign_id is None:
            continue
        counts = row(campaign_id, event_time(event))
        counts["events"] += 1
        activity = activities.get(event_type(event))
        if activity in COUNTED:
            counts[activity] += 1
    for reply in loaded_replies(store):
        counts = row(reply["campaign_id"], reply_time(reply))
        counts["replies"] += 1
        counts["positive_replies"] += reply["sentiment"] == "positive"
    return rows


def mailbox_daily(store: EmulatorStore, timezone: str) -> dict[tuple[str, date], dict]:
    mailboxes = {
        box["id"]: (box["email"], user["id"]) for user in store.users for box in user["mailboxes"]
    }
    through = membership_mailboxes(store)
    activities = event_activities()
    rows: dict[tuple[str, date], dict] = {}

    def row(mailbox_id: str, moment: datetime) -> dict:
        email, user_id = mailboxes.get(mailbox_id, (None, None))
        return rows.setdefault(
            (mailbox_id, local_day(moment, timezone)),
            {"mailbox_email": email, "user_id": user_id, "sends": 0, "replies": 0, "bounces": 0},
        )

    for event in store.events:
        mailbox_id = through.get((event_campaign_id(event), event_lead_id(event)))
        activity = activities.get(event_type(event))
        if mailbox_id is not None and activity in ("sent", "bounced"):
            row(mailbox_id, event_time(event))["sends" if activity == "sent" else "bounces"] += 1
    for reply in loaded_replies(store):
        mailbox_id = through.get((reply["campaign_id"], reply["lead_id"]))
        if mailbox_id is not None:
            row(mailbox_id, reply_time(reply))["replies"] += 1
    return rows


def lead_funnel(store: EmulatorStore) -> dict[tuple[str | None, str | None], dict]:
    status_names = {
        "_".join(status["name"].lower().split()): status["name"] for status in store.lead_statuses
    }
    owners = {user["id"]: user["name"] for user in store.users}
    rows: dict[tuple[str | None, str | None], dict] = {}
    for lead in store.leads:
        key = (lead.get("status"), lead.get("owner_id"))
        counts = rows.setdefault(
            key,
            {"status_name": status_names.get(key[0]), "owner_name": owners.get(key[1]),
             "leads": 0, "contacted": 0, "replied": 0, "bounced": 0, "opted_out": 0},
        )  # fmt: skip
        counts["leads"] += 1
        counts["contacted"] += (lead.get("sent_count") or 0) > 0
        counts["replied"] += (lead.get("replied_count") or 0) > 0
        counts["bounced"] += bool(lead.get("bounced"))
        counts["opted_out"] += bool(lead.get("optedout"))
    return rows


# Each model's grain, and what it should hold, keyed the way the functions above key it.
GRAIN = {
    "campaign_performance": ("campaign_id",),
    "campaign_daily": ("campaign_id", "day"),
    "mailbox_daily": ("mailbox_id", "day"),
    "lead_funnel": ("status", "owner_user_id"),
}


def expected(model: str, store: EmulatorStore, timezone: str) -> dict:
    if model == "campaign_performance":
        return campaign_performance(store)
    if model == "lead_funnel":
        return lead_funnel(store)
    return {"campaign_daily": campaign_daily, "mailbox_daily": mailbox_daily}[model](
        store, timezone
    )


def keyed(model: str, rows: list[dict]) -> dict:
    """``rows`` of ``model`` keyed by its grain, as ``expected`` keys them."""
    grain = GRAIN[model]
    found = {}
    for row in rows:
        key = tuple(row.pop(column) for column in grain)
        found[key[0] if len(key) == 1 else key] = row
    return found


def assert_matches(model: str, rows: list[dict], store: EmulatorStore, timezone: str) -> None:
    """The model's rows are what the emulator's records say, rates to within rounding."""
    want, found = expected(model, store, timezone), keyed(model, rows)
    assert found.keys() == want.keys(), model
    for key, row in found.items():
        exact = {name: value for name, value in row.items() if not name.endswith("_rate")}
        assert exact == {n: v for n, v in want[key].items() if not n.endswith("_rate")}, key
        for name in row.keys() - exact.keys():
            if want[key][name] is None:
                assert row[name] is None, (key, name)
            else:
                assert abs(row[name] - want[key][name]) < 1e-12, (key, name)
