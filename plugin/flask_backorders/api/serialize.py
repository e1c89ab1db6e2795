"""Turning rows into response models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..chain.quotes import payment_object
from ..extension import BackordersState
from ..inventory import queue_depth, queue_position
from ..models import ComplianceCase, ComplianceCheck, ComplianceDecision, Order, Payout, Product
from ..orders import timeline
from ..quotes import Quote
from ..states import OrderStatus
from .schemas import (
    AdminOrderOut,
    DepositOut,
    EtaRange,
    Money,
    OrderOut,
    PaymentOut,
    PayoutOut,
    ProductOut,
    QueueDepthOut,
    QueueOut,
    TimelineEntry,
)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def eta(product: Product) -> EtaRange:
    return EtaRange(earliest=product.restock_eta_earliest, latest=product.restock_eta_latest)


def product_out(session: Session, product: Product) -> ProductOut:
    depth = queue_depth(session, product.sku)
    return ProductOut(
        sku=product.sku,
        name=product.name,
        price=Money(amount=str(product.price_amount), currency=product.price_currency),
        tokens=list(product.tokens),
        in_stock=product.stock_on_hand > 0,
        stock_available=product.stock_on_hand,
        restock_eta=eta(product),
        queue=QueueDepthOut(orders=depth.orders, units=depth.units),
        queue_cap=product.queue_cap,
        per_customer_cap=product.per_customer_cap,
    )


def order_quote(state: BackordersState, order: Order) -> Quote | None:
    chain = state.chain
    if chain is None or chain.escrow is None or order.signature is None or order.chain_id is None:
        return None
    if order.token == state.settings.native_symbol:
        address, decimals = None, 18
    elif order.token in chain.tokens:
        address, decimals = chain.tokens[order.token].address, chain.tokens[order.token].decimals
    else:
        return None
    return Quote(
        chain_id=order.chain_id,
        escrow=chain.escrow.address,
        token_symbol=order.token,
        token_address=address,
        decimals=decimals,
        amount=order.amount,
        deadline=order.quote_deadline,
        hold_until=order.hold_until,
        signature=order.signature,
    )


def payment_out(state: BackordersState, order: Order) -> PaymentOut | None:
    quote = order_quote(state, order)
    chain = state.chain
    if quote is None or chain is None or chain.escrow is None:
        return None
    return PaymentOut.model_validate(payment_object(chain.escrow, order.order_ref, order.payer, quote))


def order_fields(state: BackordersState, session: Session, order: Order) -> dict[str, object]:
    status = OrderStatus(order.status)
    position = queue_position(session, order)
    depth = queue_depth(session, order.sku)
    deposit = order.deposit
    payouts = session.scalars(select(Payout).where(Payout.order_id == order.id).order_by(Payout.id)).all()
    return {
        "id": order.id,
        "status": status.value,
        "sku": order.sku,
        "quantity": order.quantity,
        "token": order.token,
        "amount": str(order.amount),
        "price": Money(amount=str(order.fiat_amount), currency=order.currency),
        "queue": QueueOut(
            position=position[0] if position else None,
            units_ahead=position[1] if position else None,
            orders=depth.orders,
            units=depth.units,
        ),
        "restock_eta": eta(order.product),
        "deposit": DepositOut(
            chain_id=deposit.chain_id,
            tx_hash=deposit.tx_hash,
            log_index=deposit.log_index,
            block_number=deposit.block_number,
            amount=str(deposit.amount),
            final=deposit.final,
        )
        if deposit
        else None,
        "payment": payment_out(state, order) if status == OrderStatus.AWAITING_DEPOSIT else None,
        "payouts": [
            PayoutOut(kind=p.kind, status=p.status, tx_hash=p.tx_hash)
            for p in payouts
            if p.kind in ("capture", "void")
        ],
        "compliance": {"state": compliance_state(session, order)},
        "shipment": {"carrier": order.carrier, "tracking": order.tracking} if order.carrier else None,
        "timeline": [TimelineEntry.model_validate(t) for t in timeline(session, order)],
        "created_at": iso(order.created_at),
    }


def compliance_state(session: Session, order: Order) -> str:
    status = OrderStatus(order.status)
    if status == OrderStatus.FROZEN:
        return "on_hold"
    if status == OrderStatus.COMPLIANCE_REVIEW:
        return "under_review"
    decided = session.scalars(
        select(ComplianceDecision.outcome)
        .where(ComplianceDecision.order_id == order.id)
        .order_by(ComplianceDecision.id.desc())
    ).first()
    return "not_checked" if decided is None else "clear"


def admin_compliance(session: Session, order: Order) -> dict[str, object]:
    checks = session.scalars(
        select(ComplianceCheck).where(ComplianceCheck.order_id == order.id).order_by(ComplianceCheck.id)
    ).all()
    decisions = session.scalars(
        select(ComplianceDecision)
        .where(ComplianceDecision.order_id == order.id)
        .order_by(ComplianceDecision.id)
    ).all()
    case = session.scalars(select(ComplianceCase).where(ComplianceCase.order_id == order.id)).first()
    return {
        "state": compliance_state(session, order),
        "results": [
            {
                "stage": c.stage,
                "check": c.check,
                "version": c.version,
                "outcome": c.outcome,
                "reason": c.reason,
                "source": c.source,
                "source_date": c.source_date,
                "inputs_digest": c.inputs_digest,
                "at": iso(c.created_at),
            }
            for c in checks
        ],
        "decisions": [
            {
                "stage": d.stage,
                "outcome": d.outcome,
                "decided_by": d.decided_by,
                "note": d.note,
                "at": iso(d.created_at),
            }
            for d in decisions
        ],
        "case": {
            "matched": case.matched,
            "report_by": case.report_by,
            "status": case.status,
            "opened_at": iso(case.created_at),
        }
        if case
        else None,
    }


def order_out(state: BackordersState, session: Session, order: Order) -> OrderOut:
    return OrderOut.model_validate(order_fields(state, session, order))


def admin_order_out(state: BackordersState, session: Session, order: Order) -> AdminOrderOut:
    return AdminOrderOut.model_validate(
        {
            **order_fields(state, session, order),
            "email": order.email,
            "payer": order.payer,
            "shipping": order.shipping,
            "order_ref": order.order_ref,
            "compliance": admin_compliance(session, order),
            "customer_verified": order.customer_verified,
        }
    )
