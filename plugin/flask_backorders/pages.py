"""HTML pages served by the extension (buyer checkout, delay-notice cancellation, merchant dashboard)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy.orm import Session

from .errors import NotFound
from .extension import get_state
from .orders import cancel_via_notice, get_order
from .states import OrderStatus


def delay_cancel(order_id: str) -> str | tuple[str, int]:
    """The delay notice's cancel link: a page with one button (GET), and the cancellation itself (POST).

    GET never changes anything, so mail scanners that prefetch links cannot cancel an order.
    """
    state = get_state()
    source = request.form if request.method == "POST" else request.args
    token = source.get("token", "")
    try:
        notice_id = int(source.get("notice", ""))
    except ValueError:
        abort(404)
    if request.method == "GET":
        from .notices import find_notice

        def read(session: Session) -> tuple[object, bool]:
            notice = find_notice(session, order_id, notice_id, token)
            if notice is None:
                raise NotFound("No such order.")
            return get_order(session, order_id), notice.used_at is not None

        try:
            order, used = state.read(read)
        except NotFound:
            return render_template("backorders/delay_cancel.html", outcome="invalid", order=None), 404
        return render_template(
            "backorders/delay_cancel.html",
            outcome="used" if used else "confirm",
            order=order,
            notice=notice_id,
            token=token,
        )
    try:
        order, outcome = state.transaction(
            lambda s: cancel_via_notice(
                s, order_id, notice_id, token, now=state.now(), policy=state.settings.allocation
            )
        )
    except NotFound:
        return render_template("backorders/delay_cancel.html", outcome="invalid", order=None), 404
    return render_template(
        "backorders/delay_cancel.html",
        outcome=outcome,
        order=order,
        refunding=order.status in (OrderStatus.REFUND_PENDING, OrderStatus.REFUNDED),
    )


delay_cancel.backorders_page = True  # type: ignore[attr-defined]


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/orders/<order_id>/delay-cancel", "delay_cancel", delay_cancel, methods=["GET", "POST"])
