"""Request and response shapes (pydantic 2). Field names are public API: add, never rename."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MONEY = re.compile(r"^\d{1,15}(\.\d{1,2})?$")


def _address(value: str) -> str:
    if not is_hex_address(value):
        raise ValueError("must be a 0x-prefixed 20-byte hex address")
    if value[2:] != value[2:].lower() and not is_checksum_address(value):
        raise ValueError("has an invalid EIP-55 checksum")
    return to_checksum_address(value)


def _email(value: str) -> str:
    if not EMAIL.match(value) or len(value) > 254:
        raise ValueError("must be an e-mail address")
    return value


def _money(value: str) -> str:
    if not MONEY.match(value) or Decimal(value) <= 0:
        raise ValueError('must be a positive decimal string with at most 2 decimals, e.g. "129.00"')
    return value


Address = Annotated[
    str, AfterValidator(_address), Field(examples=["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"])
]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_email)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Subdivision = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.]{1,16}$")]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(Strict):
    amount: Annotated[str, AfterValidator(_money)] = Field(examples=["129.00"])
    currency: Currency = Field(examples=["USD"])


class EtaRange(Strict):
    earliest: date | None = None
    latest: date | None = None


class ProductIn(Strict):
    """PUT /admin/products/<sku>."""

    name: Text
    price: Money
    tokens: list[Symbol] = Field(min_length=1, max_length=16)
    restock_eta: EtaRange | None = None
    queue_cap: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
    per_customer_cap: StrictInt | None = Field(default=None, ge=1, le=1_000_000)


class ProductPatch(Strict):
    """PATCH /admin/products/<sku>: change only what is given (typically the ETA)."""

    name: Text | None = None
    price: Money | None = None
    tokens: list[Symbol] | None = Field(default=None, min_length=1, max_length=16)
    restock_eta: EtaRange | None = None
    queue_cap: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
    per_customer_cap: StrictInt | None = Field(default=None, ge=1, le=1_000_000)


class Shipping(Strict):
    name: Text
    line1: Text
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Text
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    country: Country
    subdivision: Subdivision | None = None


class OrderIn(Strict):
    """POST /orders."""

    sku: Sku
    quantity: StrictInt = Field(ge=1, le=1_000_000)
    token: Symbol
    email: Email
    payer: Address
    shipping: Shipping


class RestockIn(Strict):
    quantity: StrictInt = Field(ge=1, le=10_000_000)
    note: Annotated[str, StringConstraints(max_length=200)] | None = None


class ShipIn(Strict):
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    tracking: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class ReviewIn(Strict):
    """POST /admin/orders/<id>/review."""

    decision: Literal["approve", "reject"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class RefundIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


# ------------------------------------------------------------------ responses


class QueueDepthOut(BaseModel):
    orders: int
    units: int


class ProductOut(BaseModel):
    sku: str
    name: str
    price: Money
    tokens: list[str]
    in_stock: bool
    stock_available: int
    restock_eta: EtaRange
    queue: QueueDepthOut
    queue_cap: int | None
    per_customer_cap: int | None


class ProductList(BaseModel):
    products: list[ProductOut]


class TokenOut(BaseModel):
    symbol: str
    address: str | None
    decimals: int


class QuoteOut(BaseModel):
    order_ref: str
    payer: str
    token: str
    amount: str
    deadline: int
    hold_until: int


class TransactionOut(BaseModel):
    to: str
    data: str
    value: str


class PaymentOut(BaseModel):
    chain_id: int
    escrow: str
    token: TokenOut
    amount: str
    amount_display: str
    quote: QuoteOut
    signature: str
    transactions: list[TransactionOut]
    uri: str
    expires_at: str


class QueueOut(BaseModel):
    position: int | None
    units_ahead: int | None
    orders: int
    units: int


class DepositOut(BaseModel):
    chain_id: int
    tx_hash: str
    log_index: int
    block_number: int
    amount: str
    final: bool


class TimelineEntry(BaseModel):
    type: str
    status: str | None
    at: str


class PayoutOut(BaseModel):
    kind: Literal["capture", "void"]
    status: str
    tx_hash: str | None


class ComplianceOut(BaseModel):
    """What the buyer sees: a short state, nothing about why."""

    state: Literal["not_checked", "clear", "under_review", "on_hold"]


class CheckOut(BaseModel):
    stage: str
    check: str
    version: str
    outcome: str
    reason: str
    source: str | None
    source_date: str | None
    inputs_digest: str
    at: str


class DecisionOut(BaseModel):
    stage: str
    outcome: str
    decided_by: str
    note: str | None
    at: str


class CaseOut(BaseModel):
    matched: dict[str, Any]
    report_by: date
    status: str
    opened_at: str


class AdminComplianceOut(ComplianceOut):
    results: list[CheckOut]
    decisions: list[DecisionOut]
    case: CaseOut | None


class OrderOut(BaseModel):
    id: str
    status: str
    sku: str
    quantity: int
    token: str
    amount: str
    price: Money
    queue: QueueOut
    restock_eta: EtaRange
    deposit: DepositOut | None
    payment: PaymentOut | None
    payouts: list[PayoutOut]
    compliance: ComplianceOut
    shipment: dict[str, str | None] | None
    timeline: list[TimelineEntry]
    created_at: str


class OrderCreated(OrderOut):
    secret: str = Field(
        description="The buyer secret: shown only in this response. Send it as a Bearer token."
    )


class AdminOrderOut(OrderOut):
    compliance: AdminComplianceOut
    customer_verified: bool
    email: str
    payer: str
    shipping: dict[str, Any]
    order_ref: str


class OrderPage(BaseModel):
    orders: list[AdminOrderOut]
    next_cursor: str | None


class AllocationOut(BaseModel):
    order_id: str
    quantity: int


class RestockOut(BaseModel):
    restock_id: int
    allocations: list[AllocationOut] = Field(description="One by one, the first 1000 (in queue order)")
    allocated_orders: int
    allocated_units: int
    allocations_truncated: bool
    stock_left: int


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
