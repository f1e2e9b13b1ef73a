"""`complaintbot classify TEXT | --jsonl FILE | --eval FILE`: the keyword classifier in a shell."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from nlp import LexiconError, get_classifier
from nlp.classifier import Classifier
from nlp.evaluation import evaluate, format_report

LABEL_KEYS = ("kind", "category", "severity")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `classify` command."""
    parser = subparsers.add_parser(
        "classify",
        help="classify a driver's message (kind, category, severity, entities)",
        description="Print one JSON object per message, as in ARCHITECTURE.md's contract.",
    )
    parser.add_argument("text", nargs="?", help="the message to classify")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--jsonl", type=Path, metavar="FILE", help='lines {"id", "text", "sent_at"?}; - for stdin'
    )
    source.add_argument(
        "--eval", type=Path, metavar="FILE", help="labelled lines (dev set format): print scores"
    )
    parser.add_argument("--lexicon", type=Path, help="extra lexicon file (default: LEXICON_FILE)")
    parser.add_argument("--now", help="ISO time that relative times resolve against")
    parser.add_argument("--errors", action="store_true", help="with --eval: list wrong lines")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class _Line:
    number: int
    record: dict[str, Any] | None
    error: str | None


def _lines(handle: BinaryIO) -> Iterator[_Line]:
    """JSON objects of a JSONL byte stream; a bad line becomes an error, never an exception."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Line(number, None, f"invalid UTF-8 at byte {exc.start}")
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield _Line(number, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield _Line(number, None, "expected a JSON object")
        elif not isinstance(record.get("text"), str):
            yield _Line(number, record, 'missing or non-string "text"')
        else:
            yield _Line(number, record, None)


def _time(value: object) -> datetime | None:
    """An ISO-8601 time, or None when absent; ValueError when present and unreadable."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"sent_at must be an ISO-8601 string, not {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _emit(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _open(path: Path) -> AbstractContextManager[BinaryIO]:
    if str(path) == "-":
        return contextlib.nullcontext(sys.stdin.buffer)  # never close the process's stdin
    return path.open("rb")


def _classify_lines(classifier: Classifier, path: Path, now: datetime | None, out: TextIO) -> int:
    failures = 0
    with _open(path) as handle:
        for line in _lines(handle):
            ident = line.record.get("id") if line.record else None
            problem = line.error
            if problem is None and line.record is not None:
                try:
                    moment = _time(line.record.get("sent_at")) or now
                    result = classifier.classify(line.record["text"], now=moment)
                except ValueError as exc:
                    problem = f"bad sent_at: {exc}"
                else:
                    _emit(out, result.to_contract(ident))
                    continue
            failures += 1
            _emit(out, {"id": ident, "line": line.number, "error": problem})
            print(f"complaintbot classify: line {line.number}: {problem}", file=sys.stderr)
    return failures


def _evaluate(classifier: Classifier, path: Path, show_errors: bool, out: TextIO) -> int:
    records: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    skipped = 0
    with _open(path) as handle:
        for line in _lines(handle):
            record = line.record
            missing = [
                k for k in LABEL_KEYS if record is None or not isinstance(record.get(k), str)
            ]
            if line.error or record is None or missing:
                skipped += 1
                reason = line.error or f"missing labels: {', '.join(missing)}"
                print(f"complaintbot classify: line {line.number}: {reason}", file=sys.stderr)
                continue
            try:
                moment = _time(record.get("sent_at"))
            except ValueError:
                moment = None
            records.append(record)
            predictions.append(
                classifier.classify(record["text"], now=moment).to_contract(record.get("id"))
            )
    if not records:
        print("complaintbot classify: no labelled lines to evaluate", file=sys.stderr)
        return 1
    out.write(format_report(evaluate(records, predictions), show_errors=show_errors) + "\n")
    if skipped:
        out.write(f"skipped lines: {skipped}\n")
    return 0


def _settings_paths(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """(extra lexicon, jieba cache dir): flags first, then the service settings."""
    from bot.settings import get_settings  # only here: `classify TEXT` works without a .env

    settings = get_settings()
    return args.lexicon or settings.lexicon_file, settings.jieba_cache_dir


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 1 when some lines failed, 2 on bad usage or lexicon."""
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(encoding="utf-8")
    sources = [args.text is not None, args.jsonl is not None, args.eval is not None]
    if sum(sources) != 1:
        print("complaintbot classify: give TEXT, --jsonl FILE or --eval FILE", file=sys.stderr)
        return 2
    try:
        now = _time(args.now)
    except ValueError as exc:
        print(f"complaintbot classify: --now: {exc}", file=sys.stderr)
        return 2
    lexicon, cache_dir = _settings_paths(args)
    try:
        classifier = get_classifier(lexicon, cache_dir)
    except LexiconError as exc:
        print(f"complaintbot classify: lexicon error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.text is not None:
            _emit(out, classifier.classify(args.text, now=now).to_contract(None))
            return 0
        if args.jsonl is not None:
            return 1 if _classify_lines(classifier, args.jsonl, now, out) else 0
        return _evaluate(classifier, args.eval, args.errors, out)
    except OSError as exc:
        print(f"complaintbot classify: {exc}", file=sys.stderr)
        return 2
