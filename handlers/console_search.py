"""Full-text search of ticket text with jieba tokens, and the indexer that keeps up with tickets.

What is indexed: description, place and time text, lower-cased, traditional folded to
simplified, with phones, plates and ID numbers masked first (a search must not confirm a
driver's phone number that the page itself masks). Each jieba token is kept, plus the
character bigrams of Chinese tokens of three or more characters, so 检测站 finds a ticket
whose text jieba cut as 超限检测站.

Freshness: the index follows tickets by `updated_at` and version (catch-up). Every search
first indexes what changed since the newest indexed change (minus an overlap for writers
whose transactions committed late), in a bounded batch; `complaintbot console reindex`
rebuilds everything (after an upgrade, or to repair). Ticket creation is left untouched.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from sqlmodel import Session

from nlp.classifier import get_classifier
from nlp.entities import mask_identifiers
from nlp.normalize import normalize
from nlp.tokenizer import Segmenter
from storage.console_search import (
    IndexRow,
    Query,
    Term,
    ensure_fts,
    stale_tickets,
    upsert_rows,
    watermark,
)

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 100
MAX_QUERY_TERMS = 8
MAX_TOKEN_CHARS = 32
CATCH_UP_BATCH = 200
# Transactions that commit after a later one: their updated_at sits below the watermark.
CATCH_UP_OVERLAP = timedelta(minutes=10)


@functools.cache
def _segmenter() -> Segmenter:
    # The shipped lexicon's segmenter, whatever a deployment adds: index and queries must be
    # cut the same way, or words stop matching after a lexicon change.
    return get_classifier().segmenter


def _is_cjk(token: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in token)


def _bigrams(token: str) -> tuple[str, ...]:
    return tuple(token[i : i + 2] for i in range(len(token) - 1))


def tokens_of(text: str) -> list[str]:
    """jieba tokens of normalised text, letters and digits only, in order, unique."""
    seen: dict[str, None] = {}
    for raw in _segmenter().cut(normalize(text).match):
        token = raw.strip()
        if token and len(token) <= MAX_TOKEN_CHARS and all(ch.isalnum() for ch in token):
            seen.setdefault(token, None)
    return list(seen)


def index_text(*texts: str) -> str:
    """The space-joined tokens stored for a ticket's texts (identifiers masked first)."""
    words: dict[str, None] = {}
    for text in texts:
        for token in tokens_of(mask_identifiers(text)):
            words.setdefault(token, None)
            if len(token) >= 3 and _is_cjk(token):
                for pair in _bigrams(token):
                    words.setdefault(pair, None)
    return " ".join(words)


def parse_query(raw: str) -> Query:
    """A user's search text as a `Query`; anything but words and numbers is dropped."""
    terms: list[Term] = []
    for token in tokens_of(raw[:MAX_QUERY_CHARS])[:MAX_QUERY_TERMS]:
        if len(token) >= 3 and _is_cjk(token):
            terms.append(((token,), _bigrams(token)))
        else:
            terms.append(((token,),))
    return Query(tuple(terms))


def catch_up(session: Session, *, limit: int = CATCH_UP_BATCH) -> int:
    """Index tickets changed since the last run (at most `limit`); returns how many."""
    if ensure_fts(session):
        log.info("search: built the SQLite full-text index")
    mark = watermark(session)
    stale = stale_tickets(
        session, since=mark - CATCH_UP_OVERLAP if mark is not None else None, limit=limit
    )
    upsert_rows(
        session,
        [IndexRow(t.ticket_id, t.version, index_text(*t.texts), t.updated_at) for t in stale],
    )
    return len(stale)


def reindex_all(session: Session, *, batch: int = 1000) -> int:
    """Index every ticket whose row is missing or old, whatever its age; returns how many."""
    ensure_fts(session)
    done = 0
    while stale := stale_tickets(session, since=None, limit=batch):
        upsert_rows(
            session,
            [IndexRow(t.ticket_id, t.version, index_text(*t.texts), t.updated_at) for t in stale],
        )
        done += len(stale)
    return done
