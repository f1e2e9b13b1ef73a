"""The lifecycle table, driven through apply_action on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from storage_support import (
    NOW,
    events_of,
    load,
    make_unit,
    new_ticket,
    path_to,
    receiving_unit_id,
    snapshot,
    ticket_in,
    walk_to,
)

from storage.engine import transaction
from storage.errors import ConflictError, TicketNotFound
from storage.lifecycle import (
    FINAL_STATES,
    OPEN_STATES,
    STATUS_KEEPING,
    TRANSITIONS,
    Action,
    IllegalTransition,
    TicketStatus,
    allowed_actions,
    next_status,
)
from storage.tickets import CHANGEABLE_FIELDS, apply_action

LEGAL: list[tuple[Action, TicketStatus, TicketStatus]] = [
    (action, before, after)
    for action, moves in TRANSITIONS.items()
    for before, after in moves.items()
] + [
    (action, status, status)
    for action, states in STATUS_KEEPING.items()
    for status in sorted(states)
]
LEGAL_PAIRS = {(action, before) for action, before, _ in LEGAL}
ILLEGAL: list[tuple[Action, TicketStatus]] = [
    (action, status)
    for action in Action
    for status in TicketStatus
    if (action, status) not in LEGAL_PAIRS
]


def _id(value: object) -> str:
    """Readable parameter ids: the enum's value."""
    return str(getattr(value, "value", value))


# -- the table itself -------------------------------------------------------------------------


def test_table_has_no_action_both_moving_and_keeping() -> None:
    assert not set(TRANSITIONS) & set(STATUS_KEEPING)


def test_every_action_but_create_is_in_the_table() -> None:
    assert set(TRANSITIONS) | set(STATUS_KEEPING) == set(Action) - {Action.CREATE}


def test_open_and_final_states_partition_the_statuses() -> None:
    assert not OPEN_STATES & FINAL_STATES
    assert set(TicketStatus) == OPEN_STATES | FINAL_STATES


@pytest.mark.parametrize("status", list(TicketStatus), ids=_id)
def test_every_status_is_reachable_from_received(status: TicketStatus) -> None:
    path = path_to(status)
    reached = TicketStatus.RECEIVED
    for action in path:
        reached = TRANSITIONS[action][reached]
    assert reached == status


def test_final_states_only_leave_by_reopening_a_closed_ticket() -> None:
    for action, moves in TRANSITIONS.items():
        for before in moves:
            if before in FINAL_STATES:
                assert (action, before) == (Action.REOPEN, TicketStatus.CLOSED)


@pytest.mark.parametrize("status", list(TicketStatus), ids=_id)
def test_allowed_actions_agree_with_next_status(status: TicketStatus) -> None:
    allowed = allowed_actions(status)
    assert allowed == tuple(a for a in Action if (a, status) in LEGAL_PAIRS)
    for action in Action:
        if action in allowed:
            next_status(ticket_no="TS1", action=action, status=status)
        else:
            with pytest.raises(IllegalTransition):
                next_status(ticket_no="TS1", action=action, status=status)


# -- legal actions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "before", "after"), LEGAL, ids=_id)
def test_legal_action_moves_status_and_writes_one_event(
    any_engine: Engine, action: Action, before: TicketStatus, after: TicketStatus
) -> None:
    ticket = ticket_in(any_engine, before)
    assert ticket.status == before
    assert ticket.id is not None
    events_before = events_of(any_engine, ticket.id)
    now = NOW + timedelta(hours=3)

    with transaction(any_engine) as session:
        # A transfer must name the receiving unit; every other action needs no changes.
        changes = (
            {"pending_unit_id": receiving_unit_id(session)} if action is Action.TRANSFER else None
        )
        returned = apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=action,
            actor="staff:42",
            now=now,
            note=f"{action.value} 备注",
            data={"by": "test"},
            changes=changes,
        )
    assert returned.status == after
    assert returned.version == ticket.version + 1

    stored = load(any_engine, ticket.ticket_no)
    assert stored.status == after
    assert stored.version == ticket.version + 1
    assert stored.updated_at == now
    events = events_of(any_engine, ticket.id)
    assert [e.seq for e in events[:-1]] == [e.seq for e in events_before]
    assert len(events) == len(events_before) + 1
    event = events[-1]
    assert event.seq == len(events)
    assert (event.action, event.from_status, event.to_status) == (action, before, after)
    assert (event.actor, event.note) == ("staff:42", f"{action.value} 备注")
    expected_data: dict[str, object] = {"by": "test"}
    if changes:
        expected_data["changes"] = changes
    assert event.data == expected_data
    assert event.created_at == now
    assert event.prev_hash == events_before[-1].hash


# -- refused actions --------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "status"), ILLEGAL, ids=_id)
def test_illegal_pair_names_the_state_and_the_allowed_actions(
    action: Action, status: TicketStatus
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        next_status(ticket_no="TS20261123-0001", action=action, status=status)
    allowed = allowed_actions(status)
    assert refused.value.allowed == allowed
    assert (refused.value.action, refused.value.status) == (action, status)
    message = str(refused.value)
    assert message.startswith(f"TS20261123-0001: cannot {action.value} while {status.value};")
    assert message.endswith("allowed now: " + (", ".join(a.value for a in allowed) or "none"))


@pytest.mark.parametrize("status", list(TicketStatus), ids=_id)
def test_illegal_actions_are_refused_by_the_store_and_change_nothing(
    any_engine: Engine, status: TicketStatus, subtests: pytest.Subtests
) -> None:
    # One ticket per state, every illegal action tried on it (a ticket per pair is slow on PG).
    ticket = ticket_in(any_engine, status)
    before = snapshot(any_engine, ticket.ticket_no)
    illegal = [action for action, state in ILLEGAL if state == status]
    assert illegal, "every state refuses something (at least create)"

    for action in illegal:
        with subtests.test(action=action.value):
            with (
                pytest.raises(IllegalTransition) as refused,
                transaction(any_engine) as session,
            ):
                apply_action(
                    session,
                    ticket_no=ticket.ticket_no,
                    action=action,
                    actor="staff:42",
                    now=NOW + timedelta(hours=3),
                )
            message = str(refused.value)
            assert ticket.ticket_no in message
            assert f"while {status.value};" in message
            for allowed in allowed_actions(status):
                assert allowed.value in message
            assert snapshot(any_engine, ticket.ticket_no) == before


def test_unknown_ticket_number_is_not_found_and_changes_nothing(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    before = snapshot(any_engine, ticket.ticket_no)

    with (
        pytest.raises(TicketNotFound, match="TS20991231-9999") as missing,
        transaction(any_engine) as session,
    ):
        apply_action(session, ticket_no="TS20991231-9999", action=Action.NOTE, actor="x", now=NOW)
    assert missing.value.ticket_no == "TS20991231-9999"
    assert snapshot(any_engine, ticket.ticket_no) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "closed"},
        {"version": 99},
        {"reopen_count": 5},
        {"closed_at": NOW},
        {"ticket_no": "TS20260101-0001"},
        {"complainant_id": None},
        {"category": "other", "created_at": NOW},
    ],
    ids=lambda c: "+".join(c),
)
def test_changes_outside_changeable_fields_are_refused(
    any_engine: Engine, changes: dict[str, Any]
) -> None:
    ticket = new_ticket(any_engine)
    before = snapshot(any_engine, ticket.ticket_no)

    with (
        pytest.raises(ValueError, match="not changeable") as refused,
        transaction(any_engine) as session,
    ):
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.NOTE,
            actor="staff:1",
            now=NOW,
            changes=changes,
        )
    for name in set(changes) - CHANGEABLE_FIELDS:
        assert name in str(refused.value)
    assert snapshot(any_engine, ticket.ticket_no) == before
    assert load(any_engine, ticket.ticket_no).category == ticket.category


def test_changeable_fields_are_applied_and_recorded_in_the_event(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    due = NOW + timedelta(days=15)

    with transaction(any_engine) as session:
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.RECATEGORIZE,
            actor="staff:1",
            now=NOW,
            changes={"category": "attitude", "severity": "urgent", "due_at": due},
        )

    stored = load(any_engine, ticket.ticket_no)
    assert (stored.category, stored.severity, stored.due_at) == ("attitude", "urgent", due)
    assert ticket.id is not None
    event = events_of(any_engine, ticket.id)[-1]
    assert event.data["changes"] == {
        "category": "attitude",
        "severity": "urgent",
        "due_at": due.isoformat(),
    }


def test_stale_expected_version_is_a_conflict_and_changes_nothing(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    walk_to(any_engine, ticket.ticket_no, TicketStatus.VERIFYING)
    before = snapshot(any_engine, ticket.ticket_no)
    assert before.version == 2

    with (
        pytest.raises(ConflictError, match="expected version 1") as conflict,
        transaction(any_engine) as session,
    ):
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.START_HANDLING,
            actor="staff:1",
            now=NOW + timedelta(hours=1),
            expected_version=1,
        )
    assert conflict.value.expected_version == 1
    assert snapshot(any_engine, ticket.ticket_no) == before


# -- fields every action sets by itself -------------------------------------------------------


def test_sign_sets_signed_at(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    assert ticket.signed_at is None
    signed = walk_to(any_engine, ticket.ticket_no, TicketStatus.VERIFYING)
    assert load(any_engine, ticket.ticket_no).signed_at == signed


def test_reply_sets_replied_at(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    replied = walk_to(any_engine, ticket.ticket_no, TicketStatus.REPLIED)
    assert load(any_engine, ticket.ticket_no).replied_at == replied


@pytest.mark.parametrize(
    "final", [TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.WITHDRAWN], ids=_id
)
def test_ending_a_ticket_sets_closed_at(any_engine: Engine, final: TicketStatus) -> None:
    ticket = new_ticket(any_engine)
    ended = walk_to(any_engine, ticket.ticket_no, final)
    stored = load(any_engine, ticket.ticket_no)
    assert stored.status == final
    assert stored.closed_at == ended


def test_reopen_counts_and_clears_closed_and_signed(any_engine: Engine) -> None:
    ticket = ticket_in(any_engine, TicketStatus.CLOSED)
    assert ticket.closed_at is not None
    assert ticket.signed_at is not None
    assert ticket.reopen_count == 0

    now = NOW + timedelta(days=1)
    for round_ in (1, 2):
        with transaction(any_engine) as session:
            apply_action(
                session, ticket_no=ticket.ticket_no, action=Action.REOPEN, actor="system", now=now
            )
        stored = load(any_engine, ticket.ticket_no)
        assert stored.status == TicketStatus.REOPENED
        assert stored.reopen_count == round_
        assert stored.closed_at is None
        assert stored.signed_at is None
        # Back round the loop to closed for the next reopening.
        now = walk_to(
            any_engine,
            ticket.ticket_no,
            TicketStatus.CLOSED,
            start=now,
            origin=TicketStatus.REOPENED,
        )


def test_accept_transfer_moves_the_ticket_to_the_pending_unit(any_engine: Engine) -> None:
    first = make_unit(any_engine, "U-A")
    second = make_unit(any_engine, "U-B")
    ticket = new_ticket(any_engine, unit_id=first)

    with transaction(any_engine) as session:
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.TRANSFER,
            actor="staff:1",
            now=NOW,
            changes={"pending_unit_id": second},
        )
    transferring = load(any_engine, ticket.ticket_no)
    assert (transferring.status, transferring.unit_id) == (TicketStatus.TRANSFERRING, first)
    assert transferring.pending_unit_id == second

    with transaction(any_engine) as session:
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.ACCEPT_TRANSFER,
            actor="staff:2",
            now=NOW + timedelta(minutes=5),
        )
    accepted = load(any_engine, ticket.ticket_no)
    assert accepted.status == TicketStatus.RECEIVED
    assert accepted.unit_id == second
    assert accepted.pending_unit_id is None
    assert accepted.assignee_id is None


def test_return_transfer_keeps_the_unit_and_drops_the_pending_one(any_engine: Engine) -> None:
    first = make_unit(any_engine, "U-A")
    second = make_unit(any_engine, "U-B")
    ticket = new_ticket(any_engine, unit_id=first)
    walk_to(
        any_engine,
        ticket.ticket_no,
        TicketStatus.TRANSFERRING,
        changes={Action.TRANSFER: {"pending_unit_id": second}},
    )

    with transaction(any_engine) as session:
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.RETURN_TRANSFER,
            actor="staff:2",
            now=NOW + timedelta(hours=1),
            note="不属我单位管辖",
        )
    returned = load(any_engine, ticket.ticket_no)
    assert returned.status == TicketStatus.RECEIVED
    assert (returned.unit_id, returned.pending_unit_id) == (first, None)
