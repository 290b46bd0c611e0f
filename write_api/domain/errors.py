"""Domain errors: why a command was refused. Mapped to HTTP in one place (write_api/command_runner.py)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A command that the current state does not allow. Nothing is appended."""

    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """The command names a product, inventory or order that does not exist."""

    code = "not_found"


class AlreadyExists(DomainError):
    """A create command names something that exists already."""

    code = "already_exists"


class ProductDiscontinued(DomainError):
    """The product is discontinued: it cannot be changed, priced or ordered."""

    code = "product_discontinued"


class InvalidTransition(DomainError):
    """The command does not apply in the aggregate's current status (e.g. shipping a cancelled order)."""

    code = "invalid_transition"


class InsufficientStock(DomainError):
    """The warehouses together cannot fill a line, or an adjustment would take on-hand below reserved."""

    code = "insufficient_stock"


class VersionConflict(DomainError):
    """If-Match named a version the stream is not at."""

    code = "version_conflict"
