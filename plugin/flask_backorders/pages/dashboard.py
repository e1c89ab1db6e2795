"""The merchant dashboard: queues per product, orders, order detail, review queue, forms for restock, ETA,
ship, refund and review decisions, and a demand chart. Admin only (deny by default); forms carry CSRF
tokens; without credentials every page answers 401 with the login form."""

from __future__ import annotations

import functools
import hmac
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from flask import flash, redirect, render_template, request, session, url_for
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..api.http import _admin_marker, check_admin
from ..api.serialize import admin_compliance, order_fields
from ..chain.quotes import display_amount
from ..errors import BackordersError, Forbidden, Unauthorized
from ..extension import BackordersState, get_state
from ..inventory import get_product, queue_depth, restock, set_eta
from ..models import ComplianceCase, Deposit, Order, Payout, Product
from ..orders import get_order, refund_order, ship_order
from ..reports import demand_report
from ..states import FUNDED, OrderStatus
from .charts import demand_chart
from .forms import ADMIN_KEY, check_csrf, csrf_token

F = TypeVar("F", bound=Callable[..., Any])
S = OrderStatus
HELD_FUNDS = FUNDED | {S.FROZEN}


def dashboard_admin(view: F) -> F:
    """Admin only; without credentials the answer is 401 with the login form."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            check_admin()
        except (Unauthorized, Forbidden) as error:
            status = 401 if isinstance(error, Unauthorized) else 403
            return render_template(
                "backorders/dashboard/login.html", csrf_token=csrf_token(), next=request.path, error=None
            ), status
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    wrapper.backorders_admin = True  # type: ignore[attr-defined]
    wrapper.backorders_page = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def login() -> Any:
    state = get_state()
    error = None
    if request.method == "POST":
        check_csrf()
        token = request.form.get("token", "")
        expected = state.settings.admin_token
        if expected is not None and hmac.compare_digest(token.encode(), expected.reveal().encode()):
            session[ADMIN_KEY] = _admin_marker(state)
            target = request.form.get("next", "")
            return redirect(
                target
                if target.startswith(state.settings.url_prefix + "/dashboard")
                else url_for("backorders.dashboard")
            )
        error = (
            "That token is not valid."
            if expected is not None
            else ("Token login is off (no BACKORDERS_ADMIN_TOKEN); sign in through the shop.")
        )
    return render_template(
        "backorders/dashboard/login.html",
        csrf_token=csrf_token(),
        error=error,
        next=request.args.get("next", ""),
    ), 401 if error else 200


def logout() -> Any:
    check_csrf()
    session.pop(ADMIN_KEY, None)
    return redirect(url_for("backorders.dashboard_login"))


def _product_rows(state: BackordersState, session: Session) -> list[dict[str, Any]]:
    rows = []
    now = state.now()
    today = now.date()
    for product in session.scalars(select(Product).order_by(Product.sku)):
        depth = queue_depth(session, product.sku)
        funded = session.execute(
            select(Order.token, Order.amount, Order.fiat_amount).where(
                Order.sku == product.sku, Order.status.in_(HELD_FUNDS)
            )
        ).all()
        by_token: dict[str, int] = defaultdict(int)
        for token, amount, _ in funded:
            by_token[token] += amount
        oldest = session.scalar(
            select(func.min(Deposit.final_at))
            .join(Order, Order.id == Deposit.order_id)
            .where(Order.sku == product.sku, Order.status == S.HELD, Deposit.unwound_at.is_(None))
        )
        report = demand_report(
            session,
            start=today - timedelta(days=29),
            end=today,
            sku=product.sku,
            lead_time_days=state.settings.reorder_lead_days,
        )[0]
        chart = demand_chart(
            [d.day.isoformat() for d in report.days],
            [d.new_units for d in report.days],
            [d.units_queued for d in report.days],
            title=f"Demand for {product.name}",
        )
        rows.append(
            {
                "product": product,
                "depth": depth,
                "held_fiat": sum((f for _, _, f in funded), Decimal("0.00")),
                "held_tokens": {
                    t: display_amount(a, _decimals(state, t)) for t, a in sorted(by_token.items())
                },
                "oldest_wait_days": (now - oldest).days if oldest else None,
                "report": report,
                "chart": Markup(chart),  # noqa: S704 - built by demand_chart, every text escaped
            }
        )
    return rows


def _decimals(state: BackordersState, symbol: str) -> int:
    chain = state.chain
    if chain is not None and symbol in chain.tokens:
        return chain.tokens[symbol].decimals
    return 18


@dashboard_admin
def dashboard() -> Any:
    state = get_state()

    def read(session: Session) -> dict[str, Any]:
        reviews = session.scalars(
            select(Order).where(Order.status == S.COMPLIANCE_REVIEW).order_by(Order.updated_at)
        ).all()
        cases = session.execute(
            select(ComplianceCase, Order)
            .join(Order, Order.id == ComplianceCase.order_id)
            .order_by(ComplianceCase.report_by)
        ).all()
        return {"products": _product_rows(state, session), "reviews": reviews, "cases": cases}

    return render_template("backorders/dashboard/index.html", csrf_token=csrf_token(), **state.read(read))


@dashboard_admin
def orders() -> Any:
    state = get_state()
    status = request.args.get("status") or ""
    query_text = (request.args.get("q") or "").strip()

    def read(session: Session) -> list[Order]:
        query = select(Order).order_by(Order.created_at.desc()).limit(200)
        if status in {s.value for s in S}:
            query = query.where(Order.status == status)
        if query_text:
            like = f"%{query_text.lower()}%"
            query = query.where(
                or_(
                    Order.id == query_text,
                    func.lower(Order.email).like(like),
                    func.lower(Order.payer).like(like),
                    Order.sku == query_text,
                )
            )
        return list(session.scalars(query))

    return render_template(
        "backorders/dashboard/orders.html",
        orders=state.read(read),
        status=status,
        q=query_text,
        statuses=[s.value for s in S],
        csrf_token=csrf_token(),
    )


@dashboard_admin
def order_detail(order_id: str) -> Any:
    state = get_state()

    def read(session: Session) -> dict[str, Any]:
        order = get_order(session, order_id)
        payouts = session.scalars(select(Payout).where(Payout.order_id == order.id).order_by(Payout.id)).all()
        return {
            "order": order,
            "o": order_fields(state, session, order),
            "payouts": payouts,
            "compliance": admin_compliance(session, order),
            "deposit": order.deposit,
        }

    return render_template(
        "backorders/dashboard/order.html",
        csrf_token=csrf_token(),
        explorer=_explorer(state),
        **state.read(read),
    )


def _explorer(state: BackordersState) -> str | None:
    chain = state.chain
    return (
        {1: "https://etherscan.io", 11155111: "https://sepolia.etherscan.io"}.get(chain.chain_id)
        if chain
        else None
    )


def _act(action: Callable[[Session], Any], done: str, back: str) -> Any:
    state = get_state()
    try:
        state.transaction(action)
        flash(done)
    except BackordersError as error:
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in error.errors)
        flash(f"{error.detail}{' (' + reasons + ')' if reasons else ''}", "error")
    return redirect(back)


def _int_field(name: str) -> int:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        return 0


@dashboard_admin
def restock_product(sku: str) -> Any:
    state = get_state()
    quantity = _int_field("quantity")
    if quantity <= 0:
        flash("Restock quantity must be a positive whole number.", "error")
        return redirect(url_for("backorders.dashboard"))
    return _act(
        lambda s: restock(s, sku, quantity, now=state.now(), policy=state.settings.allocation),
        f"Restocked {quantity} unit(s) of {sku}.",
        url_for("backorders.dashboard"),
    )


@dashboard_admin
def set_product_eta(sku: str) -> Any:
    state = get_state()

    def parse(name: str) -> date | None:
        value = request.form.get(name) or ""
        return date.fromisoformat(value) if value else None

    try:
        earliest, latest = parse("earliest"), parse("latest")
    except ValueError:
        flash("ETA dates must look like 2027-01-31.", "error")
        return redirect(url_for("backorders.dashboard"))
    return _act(
        lambda s: (
            get_product(s, sku),
            set_eta(s, sku, earliest, latest, now=state.now(), link_base=state.settings.link_base),
        ),
        f"ETA of {sku} updated; waiting buyers are told.",
        url_for("backorders.dashboard"),
    )


@dashboard_admin
def ship(order_id: str) -> Any:
    state = get_state()
    carrier, tracking = request.form.get("carrier", "").strip(), request.form.get("tracking", "").strip()
    back = url_for("backorders.dashboard_order", order_id=order_id)
    if not carrier or not tracking:
        flash("Carrier and tracking number are both needed.", "error")
        return redirect(back)
    return _act(
        lambda s: ship_order(s, order_id, carrier=carrier, tracking=tracking, now=state.now()),
        "Shipped: the escrow will be captured once the compliance gate clears it.",
        back,
    )


@dashboard_admin
def refund(order_id: str) -> Any:
    state = get_state()
    reason = request.form.get("reason", "").strip() or "merchant"
    return _act(
        lambda s: refund_order(
            s, order_id, now=state.now(), reason=reason[:200], policy=state.settings.allocation
        ),
        "Refund started: the escrow will be voided back to the payer.",
        url_for("backorders.dashboard_order", order_id=order_id),
    )


@dashboard_admin
def review(order_id: str) -> Any:
    state = get_state()
    decision, note = request.form.get("decision"), request.form.get("note", "").strip()
    back = url_for("backorders.dashboard_order", order_id=order_id)
    if decision not in ("approve", "reject") or not note:
        flash("Choose approve or reject and write a note for the audit trail.", "error")
        return redirect(back)
    who = state.admin_identity(request) if state.admin_identity else "dashboard"
    return _act(
        lambda s: state.require_compliance().decide_review(
            s, order_id, approve=decision == "approve", note=note[:1000], decided_by=who
        ),
        f"Review {decision}d.",
        back,
    )


def register(bp: Any) -> None:
    login.backorders_page = True  # type: ignore[attr-defined]
    logout.backorders_page = True  # type: ignore[attr-defined]
    bp.add_url_rule("/dashboard/login", "dashboard_login", login, methods=["GET", "POST"])
    bp.add_url_rule("/dashboard/logout", "dashboard_logout", logout, methods=["POST"])
    bp.add_url_rule("/dashboard/", "dashboard", dashboard, methods=["GET"])
    bp.add_url_rule("/dashboard/orders", "dashboard_orders", orders, methods=["GET"])
    bp.add_url_rule("/dashboard/orders/<order_id>", "dashboard_order", order_detail, methods=["GET"])
    bp.add_url_rule(
        "/dashboard/products/<sku>/restock", "dashboard_restock", restock_product, methods=["POST"]
    )
    bp.add_url_rule("/dashboard/products/<sku>/eta", "dashboard_eta", set_product_eta, methods=["POST"])
    bp.add_url_rule("/dashboard/orders/<order_id>/ship", "dashboard_ship", ship, methods=["POST"])
    bp.add_url_rule("/dashboard/orders/<order_id>/refund", "dashboard_refund", refund, methods=["POST"])
    bp.add_url_rule("/dashboard/orders/<order_id>/review", "dashboard_review", review, methods=["POST"])
