"""Ticket states and the one table of legal transitions (DOMAIN.md §5)."""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    """Where a ticket stands in the closed loop; persisted by name."""

    RECEIVED = "received"  # 受理
    VERIFYING = "verifying"  # 核查
    HANDLING = "handling"  # 处理
    REPLIED = "replied"  # 反馈
    CLOSED = "closed"  # 办结
    REJECTED = "rejected"  # 不予受理
    WITHDRAWN = "withdrawn"  # 撤回
    TRANSFERRING = "transferring"  # 转办中, waiting for the receiving unit
    REOPENED = "reopened"  # 重办 after an unsatisfied callback


class Action(StrEnum):
    """What an actor does to a ticket; each becomes one audit event."""

    CREATE = "create"
    SIGN = "sign"  # 签收
    START_HANDLING = "start_handling"
    REPLY = "reply"
    CLOSE = "close"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    TRANSFER = "transfer"
    ACCEPT_TRANSFER = "accept_transfer"
    RETURN_TRANSFER = "return_transfer"
    REOPEN = "reopen"
    # Actions that leave the status as it is.
    NOTE = "note"
    SUPPLEMENT = "supplement"
    MERGE = "merge"
    SUPERVISE = "supervise"
    ESCALATE = "escalate"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    RECATEGORIZE = "recategorize"
    ASSIGN = "assign"
    IDENTITY_READ = "identity_read"


class RejectReason(StrEnum):
    """The fixed list of grounds for 不予受理."""

    NOT_TRANSPORT = "not_transport"  # not a transport matter
    NO_FACTS = "no_facts"  # no clear object or facts
    OTHER_PROCEDURE = "other_procedure"  # before a court, review, arbitration or petition office


class SupervisionLevel(StrEnum):
    """Supervision orders (督办), in rising order."""

    NONE = "none"
    YELLOW = "yellow"
    RED = "red"
    LISTED = "listed"  # 挂牌督办


S = TicketStatus
OPEN_STATES = frozenset(
    {S.RECEIVED, S.VERIFYING, S.HANDLING, S.REPLIED, S.TRANSFERRING, S.REOPENED}
)
FINAL_STATES = frozenset({S.CLOSED, S.REJECTED, S.WITHDRAWN})

# The one place that says which action moves a ticket from which state to which.
TRANSITIONS: dict[Action, dict[TicketStatus, TicketStatus]] = {
    Action.SIGN: {S.RECEIVED: S.VERIFYING, S.REOPENED: S.VERIFYING},
    Action.START_HANDLING: {S.VERIFYING: S.HANDLING},
    Action.REPLY: {S.HANDLING: S.REPLIED, S.VERIFYING: S.REPLIED},
    Action.CLOSE: {S.REPLIED: S.CLOSED},
    Action.REJECT: {S.RECEIVED: S.REJECTED, S.VERIFYING: S.REJECTED},
    Action.WITHDRAW: {
        s: S.WITHDRAWN for s in (S.RECEIVED, S.VERIFYING, S.HANDLING, S.TRANSFERRING, S.REOPENED)
    },
    Action.TRANSFER: {s: S.TRANSFERRING for s in (S.RECEIVED, S.VERIFYING, S.HANDLING)},
    Action.ACCEPT_TRANSFER: {S.TRANSFERRING: S.RECEIVED},
    Action.RETURN_TRANSFER: {S.TRANSFERRING: S.RECEIVED},
    Action.REOPEN: {S.CLOSED: S.REOPENED},
}

# Actions that keep the status, and the states in which they are allowed.
STATUS_KEEPING: dict[Action, frozenset[TicketStatus]] = {
    Action.NOTE: frozenset(TicketStatus),
    Action.IDENTITY_READ: frozenset(TicketStatus),
    Action.RECATEGORIZE: frozenset(TicketStatus),
    Action.SUPPLEMENT: OPEN_STATES,
    Action.MERGE: OPEN_STATES,
    Action.SUPERVISE: OPEN_STATES,
    Action.ESCALATE: OPEN_STATES,
    Action.REQUEST_EXTENSION: frozenset({S.VERIFYING, S.HANDLING}),
    Action.APPROVE_EXTENSION: frozenset({S.VERIFYING, S.HANDLING}),
    Action.ASSIGN: OPEN_STATES,
}


class IllegalTransition(Exception):
    """The action is not allowed in the ticket's current state."""

    def __init__(self, *, ticket_no: str, action: Action, status: TicketStatus) -> None:
        self.ticket_no = ticket_no
        self.action = action
        self.status = status
        self.allowed = allowed_actions(status)
        allowed = ", ".join(a.value for a in self.allowed) or "none"
        super().__init__(
            f"{ticket_no}: cannot {action.value} while {status.value}; allowed now: {allowed}"
        )


def next_status(*, ticket_no: str, action: Action, status: TicketStatus) -> TicketStatus:
    """The status after `action`, or `IllegalTransition` naming the allowed actions."""
    moves = TRANSITIONS.get(action)
    if moves is not None:
        if status in moves:
            return moves[status]
    elif status in STATUS_KEEPING.get(action, frozenset()):
        return status
    raise IllegalTransition(ticket_no=ticket_no, action=action, status=status)


def allowed_actions(status: TicketStatus) -> tuple[Action, ...]:
    """Every action legal in `status`, in declaration order."""
    return tuple(
        action
        for action in Action
        if status in TRANSITIONS.get(action, {}) or status in STATUS_KEEPING.get(action, ())
    )
