"""Blinker signals for in-process hooks.

Every signal is sent with the order id as sender and keyword arguments ``order`` (a snapshot dict) and
``event`` (the event type), and only **after** the transaction that made the change has committed: a
rolled-back change sends nothing. Receivers must not raise; an exception is logged and swallowed.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: An order was placed and a quote issued.
order_placed = _signals.signal("order-placed")
#: The escrow's ``Deposited`` log for an order was seen (not final yet).
deposit_seen = _signals.signal("deposit-seen")
#: An order's deposit is final; the order is ``held`` with a fixed queue position.
deposit_confirmed = _signals.signal("deposit-confirmed")
#: A deposit log disappeared in a reorg before it was final.
deposit_unwound = _signals.signal("deposit-unwound")
#: A quote expired with no deposit.
quote_expired = _signals.signal("quote-expired")
#: An order was cancelled before any deposit.
order_cancelled = _signals.signal("order-cancelled")
#: Restocked units were allocated to an order.
order_allocated = _signals.signal("order-allocated")
#: An order was shipped; the escrow capture is on its way.
order_shipped = _signals.signal("order-shipped")
#: The escrow was captured to the merchant (final).
order_fulfilled = _signals.signal("order-fulfilled")
#: A refund was decided; the escrow void is on its way.
refund_sent = _signals.signal("refund-sent")
#: The escrow was voided back to the payer (final).
order_refunded = _signals.signal("order-refunded")
#: The payer reclaimed the deposit on chain after the hold expiry.
order_reclaimed = _signals.signal("order-reclaimed")
#: A product's restock ETA changed or passed; sent once per open order of the product, with the new
#: date (or none: unknown) and ``cancel_url``, the buyer's one-click cancel-and-refund link.
eta_changed = _signals.signal("eta-changed")
#: A compliance check asked for a human decision; the order waits in ``compliance_review``.
compliance_review_needed = _signals.signal("compliance-review-needed")
#: A sanctions hit froze the order: no capture, no void; a case record asks the merchant to report.
order_frozen = _signals.signal("order-frozen")

#: Event type -> signal. Event types without a signal are recorded but not announced in-process.
BY_EVENT = {
    "order.placed": order_placed,
    "deposit.seen": deposit_seen,
    "deposit.confirmed": deposit_confirmed,
    "deposit.unwound": deposit_unwound,
    "quote.expired": quote_expired,
    "order.cancelled": order_cancelled,
    "order.allocated": order_allocated,
    "order.shipped": order_shipped,
    "order.fulfilled": order_fulfilled,
    "refund.sent": refund_sent,
    "order.refunded": order_refunded,
    "order.reclaimed": order_reclaimed,
    "eta.changed": eta_changed,
    "compliance.review_needed": compliance_review_needed,
    "order.frozen": order_frozen,
}
