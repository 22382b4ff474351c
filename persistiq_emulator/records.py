"""The seeds' records (users, leads, campaigns) and the seeded draws they are made with.

Standard library only, so that both the store (data.py: EmulatorStore.update_leads/add_leads)
and the dataset generator (generate.py: make_dataset) can build on it without importing each
other. Holds the lead statuses, format_epoch_seconds, the word lists names, companies and
campaigns are drawn from, the one-rng-call draw helpers (pick, int, new_id, maybe) and the
record makers (make_user, make_lead, make_campaign).
"""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime, timedelta
from functools import lru_cache

LEAD_STATUSES = ("active", "paused", "replied", "finished", "bounced", "opted_out")

# fmt: off
FIRST_NAMES = (
    "Ada", "Ben", "Chloé", "Dmitri", "Zoë", "Łukasz", "太郎", "Fatima", "Grace", "Hiro",
    "Ines", "José", "Kofi", "Lena", "Mateo", "Noor", "Olu", "Priya", "Søren", "Yuki",
)
LAST_NAMES = (
    "Lovelace", "Okafor", "Müller", "Nowak", "山田", "García", "Smith", "Ivanova", "Björk",
    "Chen", "Dubois", "Haddad", "Kowalski", "Nakamura", "O'Brien", "Rossi", "Singh", "Tanaka",
)
CITIES = (
    ("Austin", "TX"), ("Boston", "MA"), ("Chicago", "IL"), ("Denver", "CO"), ("Seattle", "WA"),
    ("São Paulo", "SP"), ("Kraków", "MP"), ("Zürich", "ZH"), ("Tokyo", "TK"), ("Lagos", "LA"),
)
# fmt: on
STREETS = ("Main St", "Oak Ave", "Market St", "Elm Rd", "Königstraße", "Rue de Rivoli")
INDUSTRIES = ("Software", "Retail", "Healthcare", "Finance", "Logistics", "Education")
TITLES = ("CEO", "CTO", "VP Sales", "Head of Growth", "Account Executive", "Engineer")
COMPANY_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Vandelay")
CAMPAIGN_WORDS = ("Spring", "Outbound", "Re-engage", "Enterprise", "SMB", "Webinar", "Q3 Push")


@lru_cache(maxsize=4096)
def _day_iso(day: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(days=day)).date().isoformat()


def format_epoch_seconds(seconds: int) -> str:
    """data.format_timestamp for whole epoch seconds, several times faster (used for bulk data)."""
    day, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_day_iso(day)}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


@lru_cache(maxsize=1024)
def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum()) or "x"


def pick(rng: random.Random, options: tuple | list):
    """rng.choice, cheaper: one rng.random() call."""
    return options[int(rng.random() * len(options))]


def draw_int(rng: random.Random, low: int, high: int) -> int:
    """rng.randint(low, high), cheaper: one rng.random() call."""
    return low + int(rng.random() * (high - low + 1))


def new_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        candidate = f"{prefix}_{rng.getrandbits(48):012x}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def maybe(rng: random.Random, value: str, filled: float = 0.9) -> str | None:
    return value if rng.random() < filled else None


def make_user(rng: random.Random, index: int, taken: set[str]) -> dict:
    first, last = pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)
    return {
        "id": new_id(rng, "u", taken),
        "email": f"{_ascii_slug(first)}.{_ascii_slug(last)}{index}@example.com",
        "activated": rng.random() < 0.8,
        "default_mailbox_id": maybe(rng, f"mb_{rng.getrandbits(32):08x}", 0.8),
        "name": f"{first} {last}",
        "salesforce_id": None,
    }


def _make_lead_data(rng: random.Random, serial: int) -> dict:
    first, last = pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)
    city, state = pick(rng, CITIES)
    company = f"{pick(rng, COMPANY_WORDS)} {pick(rng, INDUSTRIES)}"
    handle = f"{_ascii_slug(first)}{_ascii_slug(last)}{serial}"
    return {
        "address": maybe(rng, f"{draw_int(rng, 1, 999)} {pick(rng, STREETS)}"),
        "city": maybe(rng, city),
        "company_name": maybe(rng, company),
        "email": maybe(rng, f"{handle}@{_ascii_slug(company)}.example", 0.97),
        "facebook": maybe(rng, f"https://facebook.com/{handle}", 0.5),
        "first_name": maybe(rng, first, 0.97),
        "industry": maybe(rng, pick(rng, INDUSTRIES)),
        "last_name": maybe(rng, last, 0.97),
        "linkedin": maybe(rng, f"https://linkedin.com/in/{handle}", 0.8),
        "phone": maybe(rng, f"+1-555-{draw_int(rng, 0, 9999):04d}", 0.7),
        "salesforce_id": maybe(rng, f"00Q{rng.getrandbits(40):010x}", 0.6),
        "snippet": maybe(rng, f"Saw {company} is hiring, {first}.", 0.6),
        "state": maybe(rng, state),
        "title": maybe(rng, pick(rng, TITLES)),
        "twitch_name": None,
        "twitter": maybe(rng, f"@{handle}", 0.5),
    }


def make_lead(
    rng: random.Random,
    lead_id: str,
    serial: int,
    user_ids: list[str],
    created: int,
    updated: int,
    with_timestamps: bool,
) -> dict:
    """One lead; `created`/`updated` are epoch seconds."""
    status = pick(rng, LEAD_STATUSES)
    sent_count = draw_int(rng, 0, 8)
    lead = {
        "id": lead_id,
        "owner_id": pick(rng, user_ids) if user_ids else None,
        "bounced": status == "bounced",
        "optedout": status == "opted_out",
        "creator_id": pick(rng, user_ids) if user_ids else None,
        "status": status,
        "last_sent_at": None,
        "sent_count": sent_count,
        "replied_count": draw_int(rng, 0, min(sent_count, 3)) if status == "replied" else 0,
        "data": _make_lead_data(rng, serial),
    }
    if sent_count:
        lead["last_sent_at"] = format_epoch_seconds(draw_int(rng, created, updated))
    if with_timestamps:
        lead["created_at"] = format_epoch_seconds(created)
        lead["updated_at"] = format_epoch_seconds(updated)
    return lead


def make_campaign(rng: random.Random, index: int, users: list[dict], taken: set[str]) -> dict:
    creator = pick(rng, users) if users else None
    total = draw_int(rng, 0, 500)
    contacted = draw_int(rng, 0, total)
    reached = draw_int(rng, 0, contacted)
    opened = draw_int(rng, 0, reached)
    return {
        "id": new_id(rng, "c", taken),
        "name": f"{pick(rng, CAMPAIGN_WORDS)} {pick(rng, INDUSTRIES)} #{index + 1}",
        "creator": (
            {"email": creator["email"], "id": creator["id"], "name": creator["name"]}
            if creator
            else None
        ),
        "stats": {
            "prospects_bounced": draw_int(rng, 0, contacted // 10),
            "prospects_contacted": contacted,
            "prospects_opened": opened,
            "prospects_optedout": draw_int(rng, 0, contacted // 20),
            "prospects_reached": reached,
            "prospects_replied": draw_int(rng, 0, opened),
            "total_contacted": total,
        },
    }
