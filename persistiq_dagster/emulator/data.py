"""Deterministic, seeded PersistIQ-shaped data and the thread-safe store the emulator serves."""

from __future__ import annotations

import random
import threading
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import lru_cache

RESOURCES = ("users", "leads", "campaigns")
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

DEFAULT_UPDATED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_UPDATED_TO = datetime(2024, 3, 1, tzinfo=UTC)
# The first and last days (YYYY-MM-DD) that make_dataset() spreads lead updates over by default.
DEFAULT_UPDATED_DAYS = (f"{DEFAULT_UPDATED_FROM:%Y-%m-%d}", f"{DEFAULT_UPDATED_TO:%Y-%m-%d}")


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix; microseconds only when non-zero. Naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


@lru_cache(maxsize=4096)
def _day_iso(day: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(days=day)).date().isoformat()


def format_epoch_seconds(seconds: int) -> str:
    """format_timestamp for whole epoch seconds, several times faster (used for bulk data)."""
    day, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_day_iso(day)}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse ISO 8601 (`Z`, `+00:00`, or a bare date); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=1024)
def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum()) or "x"


def _pick(rng: random.Random, options: tuple | list):
    """rng.choice, cheaper: one rng.random() call."""
    return options[int(rng.random() * len(options))]


def _int(rng: random.Random, low: int, high: int) -> int:
    """rng.randint(low, high), cheaper: one rng.random() call."""
    return low + int(rng.random() * (high - low + 1))


def _new_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        candidate = f"{prefix}_{rng.getrandbits(48):012x}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _maybe(rng: random.Random, value: str, filled: float = 0.9) -> str | None:
    return value if rng.random() < filled else None


def _make_user(rng: random.Random, index: int, taken: set[str]) -> dict:
    first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
    return {
        "id": _new_id(rng, "u", taken),
        "email": f"{_ascii_slug(first)}.{_ascii_slug(last)}{index}@example.com",
        "activated": rng.random() < 0.8,
        "default_mailbox_id": _maybe(rng, f"mb_{rng.getrandbits(32):08x}", 0.8),
        "name": f"{first} {last}",
        "salesforce_id": None,
    }


def _make_lead_data(rng: random.Random, serial: int) -> dict:
    first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
    city, state = _pick(rng, CITIES)
    company = f"{_pick(rng, COMPANY_WORDS)} {_pick(rng, INDUSTRIES)}"
    handle = f"{_ascii_slug(first)}{_ascii_slug(last)}{serial}"
    return {
        "address": _maybe(rng, f"{_int(rng, 1, 999)} {_pick(rng, STREETS)}"),
        "city": _maybe(rng, city),
        "company_name": _maybe(rng, company),
        "email": _maybe(rng, f"{handle}@{_ascii_slug(company)}.example", 0.97),
        "facebook": _maybe(rng, f"https://facebook.com/{handle}", 0.5),
        "first_name": _maybe(rng, first, 0.97),
        "industry": _maybe(rng, _pick(rng, INDUSTRIES)),
        "last_name": _maybe(rng, last, 0.97),
        "linkedin": _maybe(rng, f"https://linkedin.com/in/{handle}", 0.8),
        "phone": _maybe(rng, f"+1-555-{_int(rng, 0, 9999):04d}", 0.7),
        "salesforce_id": _maybe(rng, f"00Q{rng.getrandbits(40):010x}", 0.6),
        "snippet": _maybe(rng, f"Saw {company} is hiring, {first}.", 0.6),
        "state": _maybe(rng, state),
        "title": _maybe(rng, _pick(rng, TITLES)),
        "twitch_name": None,
        "twitter": _maybe(rng, f"@{handle}", 0.5),
    }


def _make_lead(
    rng: random.Random,
    lead_id: str,
    serial: int,
    user_ids: list[str],
    created: int,
    updated: int,
    with_timestamps: bool,
) -> dict:
    """One lead; `created`/`updated` are epoch seconds."""
    status = _pick(rng, LEAD_STATUSES)
    sent_count = _int(rng, 0, 8)
    lead = {
        "id": lead_id,
        "owner_id": _pick(rng, user_ids) if user_ids else None,
        "bounced": status == "bounced",
        "optedout": status == "opted_out",
        "creator_id": _pick(rng, user_ids) if user_ids else None,
        "status": status,
        "last_sent_at": None,
        "sent_count": sent_count,
        "replied_count": _int(rng, 0, min(sent_count, 3)) if status == "replied" else 0,
        "data": _make_lead_data(rng, serial),
    }
    if sent_count:
        lead["last_sent_at"] = format_epoch_seconds(_int(rng, created, updated))
    if with_timestamps:
        lead["created_at"] = format_epoch_seconds(created)
        lead["updated_at"] = format_epoch_seconds(updated)
    return lead


def _make_campaign(rng: random.Random, index: int, users: list[dict], taken: set[str]) -> dict:
    creator = _pick(rng, users) if users else None
    total = _int(rng, 0, 500)
    contacted = _int(rng, 0, total)
    reached = _int(rng, 0, contacted)
    opened = _int(rng, 0, reached)
    return {
        "id": _new_id(rng, "c", taken),
        "name": f"{_pick(rng, CAMPAIGN_WORDS)} {_pick(rng, INDUSTRIES)} #{index + 1}",
        "creator": (
            {"email": creator["email"], "id": creator["id"], "name": creator["name"]}
            if creator
            else None
        ),
        "stats": {
            "prospects_bounced": _int(rng, 0, contacted // 10),
            "prospects_contacted": contacted,
            "prospects_opened": opened,
            "prospects_optedout": _int(rng, 0, contacted // 20),
            "prospects_reached": reached,
            "prospects_replied": _int(rng, 0, opened),
            "total_contacted": total,
        },
    }


class EmulatorStore:
    """Records served by the emulator, guarded by `lock`; `version` grows on every change.

    Change records through the methods here (or call `bump()` after editing the lists by
    hand) so the emulator's per-version page cache sees the change. Changed leads are replaced
    by new dicts (copy-on-write), so a response being built from an older version stays whole.
    """

    def __init__(
        self,
        users: list[dict] | None = None,
        leads: list[dict] | None = None,
        campaigns: list[dict] | None = None,
        *,
        seed: int = 0,
        with_updated_at: bool = True,
    ) -> None:
        self.users = list(users or [])
        self.leads = list(leads or [])
        self.campaigns = list(campaigns or [])
        self.with_updated_at = with_updated_at
        self.version = 0
        self.lock = threading.RLock()
        self._rng = random.Random(f"persistiq-store-mutations:{seed}")

    def records(self, resource: str) -> list[dict]:
        """The live list for `resource` (one of RESOURCES)."""
        if resource not in RESOURCES:
            raise KeyError(resource)
        return getattr(self, resource)

    def bump(self) -> int:
        """Mark the data as changed; returns the new version."""
        with self.lock:
            self.version += 1
            return self.version

    def replace(self, resource: str, records: list[dict]) -> None:
        """Swap in a new list of records for `resource`."""
        with self.lock:
            self.records(resource)  # validates the name
            setattr(self, resource, list(records))
            self.version += 1

    def update_leads(
        self,
        count: int | None = None,
        ids: list[str] | None = None,
        at: datetime | None = None,
    ) -> list[str]:
        """Change the status of leads `ids`, or of `count` leads picked by the seeded rng.

        Sets `updated_at` to `at` (default: now, UTC) on leads that carry the field; leads
        without it stay without it. Returns the ids changed, in the order given or picked.
        """
        if (count is None) == (ids is None):
            raise ValueError("pass exactly one of count= or ids=")
        stamp = format_timestamp(at or datetime.now(UTC))
        with self.lock:
            position = {lead["id"]: index for index, lead in enumerate(self.leads)}
            if ids is None:
                ids = [
                    self.leads[i]["id"]
                    for i in self._rng.sample(range(len(self.leads)), min(count, len(self.leads)))
                ]
            missing = [lead_id for lead_id in ids if lead_id not in position]
            if missing:
                raise KeyError(f"unknown lead ids: {missing[:5]}")
            for lead_id in ids:
                index = position[lead_id]
                lead = dict(self.leads[index])
                others = [s for s in LEAD_STATUSES if s != lead.get("status")]
                lead["status"] = _pick(self._rng, others)
                if "updated_at" in lead:
                    lead["updated_at"] = stamp
                self.leads[index] = lead
            self.version += 1
            return list(ids)

    def add_leads(self, n: int, at: datetime | None = None) -> list[str]:
        """Append `n` new leads created and updated at `at` (default: now, UTC); returns ids."""
        moment = at or datetime.now(UTC)
        stamp, seconds = format_timestamp(moment), int(moment.timestamp())
        with self.lock:
            taken = {lead["id"] for lead in self.leads}
            user_ids = [user["id"] for user in self.users]
            new = []
            for _ in range(n):
                lead_id = _new_id(self._rng, "l", taken)
                lead = _make_lead(self._rng, lead_id, len(taken), user_ids, seconds, seconds, False)
                if self.with_updated_at:
                    lead["created_at"] = lead["updated_at"] = stamp
                new.append(lead)
            self.leads.extend(new)
            self.version += 1
            return [lead["id"] for lead in new]

    def remove_leads(self, ids: list[str]) -> None:
        """Delete the leads with these ids (unknown ids are ignored)."""
        doomed = set(ids)
        with self.lock:
            self.leads = [lead for lead in self.leads if lead["id"] not in doomed]
            self.version += 1


def make_dataset(
    users: int = 5,
    leads: int = 250,
    campaigns: int = 12,
    seed: int = 0,
    updated_from: datetime = DEFAULT_UPDATED_FROM,
    updated_to: datetime = DEFAULT_UPDATED_TO,
    with_updated_at: bool = True,
) -> EmulatorStore:
    """Build a store of generated records; the same arguments always give the same data.

    Lead `updated_at` values are spread uniformly over [updated_from, updated_to] at whole
    seconds, with `created_at` between `updated_from` and `updated_at`. With
    `with_updated_at=False` leads carry neither key, like the public docs' sample lead.
    """
    rng = random.Random(seed)
    taken: set[str] = set()
    user_records = [_make_user(rng, i, taken) for i in range(users)]
    user_ids = [user["id"] for user in user_records]
    start = int(updated_from.timestamp())
    span = int((updated_to - updated_from).total_seconds())
    lead_records = []
    for serial in range(leads):
        updated = start + _int(rng, 0, span)
        created = _int(rng, start, updated)
        lead_id = _new_id(rng, "l", taken)
        lead_records.append(
            _make_lead(rng, lead_id, serial, user_ids, created, updated, with_updated_at)
        )
    campaign_records = [
        _make_campaign(rng, index, user_records, taken) for index in range(campaigns)
    ]
    return EmulatorStore(
        user_records,
        lead_records,
        campaign_records,
        seed=seed,
        with_updated_at=with_updated_at,
    )
