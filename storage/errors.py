"""Domain errors raised by repositories; handlers map them to text keys."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of repository errors."""


class TicketNotFound(StorageError):
    """No ticket has that number."""

    def __init__(self, ticket_no: str) -> None:
        self.ticket_no = ticket_no
        super().__init__(f"no ticket numbered {ticket_no!r}")


class ConflictError(StorageError):
    """Someone else changed the ticket first; reload and retry."""

    def __init__(self, ticket_no: str, expected_version: int) -> None:
        self.ticket_no = ticket_no
        self.expected_version = expected_version
        super().__init__(
            f"{ticket_no} was changed by someone else (expected version {expected_version}); "
            "reload and try again"
        )
