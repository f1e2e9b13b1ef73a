"""The console's authorisation matrix: role × page or action × own unit / other unit / sealed.

Every cell is a real request: GETs by direct URL and form POSTs with a valid CSRF token.
Expected answers: 404 when the ticket is not the staff member's to see (the same answer as
for a ticket that does not exist), 403 when they see it but their role may not do this, and
anything else (done, or refused for a business reason such as the ticket's state) when the
rules allow it. A refused request changes nothing: ticket, audit trail, outbox, identity log.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import FormData
from console_support import (
    Agent,
    Console,
    add_driver,
    file_ticket,
    load_city,
    sign_in,
    snapshot,
    start_console,
)
from sqlalchemy import Engine
from sqlmodel import Session, select
from webchat_support import make_png

from storage.engine import make_engine, transaction
from storage.models import Attachment, Ticket

# Who, by their relation to the tickets below (docs/city.sample.toml).
STAFF = {
    "handler": "chen.dd2",  # 二大队 handler: the "own" ticket is theirs
    "unit_head": "wu.dd2",  # 二大队 head
    "other_handler": "li.dd1",  # 一大队 handler
    "supervisor": "wang.fzk",  # 法制科: every unit but the discipline unit
    "discipline": "sun.jjz",
    "admin": "admin",
    "accused_head": "he.zcz",  # head of 北岭治超站, the unit the accused tickets are about
}
TARGETS = ("own", "other", "accused", "sealed")
KIND_OF = {"own": "dd2", "other": "dd1", "accused": "accused", "sealed": "sealed"}
SEES = {
    "handler": {"own"},
    "unit_head": {"own"},
    "other_handler": {"other"},
    "supervisor": {"own", "other", "accused"},
    "discipline": {"sealed"},
    "admin": set(TARGETS),
    "accused_head": set(),  # never the complaint about its own unit, never a sealed clue
}
FORMS: dict[str, dict[str, str]] = {
    "sign": {},
    "handle": {},
    "note": {"note": "电话核实"},
    "reply": {"message": "经核查，已责令整改。"},
    "close": {},
    "reject": {"reason": "no_facts", "note": "无具体事实"},
    "transfer": {"unit": "DD3", "reason": "属三大队辖区"},
    "accept": {},
    "return": {"reason": "不属于本单位"},
    "extend": {"reason": "需调取录像"},
    "approve": {},
    "assign": {"assignee": "chen.dd2"},
    "supervise": {"level": "yellow", "deadline": "2026-12-31", "note": "请按期办结"},
    "recategorize": {"category": "other", "note": "更正"},
    "identity": {"reason": "电话回访核实"},
}
OPERATIONS = ("page", "file", "listed", *FORMS, "attach")


def expected(role: str, target: str, operation: str) -> int | None:
    """404 / 403 for a refusal, None where the rules allow the request."""
    if target not in SEES[role]:
        return 404
    unit_staff = role in ("handler", "other_handler", "unit_head")
    if operation in ("approve", "supervise") and unit_staff:
        return 403  # supervising roles only
    if operation == "assign" and role in ("handler", "other_handler"):
        return 403  # heads, supervisors, inspectors and admins assign
    if operation in ("accept", "return") and role not in ("admin", "discipline"):
        return 403  # only the unit a transfer waits on; none of these tickets is in transfer
    if operation == "identity":
        allowed = {("supervisor", "own"), ("supervisor", "other"), ("supervisor", "accused")}
        allowed |= {("admin", "own"), ("admin", "other"), ("admin", "accused")}
        allowed |= {("discipline", "sealed")}  # and not even an admin sees a sealed clue's source
        return None if (role, target) in allowed else 403
    return None


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One database for the whole matrix: the sample city and a driver."""
    path = tmp_path_factory.mktemp("authz") / "console.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    load_city(engine)
    add_driver(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def console(world: Engine, tmp_path: Path) -> AsyncIterator[Console]:
    """The app on the matrix database."""
    running = await start_console(world, tmp_path)
    yield running
    await running.client.close()


def new_ticket(console: Console, target: str) -> tuple[str, int]:
    """A fresh ticket of the target kind with one stored photo; (number, attachment id)."""
    number = file_ticket(console.engine, console.calendar, KIND_OF[target], complainant_id=1)
    png = make_png(8, 8)
    digest = hashlib.sha256(png).hexdigest()
    stored = console.services.settings.attachments_dir / digest[:2] / digest
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(png)
    with transaction(console.engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == number)).one()
        row = Attachment(
            ticket_id=ticket.id,
            channel="test",
            kind="image",
            mime="image/png",
            size=len(png),
            sha256=digest,
            filename="photo.png",
            storage_path=f"{digest[:2]}/{digest}",
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return number, row.id


async def request(agent: Agent, operation: str, number: str, attachment: int) -> tuple[int, str]:
    """Send one cell's request; (status, body)."""
    if operation == "page":
        response = await agent.get(f"/console/t/{number}")
    elif operation == "file":
        response = await agent.get(f"/console/a/{attachment}")
    elif operation == "attach":
        form = FormData()
        form.add_field("csrf", agent.csrf)
        form.add_field("file", make_png(), filename="doc.png", content_type="image/png")
        response = await agent.console.client.post(
            f"/console/t/{number}/attach",
            data=form,
            headers={"Cookie": f"cb_console={agent.cookie}"},
            allow_redirects=False,
        )
    elif operation == "listed":
        response = await agent.get("/console/q/all")
        body = await response.text()
        return (200, "") if response.status == 200 and f"/console/t/{number}" in body else (404, "")
    else:
        response = await agent.post(f"/console/t/{number}/{operation}", FORMS[operation])
    body = await response.read()
    return response.status, body.decode("utf-8", "replace")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", list(STAFF))
async def test_matrix(console: Console, role: str, target: str) -> None:
    agent = Agent(console, sign_in(console.engine, STAFF[role], now=console.clock.now))
    shared, shared_file = new_ticket(console, target)
    wrong: list[tuple[str, int, int | None]] = []
    for operation in OPERATIONS:
        want = expected(role, target, operation)
        mutates = operation not in ("page", "file", "listed")
        number, attachment = (
            new_ticket(console, target) if mutates and want is None else (shared, shared_file)
        )
        before = snapshot(console.engine, number)
        status, body = await request(agent, operation, number, attachment)
        if want is None:
            if status in (403, 404) or status >= 500:
                wrong.append((operation, status, want))
        else:
            if status != want or snapshot(console.engine, number) != before:
                wrong.append((operation, status, want))
            if operation in ("page", "file") and number in body:
                wrong.append((f"{operation} leaks the number", status, want))
    assert wrong == [], f"{role} on the {target} ticket"


async def test_no_queue_or_filter_reaches_another_units_ticket(console: Console) -> None:
    other, _ = new_ticket(console, "other")
    sealed, _ = new_ticket(console, "sealed")
    agent = Agent(console, sign_in(console.engine, "chen.dd2", now=console.clock.now))
    with Session(console.engine) as session:
        unit = session.exec(select(Ticket.unit_id).where(Ticket.ticket_no == other)).one()
    for path in (
        "/console/q/all",
        f"/console/q/all?unit={unit}",
        "/console/q/unit?status=received",
        f"/console/q/all?q={other}",
        "/console/q/all?q=出租车",
        "/console/q/incoming",
        "/console/q/all?category=rent_seeking",
    ):
        response = await agent.get(path)
        body = await response.text()
        assert response.status == 200, path
        assert f"/console/t/{other}" not in body and f"/console/t/{sealed}" not in body, path
    assert (await agent.get("/console/q/discipline")).status == 403
    assert (await agent.get("/console/dashboard")).status == 403


async def test_the_accused_unit_never_reaches_identity_or_a_rent_seeking_ticket(
    console: Console,
) -> None:
    accused, _ = new_ticket(console, "accused")
    sealed, photo = new_ticket(console, "sealed")
    head = Agent(console, sign_in(console.engine, "he.zcz", now=console.clock.now))
    for number in (accused, sealed):
        assert (await head.get(f"/console/t/{number}")).status == 404
        response = await head.post(f"/console/t/{number}/identity", {"reason": "想知道是谁投诉"})
        assert response.status == 404
    assert (await head.get(f"/console/a/{photo}")).status == 404
    for queue in ("all", "unit", "overdue", "supervised", "urgent"):
        body = await (await head.get(f"/console/q/{queue}")).text()
        assert accused not in body and sealed not in body
    body = await (await head.get("/console/q/all?q=治超站")).text()
    assert accused not in body and sealed not in body
    assert (await head.get("/console/dashboard")).status == 403
