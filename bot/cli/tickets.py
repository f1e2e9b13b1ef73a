"""`complaintbot tickets list|show`: read tickets from the shell (never identity)."""

from __future__ import annotations

import argparse
import json
import sys

from bot.settings import get_settings
from storage.engine import make_engine, transaction
from storage.errors import TicketNotFound
from storage.events import list_events, verify_chain
from storage.tickets import get_ticket, list_tickets


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `tickets` command."""
    parser = subparsers.add_parser("tickets", help="list or show tickets")
    actions = parser.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="newest tickets first")
    listing.add_argument("--status")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one ticket with its audit trail")
    show.add_argument("ticket_no")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    """Print one line per ticket."""
    engine = make_engine(get_settings().database_url)
    with transaction(engine) as session:
        for t in list_tickets(session, status=args.status, limit=args.limit):
            due = t.due_at.date().isoformat() if t.due_at else "-"
            print(f"{t.ticket_no}  {t.status:<12} {t.kind:<10} {t.category:<15} due {due}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print a ticket's facts and events, and whether its hash chain is intact."""
    engine = make_engine(get_settings().database_url)
    with transaction(engine) as session:
        try:
            ticket = get_ticket(session, ticket_no=args.ticket_no)
        except TicketNotFound as exc:
            print(f"complaintbot: {exc}", file=sys.stderr)
            return 1
        assert ticket.id is not None
        events = list_events(session, ticket_id=ticket.id)
        chain = verify_chain(session, ticket_id=ticket.id)
    facts = ticket.model_dump(
        mode="json", exclude={"complainant_id", "description", "classification"}
    )
    if args.json:
        body = {
            "ticket": facts,
            "events": [e.model_dump(mode="json") for e in events],
            "chain_ok": chain.ok,
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    for key, value in facts.items():
        print(f"{key:>22}: {value}")
    print("events:")
    for e in events:
        move = f"{e.from_status or '-'} → {e.to_status or '-'}"
        print(f"  #{e.seq} {e.created_at:%Y-%m-%d %H:%M} {e.actor:<12} {e.action:<18} {move}")
    verdict = "intact" if chain.ok else f"BROKEN at #{chain.first_bad_seq}: {chain.problem}"
    print(f"audit chain: {verdict}")
    return 0
