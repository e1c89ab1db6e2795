"""Order statuses and the one table of legal transitions between them (DESIGN §2).

The wire names (the enum values) are public API.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import IllegalTransition


class OrderStatus(StrEnum):
    """Where an order is in its lifecycle."""

    AWAITING_DEPOSIT = "awaiting_deposit"
    """A quote was issued; nothing is on chain yet. Expires after the quote TTL."""
    DEPOSIT_PENDING = "deposit_pending"
    """The escrow's ``Deposited`` log is seen but its block is not final."""
    HELD = "held"
    """The deposit is final; the order has a queue position fixed by ``(block_number, log_index)``."""
    ALLOCATED = "allocated"
    """Restocked units are reserved for this order."""
    COMPLIANCE_REVIEW = "compliance_review"
    """A compliance check asked for a human decision; nothing moves until an admin decides."""
    FULFILLED = "fulfilled"
    """Shipped, and the escrow was captured to the merchant's payout address (final)."""
    REFUND_PENDING = "refund_pending"
    """A refund was decided; the escrow void is on its way to the payer."""
    REFUNDED = "refunded"
    """The escrow was voided back to the payer (final)."""
    FROZEN = "frozen"
    """A sanctions hit: funds stay locked and a case record asks the merchant to report."""
    RECLAIMED = "reclaimed"
    """The payer took the deposit back on chain after the hold expiry."""
    EXPIRED = "expired"
    """The quote expired with no deposit seen (a late on-chain deposit still revives it)."""
    CANCELLED = "cancelled"
    """Cancelled before any deposit."""


S = OrderStatus

#: ``from -> allowed targets``. Anything not listed raises :class:`IllegalTransition`.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.AWAITING_DEPOSIT: frozenset({S.DEPOSIT_PENDING, S.EXPIRED, S.CANCELLED, S.FROZEN}),
    S.EXPIRED: frozenset({S.DEPOSIT_PENDING}),
    S.CANCELLED: frozenset({S.DEPOSIT_PENDING}),
    S.DEPOSIT_PENDING: frozenset({S.HELD, S.AWAITING_DEPOSIT, S.EXPIRED, S.FROZEN}),
    S.HELD: frozenset({S.ALLOCATED, S.REFUND_PENDING, S.COMPLIANCE_REVIEW, S.FROZEN, S.RECLAIMED}),
    S.ALLOCATED: frozenset(
        {S.FULFILLED, S.REFUND_PENDING, S.COMPLIANCE_REVIEW, S.FROZEN, S.RECLAIMED, S.HELD}
    ),
    S.COMPLIANCE_REVIEW: frozenset({S.ALLOCATED, S.HELD, S.REFUND_PENDING, S.FROZEN, S.RECLAIMED}),
    S.REFUND_PENDING: frozenset({S.REFUNDED, S.FROZEN, S.RECLAIMED, S.COMPLIANCE_REVIEW}),
    S.FULFILLED: frozenset(),
    S.REFUNDED: frozenset(),
    S.FROZEN: frozenset(),
    S.RECLAIMED: frozenset(),
}

#: Statuses in which the escrow holds (or may soon hold) the buyer's money.
FUNDED = frozenset({S.DEPOSIT_PENDING, S.HELD, S.ALLOCATED, S.COMPLIANCE_REVIEW, S.REFUND_PENDING})
#: Statuses that count against a product's queue cap and a customer's cap.
QUEUED = frozenset({S.AWAITING_DEPOSIT, S.DEPOSIT_PENDING, S.HELD, S.COMPLIANCE_REVIEW})
#: Statuses that count against a customer's cap (everything not given up).
ACTIVE = QUEUED | frozenset({S.ALLOCATED, S.REFUND_PENDING, S.FULFILLED, S.FROZEN})
#: Nothing happens to these any more.
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in :data:`TRANSITIONS`."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"An order that is {current.value!r} cannot become {target.value!r}.",
            current_status=current.value,
            requested_status=target.value,
        )
