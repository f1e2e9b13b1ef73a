"""`complaintbot callbacks sample|list`: the monthly manual callback sample (抽查回访).

    complaintbot callbacks sample --month 2026-10 [--seed N] [--ratio 0.1]
    complaintbot callbacks list [--month 2026-10] [--status open]

Sampling a month twice returns the tasks drawn the first time. Results are recorded in the
staff console (handlers.callbacks.record_callback_result).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.settings import get_settings
from handlers.callbacks import callback_tasks, sample_callbacks
from handlers.months import Month, MonthError
from storage.engine import make_engine, transaction
from storage.types import utcnow


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `callbacks` command."""
    parser = subparsers.add_parser("callbacks", help="manual callback sample and tasks")
    actions = parser.add_subparsers(dest="callbacks_command", metavar="ACTION", required=True)
    sample = actions.add_parser("sample", help="draw a month's callback tasks (once)")
    sample.add_argument("--month", required=True, help="the month whose closed tickets, YYYY-MM")
    sample.add_argument("--seed", type=int, help="random seed (default: the month, 202610)")
    sample.add_argument("--ratio", type=float, help="share to sample (default CALLBACK_RATIO)")
    sample.add_argument("--now", help=argparse.SUPPRESS)
    sample.set_defaults(func=run_sample)
    listing = actions.add_parser("list", help="callback tasks (no identity)")
    listing.add_argument("--month")
    listing.add_argument("--status", choices=("open", "done", "unreachable"))
    listing.set_defaults(func=run_list)


def run_sample(args: argparse.Namespace) -> int:
    """Draw the sample and print the ticket numbers."""
    settings = get_settings()
    ratio = settings.callback_ratio if args.ratio is None else args.ratio
    now = datetime.fromisoformat(args.now) if args.now else utcnow()
    engine = make_engine(settings.database_url)
    try:
        month = Month.parse(args.month)
        with transaction(engine) as session:
            sample = sample_callbacks(
                session,
                month=month,
                ratio=ratio,
                now=now,
                seed=args.seed,
                tz=ZoneInfo(settings.timezone),
            )
    except (MonthError, ValueError) as exc:
        print(f"complaintbot callbacks: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    verb = "sampled" if sample.created else "already sampled"
    print(
        f"{sample.month}: {verb} {len(sample.ticket_nos)} of {sample.eligible} eligible "
        f"tickets (seed {sample.seed})"
    )
    if not sample.created and args.seed is not None and args.seed != sample.seed:
        print(f"note: --seed {args.seed} ignored; the month was drawn with seed {sample.seed}")
    for ticket_no in sample.ticket_nos:
        print(f"  {ticket_no}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """One line per task."""
    engine = make_engine(get_settings().database_url)
    try:
        month = Month.parse(args.month) if args.month else None
    except MonthError as exc:
        print(f"complaintbot callbacks: {exc}", file=sys.stderr)
        return 2
    with transaction(engine) as session:
        lines = callback_tasks(session, month=month, status=args.status)
    engine.dispose()
    for line in lines:
        result = line.satisfaction or "-"
        print(f"{line.task_id:>6}  {line.month}  {line.ticket_no}  {line.status:<11} {result}")
    return 0
