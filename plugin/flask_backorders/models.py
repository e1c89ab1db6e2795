"""Database tables (SQLAlchemy 2.x, typed). All names carry the ``bo_`` prefix to live in a host's schema."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .dbtypes import ExactDecimal, TokenAmount, UTCDateTime
from .states import OrderStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with its own metadata (Alembic migrations are generated from it)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class Product(Base):
    """A product that can be reserved; ``stock_on_hand`` is restocked units not yet allocated."""

    __tablename__ = "bo_products"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price_amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    price_currency: Mapped[str] = mapped_column(String(3))
    tokens: Mapped[list[str]]
    restock_eta_earliest: Mapped[date | None] = mapped_column(Date)
    restock_eta_latest: Mapped[date | None] = mapped_column(Date)
    queue_cap: Mapped[int | None] = mapped_column(Integer)
    per_customer_cap: Mapped[int | None] = mapped_column(Integer)
    stock_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    #: Set when the latest ETA passed without a restock (a delay notice went out); cleared by a new ETA.
    eta_lapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    """A reservation of ``quantity`` units of one product, paid by one escrow deposit."""

    __tablename__ = "bo_orders"
    __table_args__ = (
        # The queue: held orders of a product in on-chain deposit order.
        Index("ix_bo_orders_queue", "sku", "status", "queue_block", "queue_log_index"),
        Index("ix_bo_orders_status_deadline", "status", "quote_deadline"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("bo_products.sku"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[OrderStatus] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320), index=True)
    payer: Mapped[str] = mapped_column(String(42), index=True)
    shipping: Mapped[dict[str, Any]]
    shipping_digest: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    secret_nonce: Mapped[str] = mapped_column(String(32))
    # What was quoted: fiat total, token and exact base units, bound into the operator's signature.
    fiat_amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    token: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(TokenAmount)
    order_ref: Mapped[str] = mapped_column(String(66), unique=True)
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    quote_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    hold_until: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[str | None] = mapped_column(String(132))
    # Queue key, copied from the deposit when it becomes final.
    queue_block: Mapped[int | None] = mapped_column(BigInteger)
    queue_log_index: Mapped[int | None] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the compliance gate last screened the order at its deposit / before fulfilment (None: due).
    deposit_screened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilment_screened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    product: Mapped[Product] = relationship(lazy="joined", innerjoin=True)
    deposits: Mapped[list[Deposit]] = relationship(
        back_populates="order", order_by="Deposit.id", lazy="selectin"
    )

    @property
    def deposit(self) -> Deposit | None:
        """The deposit that currently counts (not unwound by a reorg), if any."""
        live = [d for d in self.deposits if d.unwound_at is None]
        return live[-1] if live else None


class Deposit(Base):
    """An escrow ``Deposited`` log. Unique per ``(chain_id, tx_hash, log_index)``."""

    __tablename__ = "bo_deposits"
    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_bo_deposits_log"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"), index=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    payer: Mapped[str] = mapped_column(String(42))
    token_address: Mapped[str | None] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(TokenAmount)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unwound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="deposits")


class Restock(Base):
    """Units received for a product; what they were allocated to is in :class:`Allocation`."""

    __tablename__ = "bo_restocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("bo_products.sku"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Allocation(Base):
    """Units reserved for one order; ``released_at`` is set when they go back to stock."""

    __tablename__ = "bo_allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"), index=True)
    sku: Mapped[str] = mapped_column(ForeignKey("bo_products.sku"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    restock_id: Mapped[int | None] = mapped_column(ForeignKey("bo_restocks.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payout(Base):
    """An operator transaction moving an escrow: ``capture`` to the merchant or ``void`` to the payer.

    The row (the intent) is written before anything is sent; ``raw_tx`` lets a restarted sender broadcast
    exactly the same transaction again.
    """

    __tablename__ = "bo_payouts"
    __table_args__ = (UniqueConstraint("order_id", "kind", name="uq_bo_payouts_order_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"))
    kind: Mapped[str] = mapped_column(String(16))
    #: pending -> (compliance gate) -> sent -> confirmed; blocked (awaiting review), cancelled, failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    raw_tx: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """Append-only history: every transition and every notable change, in the same transaction."""

    __tablename__ = "bo_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    order_id: Mapped[str | None] = mapped_column(ForeignKey("bo_orders.id"), index=True)
    sku: Mapped[str | None] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` with a digest of the request it first came with."""

    __tablename__ = "bo_idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChainCursor(Base):
    """How far the watcher has processed final blocks of one escrow on one chain."""

    __tablename__ = "bo_chain_cursors"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    escrow: Mapped[str] = mapped_column(String(42), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplianceCheck(Base):
    """One check's result for one order at one stage (append-only audit record)."""

    __tablename__ = "bo_compliance_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    check: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    sanctions: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs_digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(200))
    source_date: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplianceDecision(Base):
    """The gate's decision for an order at a stage, or an admin's decision on a review."""

    __tablename__ = "bo_compliance_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(8))
    decided_by: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplianceCase(Base):
    """A sanctions hit: the order is frozen and the merchant must report (OFAC: within 10 business days)."""

    __tablename__ = "bo_compliance_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"), unique=True)
    matched: Mapped[dict[str, Any]]
    report_by: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SanctionsList(Base):
    """A loaded sanctions list (e.g. the OFAC SDN advanced XML): where from, published when, its hash."""

    __tablename__ = "bo_sanctions_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(300))
    published: Mapped[date | None] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    addresses: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SanctionedAddress(Base):
    """A digital-currency address from a sanctions list (lowercase)."""

    __tablename__ = "bo_sanctioned_addresses"
    __table_args__ = (UniqueConstraint("list_id", "address", name="uq_bo_sanctioned_addresses_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("bo_sanctions_lists.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(64), index=True)
    ticker: Mapped[str] = mapped_column(String(16))
    party: Mapped[str | None] = mapped_column(String(300))
    party_ref: Mapped[str | None] = mapped_column(String(32))


class WebhookEndpoint(Base):
    """A merchant's webhook receiver: URL, signing secret, the event types it wants (``*`` for all)."""

    __tablename__ = "bo_webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list[str]]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxEvent(Base):
    """An event to announce, written in the same transaction as the change it announces."""

    __tablename__ = "bo_outbox_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebhookDelivery(Base):
    """One event to one endpoint: a stable id across retries, the state of delivering it."""

    __tablename__ = "bo_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_bo_webhook_deliveries_event_endpoint"),
        Index("ix_bo_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("bo_outbox_events.id"), index=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("bo_webhook_endpoints.id"), index=True)
    #: pending -> delivering (leased) -> succeeded | pending (retry) | failed (4xx) | dead (gave up)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """The delivery log: every attempt with its status code (or error) and duration."""

    __tablename__ = "bo_webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("bo_webhook_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DelayNotice(Base):
    """A delay notice sent for an order (its one-click cancel link is good once)."""

    __tablename__ = "bo_delay_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("bo_orders.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    new_eta: Mapped[date | None] = mapped_column(Date)
    token_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
