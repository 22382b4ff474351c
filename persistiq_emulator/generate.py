"""Seeded generation of the emulator's data: make_dataset() and the generators it draws with.

make_dataset() builds an EmulatorStore (data.py) of the seeds' users, leads and campaigns plus
what PersistIQ's published API description lists beyond them (shared/persistiq-api.md, "Beyond
the seeds"): users' mailboxes, campaign leads, replies, events (in the "openapi" or the "docs"
shape), lead statuses, lead fields, tags and do-not-contact domains. Everything beyond the seeds
is drawn from random generators of its own, so the users, leads and campaigns of a seed stay
exactly what they were before. The seeds' records themselves (users, leads, campaigns) and the
seeded-draw helpers (pick, int, new_id, maybe) come from records.py, which the store uses
too; the word lists of everything beyond the seeds are here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime

from persistiq_emulator.data import EMAIL_EVENT_TYPES, EVENT_SHAPES, EmulatorStore
from persistiq_emulator.records import (
    LEAD_STATUSES,
    draw_int,
    format_epoch_seconds,
    make_campaign,
    make_lead,
    make_user,
    maybe,
    new_id,
    pick,
)
from persistiq_emulator.variants import apply_data_variants, check_variants

DEFAULT_UPDATED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_UPDATED_TO = datetime(2024, 3, 1, tzinfo=UTC)
# The first and last days (YYYY-MM-DD) that make_dataset() spreads lead updates over by default.
DEFAULT_UPDATED_DAYS = (f"{DEFAULT_UPDATED_FROM:%Y-%m-%d}", f"{DEFAULT_UPDATED_TO:%Y-%m-%d}")


# -- beyond the seeds: mailboxes, campaign leads, replies, events, catalogs --------------------

# fmt: off
LEAD_STATUS_NAMES = ("Active", "Paused", "Replied", "Finished", "Bounced", "Opted out")
LEAD_FIELD_LABELS = (
    ("company_name", "Company name"), ("first_name", "First name"), ("last_name", "Last name"),
    ("email", "Email"), ("phone", "Phone"), ("title", "Title"), ("industry", "Industry"),
    ("linkedin", "LinkedIn URL"),
)
TAG_WORDS = (
    "Hot lead 🔥", "Décideur", "顧客", "VIP", "Follow-up", "Nürnberg", "Q3 ✅", "Do not call",
    "Partner", "Événement", "عميل", "Trial",
)
REPLY_SUBJECTS = (
    "Re: Quick question", "Re: Café meeting ☕", "Re: 来週の打ち合わせ",
    'Re: "Pricing" — follow-up', "Re: Ñandú Q3 plan 🚀", "Re: \u200fשלום",
    "Automatic reply: Out of office",
)
REPLY_FRAGMENTS = (
    "Thanks — let's talk next week.\nBest,\tAna",
    "Sounds great! 🎉 Can you send the deck?",
    "Je suis absent jusqu'au lundi. Réponse automatique.",
    "ありがとうございます。来週ご連絡します。",
    "\u200fשלום, not interested right now.",
    "Please remove me from your list.",
    'He said "maybe" — I\'ll check with my team.\n\tcc\'ing Zoë',
    "Können wir am Donnerstag sprechen? Grüße aus Zürich.",
)
# fmt: on
# One body with every awkward character: accents, CJK, emoji, a right-to-left mark, quotes,
# a newline and a tab. The first reply of every dataset carries it.
REPLY_KITCHEN_SINK = (
    'Hi Zoë — "quick" reply: 了解しました 👍\n\tSee you at the café.\u200f שלום, it\'s fine.'
)
SENTIMENTS = ("positive", "neutral", "negative", None)
# A reply's kind is a string in PersistIQ's contract, never null.
REPLY_KINDS = ("reply", "reply", "reply", "auto_reply", "reply")
# Weights by repetition: most email events are sends and opens.
EMAIL_EVENT_DRAW = EMAIL_EVENT_TYPES[:1] * 4 + EMAIL_EVENT_TYPES[1:2] * 3 + EMAIL_EVENT_TYPES


def _midnights(start: int, end: int) -> list[int]:
    """Epoch seconds of the UTC midnights m with start <= m < end."""
    first = -(-start // 86400) * 86400
    return list(range(first, end, 86400))


def _add_mailboxes(rng: random.Random, users: list[dict]) -> dict[str, list[dict]]:
    """Give every user 1-2 mailboxes (in place); returns user id -> its mailboxes.

    The first mailbox's id is the user's `default_mailbox_id` when it has one, so that value
    stays what it always was. `campaign_ids` are filled in once campaign leads exist.
    """
    taken = {user["default_mailbox_id"] for user in users if user["default_mailbox_id"]}
    by_user = {}
    for user in users:
        local, _, domain = user["email"].partition("@")
        ids = [user["default_mailbox_id"] or new_id(rng, "mbox", taken)]
        if rng.random() < 0.5:
            ids.append(new_id(rng, "mbox", taken))
        emails = [user["email"], f"{local}@outreach.{domain}"]
        user["mailboxes"] = [
            {"id": mailbox_id, "email": email, "campaign_ids": []}
            for mailbox_id, email in zip(ids, emails, strict=False)
        ]
        by_user[user["id"]] = user["mailboxes"]
    return by_user


def _make_campaign_links(
    rng: random.Random,
    leads: list[dict],
    campaigns: list[dict],
    mailboxes_by_user: dict[str, list[dict]],
) -> list[dict]:
    """Campaign-lead links: each lead in 0-2 of campaigns[1:]; campaigns[0] gets none and
    campaigns[1] at least min(len(leads), 150). Mailboxes are the campaign creator's."""
    if len(campaigns) < 2 or not leads:
        return []
    pool = len(campaigns) - 1
    members: list[list[int]] = [[] for _ in campaigns]
    draw = rng.random
    for index in range(len(leads)):
        roll = draw()
        if roll < 0.3:
            continue
        first = 1 + int(draw() * pool)
        members[first].append(index)
        if roll >= 0.75 and pool > 1:
            second = 1 + int(draw() * (pool - 1))
            members[second + (second >= first)].append(index)
    short = min(len(leads), 150) - len(members[1])
    if short > 0:  # top campaigns[1] up, with leads in fewer than two campaigns when possible
        held = [0] * len(leads)
        for lead_indexes in members:
            for index in lead_indexes:
                held[index] += 1
        inside = set(members[1])
        outside = [i for i in range(len(leads)) if i not in inside]
        free = [i for i in outside if held[i] < 2]
        busy = [i for i in outside if held[i] >= 2]
        members[1].extend(rng.sample(free, min(short, len(free))))
        members[1].extend(rng.sample(busy, max(0, short - len(free))))
    links, taken, bits = [], set(), rng.getrandbits
    fallback = [box["id"] for boxes in mailboxes_by_user.values() for box in boxes][:1] or [None]
    for campaign, lead_indexes in zip(campaigns, members, strict=True):
        creator_id = (campaign.get("creator") or {}).get("id")
        senders = [box["id"] for box in mailboxes_by_user.get(creator_id, ())]
        for index in lead_indexes:
            link_id = f"cl_{bits(48):012x}"
            while link_id in taken:  # new_id, inlined: this runs for ~1 link per lead
                link_id = f"cl_{bits(48):012x}"
            taken.add(link_id)
            # PersistIQ's contract declares mailbox_id not nullable: a campaign lead is always
            # sent from a mailbox (the creator's first, or the account's, when none drawn).
            mailbox_id = (
                pick(rng, senders) if senders and draw() >= 0.06 else (senders or fallback)[0]
            )
            links.append(
                {
                    "id": link_id,
                    "campaign_id": campaign["id"],
                    "mailbox_id": mailbox_id,
                    "lead_id": leads[index]["id"],
                }
            )
    return links


def _fill_mailbox_campaigns(mailboxes_by_user: dict[str, list[dict]], links: list[dict]) -> None:
    used: dict[str, set[str]] = defaultdict(set)
    for link in links:
        if link["mailbox_id"] is not None:
            used[link["mailbox_id"]].add(link["campaign_id"])
    for mailboxes in mailboxes_by_user.values():
        for mailbox in mailboxes:
            mailbox["campaign_ids"] = sorted(used.get(mailbox["id"], ()))


def _special_times(rng: random.Random, times: list[int], midnights: list[int], pair: bool) -> None:
    """Move about 1 in 80 (at least one) of `times` to a UTC midnight and, with `pair`, make
    two of the others fall on the same second. In place."""
    count = len(times)
    at_midnight = max(1, count // 80) if midnights else 0
    chosen = rng.sample(range(count), min(count, at_midnight + (2 if pair else 0)))
    for index in chosen[:at_midnight]:
        times[index] = pick(rng, midnights)
    rest = chosen[at_midnight:]
    if len(rest) == 2:
        times[rest[1]] = times[rest[0]]


def _make_replies(
    rng: random.Random,
    count: int,
    links: list[dict],
    leads: list[dict],
    mailbox_emails: dict[str, str],
    start: int,
    end: int,
) -> list[dict]:
    """`count` replies to campaign leads, sent at whole seconds in [start, end]."""
    if not links or count <= 0:
        return []
    picked = [pick(rng, links) for _ in range(count)]
    wanted = {link["lead_id"] for link in picked}
    lead_by_id = {lead["id"]: lead for lead in leads if lead["id"] in wanted}
    times = [draw_int(rng, start, end) for _ in range(count)]
    _special_times(rng, times, _midnights(start, end + 1), pair=False)
    taken: set[str] = set()
    replies = []
    for index, (sent, link) in enumerate(zip(times, picked, strict=True)):
        data = lead_by_id[link["lead_id"]].get("data") or {}
        from_email = data.get("email") or f"{link['lead_id']}@unknown.example"
        to_email = mailbox_emails.get(link["mailbox_id"] or "")
        roll = rng.random()
        # cc_emails is a list in PersistIQ's contract, never null: empty when nobody was cc'd.
        cc = [] if roll >= 0.35 or roll < 0.15 else [f"cc{draw_int(rng, 1, 99)}@example.org"]
        pieces = [pick(rng, REPLY_FRAGMENTS) for _ in range(draw_int(rng, 1, 3))]
        body: str | None = "\n\n".join(pieces)
        subject = maybe(rng, pick(rng, REPLY_SUBJECTS), 0.85)
        if index == 0:
            body = REPLY_KITCHEN_SINK
        elif index == 1 or rng.random() < 0.08:
            body = None
        if index == 2:
            subject = None
        replies.append(
            {
                "id": new_id(rng, "r", taken),
                "from_email": from_email,
                "to_emails": [to_email] if to_email else [],
                "cc_emails": cc,
                "subject": subject,
                "body": body,
                "preview": None if body is None else body[:80],
                "sent_at": format_epoch_seconds(sent),
                "sentiment": pick(rng, SENTIMENTS),
                "kind": pick(rng, REPLY_KINDS),
                "lead_id": link["lead_id"],
                "campaign_id": link["campaign_id"],
                "step_message_id": maybe(rng, f"sm_{rng.getrandbits(32):08x}", 0.8),
            }
        )
    return replies


def _render_event(shape: str, facts: dict, users: dict[str, dict], campaigns: dict[str, dict]):
    """One event in the "openapi" or the "docs" shape, with its group under the hidden key
    `_group` (keys starting with "_" are never served)."""
    user, campaign = users.get(facts["user_id"]), campaigns.get(facts["campaign_id"])
    stamp = format_epoch_seconds(facts["time"])
    if shape == "openapi":
        event = {
            "id": facts["id"],
            "event_type": facts["kind"],
            "data": {
                "campaign_id": facts["campaign_id"],
                "lead_id": facts["lead_id"],
                "user_id": facts["user_id"],
                "mailbox_id": facts["mailbox_id"],
            },
            "created_at": stamp,
        }
    else:
        event = {
            "id": facts["id"],
            "kind": facts["kind"],
            "event_at": stamp,
            "user_id": facts["user_id"],
            "user": user and {"id": user["id"], "name": user["name"], "email": user["email"]},
            "campaign": campaign and {"id": campaign["id"], "name": campaign["name"]},
            "lead": {"id": facts["lead_id"]} if facts["lead_id"] else None,
            "params": facts["params"],
            "diff": facts["diff"],
        }
    event["_group"] = facts["group"]
    return event


def _make_events(
    rng: random.Random,
    count: int,
    shape: str,
    users: list[dict],
    leads: list[dict],
    campaigns: list[dict],
    links: list[dict],
    start: int,
    end: int,
) -> list[dict]:
    """`count` events at whole seconds in [start, end) referring to existing records."""
    if count <= 0:
        return []
    times = [start + int(rng.random() * (end - start)) for _ in range(count)]
    _special_times(rng, times, _midnights(start, end), pair=True)
    user_by_id = {user["id"]: user for user in users}
    campaign_by_id = {campaign["id"]: campaign for campaign in campaigns}
    taken: set[str] = set()
    events = []
    for moment in times:
        facts = {"id": new_id(rng, "evt", taken), "time": moment, "mailbox_id": None}
        facts.update(campaign_id=None, lead_id=None, user_id=None, diff=None)
        roll = rng.random()
        if roll < 0.8:
            if links:
                link = pick(rng, links)
                facts.update(campaign_id=link["campaign_id"], lead_id=link["lead_id"])
                facts["mailbox_id"] = link["mailbox_id"]
            else:
                facts["campaign_id"] = pick(rng, campaigns)["id"] if campaigns else None
                facts["lead_id"] = pick(rng, leads)["id"] if leads else None
            creator = (campaign_by_id.get(facts["campaign_id"]) or {}).get("creator") or {}
            facts.update(group="campaign", kind=pick(rng, EMAIL_EVENT_DRAW))
            facts["user_id"] = creator.get("id")
            facts["params"] = {"mailbox_id": facts["mailbox_id"], "step": draw_int(rng, 1, 4)}
            if facts["kind"] == "email_clicked":
                facts["params"]["url"] = "https://example.com/pricing?ref=zoë"
        elif roll < 0.92:
            lead = pick(rng, leads) if leads else {}
            old, new = rng.sample(LEAD_STATUSES, 2)
            facts.update(group="lead_detail", kind="lead_status_changed")
            facts.update(lead_id=lead.get("id"), user_id=lead.get("owner_id"))
            facts.update(params={"status": new}, diff={"status": [old, new]})
        else:
            old, new = rng.sample(LEAD_STATUS_NAMES, 2)
            facts.update(group="settings", kind="lead_status_changed")
            facts["user_id"] = pick(rng, users)["id"] if users else None
            facts.update(params={"setting": "lead_statuses"}, diff={"name": [old, new]})
        events.append(_render_event(shape, facts, user_by_id, campaign_by_id))
    return events


def _agree_with_replies(campaigns: list[dict], replies: list[dict]) -> None:
    """Each campaign's prospects_replied becomes the distinct leads with a reply to it, as
    PersistIQ's would be; the counts that contain it (opened, reached, contacted, total) are
    raised to at least it."""
    replied: dict[str, set[str]] = {}
    for reply in replies:
        replied.setdefault(reply["campaign_id"], set()).add(reply["lead_id"])
    for campaign in campaigns:
        stats = campaign["stats"]
        stats["prospects_replied"] = len(replied.get(campaign["id"], ()))
        floor = stats["prospects_replied"]
        for name in ("prospects_opened", "prospects_reached", "prospects_contacted"):
            stats[name] = floor = max(stats[name], floor)
        stats["total_contacted"] = max(stats["total_contacted"], floor)


def _make_catalog(rng: random.Random, tags: int, dnc_domains: int) -> dict[str, list[dict]]:
    """Lead statuses, lead fields, tags and do-not-contact domains."""
    taken: set[str] = set()
    numbers = rng.sample(range(max(1000, 10 * dnc_domains)), dnc_domains)
    return {
        "lead_statuses": [
            {"id": new_id(rng, "lss", taken), "name": name} for name in LEAD_STATUS_NAMES
        ],
        "lead_fields": [
            {"id": new_id(rng, "lcf", taken), "name": name, "label": label}
            for name, label in LEAD_FIELD_LABELS
        ],
        "tags": [
            {
                "id": new_id(rng, "tag", taken),
                "name": TAG_WORDS[i % len(TAG_WORDS)]
                + (f" {i // len(TAG_WORDS) + 1}" if i >= len(TAG_WORDS) else ""),
            }
            for i in range(tags)
        ],
        "dnc_domains": [
            {"id": new_id(rng, "dom", taken), "name": f"example-{number}.com"} for number in numbers
        ],
    }


def make_dataset(
    users: int = 5,
    leads: int = 250,
    campaigns: int = 12,
    seed: int = 0,
    updated_from: datetime = DEFAULT_UPDATED_FROM,
    updated_to: datetime = DEFAULT_UPDATED_TO,
    with_updated_at: bool = True,
    events: int = 400,
    replies: int = 60,
    tags: int = 25,
    dnc_domains: int = 130,
    event_shape: str = "openapi",
    stats_agree_with_replies: bool = True,
    variants: Collection[str] = (),
) -> EmulatorStore:
    """Build a store of generated records; the same arguments always give the same data.

    Lead `updated_at` values are spread uniformly over [updated_from, updated_to] at whole
    seconds, with `created_at` between `updated_from` and `updated_at`. With
    `with_updated_at=False` leads carry neither key, like the public docs' sample lead.

    Beyond the seeds: every user gets 1-2 `mailboxes`; each lead is in 0-2 campaigns, except
    that campaigns[0] has no campaign leads and campaigns[1] at least min(leads, 150); `replies`
    replies to campaign leads are sent in [updated_from, updated_to] and `events` events happen
    in [updated_from, updated_to), both at whole seconds, a few exactly at 00:00:00Z (and two
    events on one second); plus 6 lead statuses, 8 lead fields, `tags` tags and `dnc_domains`
    do-not-contact domains. Events come in `event_shape`: "openapi" or "docs". With
    `stats_agree_with_replies` (the default), each campaign's prospects_replied is the
    distinct leads with a reply to it; without, the campaigns' stats are as first drawn.
    `variants` (variants.DATA_VARIANTS) then vary a share of the records over what PersistIQ's
    contract allows; the server's variants are not data (variants.server_settings).
    """
    if event_shape not in EVENT_SHAPES:
        raise ValueError(f"event_shape must be one of {EVENT_SHAPES}, not {event_shape!r}")
    check_variants(variants)
    rng = random.Random(seed)
    taken: set[str] = set()
    user_records = [make_user(rng, i, taken) for i in range(users)]
    user_ids = [user["id"] for user in user_records]
    start = int(updated_from.timestamp())
    span = int((updated_to - updated_from).total_seconds())
    lead_records = []
    for serial in range(leads):
        updated = start + draw_int(rng, 0, span)
        created = draw_int(rng, start, updated)
        lead_id = new_id(rng, "l", taken)
        lead_records.append(
            make_lead(rng, lead_id, serial, user_ids, created, updated, with_updated_at)
        )
    campaign_records = [
        make_campaign(rng, index, user_records, taken) for index in range(campaigns)
    ]
    # Everything below draws from generators of its own: the records above never change.
    mailboxes = _add_mailboxes(random.Random(f"persistiq-mailboxes:{seed}"), user_records)
    links = _make_campaign_links(
        random.Random(f"persistiq-campaign-leads:{seed}"), lead_records, campaign_records, mailboxes
    )
    _fill_mailbox_campaigns(mailboxes, links)
    mailbox_emails = {box["id"]: box["email"] for boxes in mailboxes.values() for box in boxes}
    reply_records = _make_replies(
        random.Random(f"persistiq-replies:{seed}"),
        replies,
        links,
        lead_records,
        mailbox_emails,
        start,
        start + span,
    )
    event_records = _make_events(
        random.Random(f"persistiq-events:{seed}"),
        events,
        event_shape,
        user_records,
        lead_records,
        campaign_records,
        links,
        start,
        start + span,
    )
    if stats_agree_with_replies:
        _agree_with_replies(campaign_records, reply_records)
    catalog = _make_catalog(random.Random(f"persistiq-catalog:{seed}"), tags, dnc_domains)
    apply_data_variants(
        variants,
        {
            "leads": lead_records,
            "campaigns": campaign_records,
            "replies": reply_records,
            "events": event_records,
            "lead_fields": catalog["lead_fields"],
        },
    )
    return EmulatorStore(
        user_records,
        lead_records,
        campaign_records,
        seed=seed,
        with_updated_at=with_updated_at,
        campaign_leads=links,
        replies=reply_records,
        events=event_records,
        event_shape=event_shape,
        **catalog,
    )
