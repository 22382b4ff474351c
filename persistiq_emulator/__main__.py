"""Run the PersistIQ emulator until SIGINT/SIGTERM: `python -m persistiq_emulator`."""

from __future__ import annotations

import argparse
import signal
import threading

from persistiq_emulator.data import EVENT_SHAPES, WINDOW_ENDS
from persistiq_emulator.generate import make_dataset
from persistiq_emulator.server import NEXT_PAGE_STYLES, PersistIQEmulator
from persistiq_emulator.variants import CONTRACT_VARIANTS, server_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m persistiq_emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--leads", type=int, default=250)
    parser.add_argument("--campaigns", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--replies", type=int, default=60)
    parser.add_argument("--tags", type=int, default=25)
    parser.add_argument("--dnc-domains", type=int, default=130)
    parser.add_argument(
        "--event-shape",
        choices=EVENT_SHAPES,
        default="openapi",
        help="events as in PersistIQ's OpenAPI file, or as on its docs pages",
    )
    parser.add_argument(
        "--window-ends",
        choices=WINDOW_ENDS,
        default="inclusive",
        help="whether start_at/end_at windows (events, replies) include their ends",
    )
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window")
    parser.add_argument("--rate-limit-window", type=float, default=60.0, help="seconds")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--next-page-style", choices=NEXT_PAGE_STYLES, default="url")
    parser.add_argument(
        "--next-page-keeps-params",
        action="store_true",
        help="keep the request's filters in next_page URLs (default: page only)",
    )
    parser.add_argument(
        "--no-updated-at", action="store_true", help="leads without created_at/updated_at"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        choices=(*CONTRACT_VARIANTS, "all"),
        help="vary the data or the answers over what PersistIQ's contract allows (repeatable; "
        "'all' for every variant: see persistiq_emulator/variants.py)",
    )
    return parser.parse_args(argv)


def chosen_variants(named: list[str]) -> tuple[str, ...]:
    return CONTRACT_VARIANTS if "all" in named else tuple(dict.fromkeys(named))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = chosen_variants(args.variant)
    store = make_dataset(
        users=args.users,
        leads=args.leads,
        campaigns=args.campaigns,
        seed=args.seed,
        with_updated_at=not args.no_updated_at,
        events=args.events,
        replies=args.replies,
        tags=args.tags,
        dnc_domains=args.dnc_domains,
        event_shape=args.event_shape,
        variants=variants,
    )
    settings = {"next_page_keeps_params": args.next_page_keeps_params, **server_settings(variants)}
    emulator = PersistIQEmulator(
        store=store,
        api_key=args.api_key,
        page_size=args.page_size,
        next_page_style=args.next_page_style,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
        fault_rate=args.fault_rate,
        latency=args.latency,
        window_ends=args.window_ends,
        host=args.host,
        port=args.port,
        **settings,
    )
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    with emulator:
        print(f"PersistIQ emulator serving {emulator.base_url}", flush=True)
        while not stop_requested.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
