"""Console full-text search: jieba tokens on SQLite FTS5 and PostgreSQL tsvector, kept fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ops_support import file_ticket, load_city, staff_id
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from handlers.console_queries import Filters, queue_page
from handlers.console_search import catch_up, index_text, parse_query, reindex_all
from handlers.workdays import WorkCalendar
from storage.console_models import TicketSearch
from storage.console_search import Query, render_fts5, render_tsquery
from storage.engine import transaction
from storage.lifecycle import Action
from storage.models import Staff, Ticket
from storage.tickets import apply_action

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
TEXTS = {
    "station": "北岭治超站罚款两千元不开票，还说是加急费",
    "detector": "在北岭超限检测站被扣车三天",
    "service": "西山服务区厕所没有热水",
    "phone": "有事打我电话13812345678",
    "markup": "<script>alert(1)</script> 西山服务区",
}


@pytest.fixture
def city(any_engine: Engine, calendar: WorkCalendar) -> tuple[Engine, dict[str, str]]:
    """The sample city with one ticket per text, all handled by 二大队 (西山服务区)."""
    load_city(any_engine, NOW)
    numbers = {
        key: file_ticket(
            any_engine, now=NOW, calendar=calendar, description=body, place_text="西山服务区"
        ).ticket_no
        for key, body in TEXTS.items()
    }
    return any_engine, numbers


def search(engine: Engine, username: str, words: str, queue: str = "all") -> list[str]:
    """Ticket numbers a staff member finds (the search path indexes what changed first)."""
    person_id = staff_id(engine, username)
    with transaction(engine) as session:
        catch_up(session)
        person = session.get(Staff, person_id)
        assert person is not None
        page = queue_page(
            session, person=person, queue=queue, filters=Filters(q=words), now=NOW, tz=TZ
        )
        assert page.searched
        return [row.ticket_no for row in page.rows]


def test_tokens_are_jieba_words_with_bigrams_of_long_ones() -> None:
    tokens = index_text("北岭治超站罚款，G4高速").split()
    assert {"北岭", "治超站", "罚款", "g4", "治超", "超站"} <= set(tokens)
    assert "，" not in tokens
    assert parse_query("超限检测站 罚款") == Query(
        ((("超限检测站",), ("超限", "限检", "检测", "测站")), (("罚款",),))
    )


def test_identifiers_are_masked_before_indexing() -> None:
    tokens = index_text("电话13812345678，车牌湘A12345").split()
    assert "13812345678" not in tokens and "湘a12345" not in tokens


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("治超站", {"station"}),
        ("罚款", {"station"}),
        ("治超站 罚款", {"station"}),
        ("检测站", {"detector"}),  # jieba cut 超限检测站 as one word: found by its bigrams
        ("扣车", {"detector"}),
        ("西山服务区", set(TEXTS)),  # the place is indexed too
        ("熱水", {"service"}),  # traditional characters fold to simplified
        ("罚款 热水", set()),  # every word must match
    ],
)
def test_chinese_words_are_found(
    city: tuple[Engine, dict[str, str]], words: str, expected: set[str]
) -> None:
    engine, numbers = city
    found = set(search(engine, "chen.dd2", words))
    assert found == {numbers[key] for key in expected}


@pytest.mark.parametrize(
    "words",
    [
        "' OR 1=1 --",
        "'; DROP TABLE tickets; --",
        '" OR ""="',
        "治超站' UNION SELECT * FROM complainants --",
        "NEAR(a b) AND * OR -x ^y",
        "a & b | !c <-> d:*",
        "\\x00 % _",
    ],
)
def test_sql_and_query_syntax_is_plain_text(
    city: tuple[Engine, dict[str, str]], words: str
) -> None:
    engine, numbers = city
    found = search(engine, "chen.dd2", words)
    assert set(found) <= set(numbers.values())
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == len(TEXTS)
    if "治超站" in words:
        assert found == []  # 治超站 AND union AND select … : the other words match nothing


def test_a_masked_phone_number_cannot_be_searched(city: tuple[Engine, dict[str, str]]) -> None:
    engine, _ = city
    assert search(engine, "chen.dd2", "13812345678") == []


def test_search_keeps_to_what_the_staff_member_may_see(
    city: tuple[Engine, dict[str, str]],
) -> None:
    engine, numbers = city
    assert search(engine, "li.dd1", "治超站") == []  # 一大队 does not handle 二大队's tickets
    assert search(engine, "sun.jjz", "治超站") == []  # discipline: sealed tickets only
    assert search(engine, "admin", "治超站") == [numbers["station"]]


def test_the_index_follows_changes_and_reindex_repairs(
    city: tuple[Engine, dict[str, str]],
) -> None:
    engine, numbers = city
    assert search(engine, "chen.dd2", "高架桥") == []
    with transaction(engine) as session:
        apply_action(
            session,
            ticket_no=numbers["service"],
            action=Action.NOTE,
            actor="system",
            now=NOW + timedelta(minutes=1),
            changes={"description": "高架桥下积水"},
        )
    assert search(engine, "chen.dd2", "高架桥") == [numbers["service"]]
    with transaction(engine) as session:
        session.execute(text("DELETE FROM ticket_search"))
    with transaction(engine) as session:
        assert reindex_all(session) == len(TEXTS)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(TicketSearch)).one() == len(TEXTS)
    assert search(engine, "chen.dd2", "高架桥") == [numbers["service"]]


def test_rendered_queries_quote_every_token() -> None:
    query = Query(((("治超站",), ("治超", "超站")), (("罚款",),), (("or",),)))
    assert render_fts5(query) == '(("治超站") OR ("治超" AND "超站")) AND ("罚款") AND ("or")'
    assert render_tsquery(query) == "((治超站) | (治超 & 超站)) & (罚款) & (or)"
    dirty = Query(((("a'b",), ('"',)),))
    assert render_fts5(dirty) == "" and render_tsquery(dirty) == ""


def test_search_pages_by_id(city: tuple[Engine, dict[str, str]]) -> None:
    engine, numbers = city
    person_id = staff_id(engine, "chen.dd2")
    seen: list[str] = []
    cursor = None
    with transaction(engine) as session:
        catch_up(session)
        person = session.get(Staff, person_id)
        assert person is not None
        for _ in range(5):
            page = queue_page(
                session,
                person=person,
                queue="all",
                filters=Filters(q="西山服务区"),
                now=NOW,
                tz=TZ,
                cursor=cursor,
                page_size=1,
            )
            seen += [r.ticket_no for r in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == sorted(numbers.values(), reverse=True)


@pytest.mark.parametrize("cap", [0, 1, 10_000])
def test_both_postgres_plans_find_the_same(
    city: tuple[Engine, dict[str, str]], monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    # Few matches are fetched by id, many walk the newest tickets: the answer is the same.
    monkeypatch.setattr("storage.console_search.SPARSE_MATCHES", cap)
    engine, numbers = city
    assert set(search(engine, "chen.dd2", "西山服务区")) == set(numbers.values())
    assert search(engine, "chen.dd2", "扣车") == [numbers["detector"]]
