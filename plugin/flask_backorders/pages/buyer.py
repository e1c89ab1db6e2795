"""Buyer pages: reserve, checkout (pay, follow, cancel), and the delay notice's cancel link.

The reservation form posts to the server (CSRF-protected) and redirects to the checkout page; the buyer
secret travels in an HttpOnly cookie limited to that order's pages, or once in a ``?key=`` link (e.g. from
an e-mail) that is swapped for the cookie and redirected away, so it never stays in the address bar.
"""

from __future__ import annotations

import contextlib
from typing import Any

import segno
from eth_account import Account
from flask import (
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session
from web3 import Web3

from ..api.http import field_errors
from ..api.schemas import OrderIn
from ..api.serialize import order_fields, payment_out
from ..errors import BackordersError, NotFound, ValidationFailed
from ..extension import BackordersState, get_state
from ..inventory import get_product, queue_depth
from ..orders import cancel_order, cancel_via_notice, get_order, get_order_for_buyer
from ..placement import place_request, submit_order
from ..states import OrderStatus
from .forms import check_csrf, csrf_token, form_errors, secret_from_request, set_secret_cookie

#: What each status means to a buyer.
STATUS_LABELS = {
    "awaiting_deposit": "Waiting for your deposit",
    "deposit_pending": "Deposit seen — waiting for confirmations",
    "held": "Deposit confirmed — you are in the queue",
    "allocated": "A unit is reserved for you",
    "compliance_review": "Being reviewed",
    "fulfilled": "Shipped — the merchant has been paid",
    "refund_pending": "Refund on its way to your wallet",
    "refunded": "Refunded",
    "frozen": "On hold",
    "reclaimed": "You took your deposit back",
    "expired": "The quote expired",
    "cancelled": "Cancelled",
}

SHIPPING_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country", "subdivision")


def _demo_accounts(state: BackordersState) -> list[str]:
    chain = state.chain
    return [a.address for a in chain.embedded.demo_accounts] if chain and chain.embedded else []


def reserve(sku: str) -> Any:
    """GET: the reservation form. POST: place the order and go to its checkout page."""
    state = get_state()
    product = state.read(lambda s: get_product(s, sku))
    depth = state.read(lambda s: queue_depth(s, sku))
    values: dict[str, Any] = {"quantity": "1", "token": product.tokens[0], "shipping": {}}
    errors: dict[str, str] = {}
    message = None
    status = 200
    if request.method == "POST":
        check_csrf()
        form = request.form
        values = {
            "quantity": form.get("quantity", ""),
            "token": form.get("token", ""),
            "email": form.get("email", ""),
            "payer": form.get("payer", "").strip(),
            "shipping": {k: form.get(f"shipping_{k}", "").strip() for k in SHIPPING_FIELDS},
        }
        body = {**values, "sku": sku, "shipping": {k: v for k, v in values["shipping"].items() if v}}
        with contextlib.suppress(ValueError):
            body["quantity"] = int(str(values["quantity"]))
        try:
            parsed = OrderIn.model_validate(body)
            order = place_request(parsed)
            verified = bool(state.customer_verified and state.customer_verified(request, parsed.email))
            submitted = submit_order(
                state, order, lambda _s, placed, secret: (placed.id, secret), customer_verified=verified
            )
        except ValidationError as error:
            errors, status = form_errors(field_errors(error)), 422
        except ValidationFailed as error:
            errors, status = form_errors(error.errors), 422
            message = error.detail if not error.errors else None
        except BackordersError as error:
            message, status = error.detail, error.status
        else:
            order_id, secret = submitted.value
            response = make_response(redirect(url_for("backorders.checkout", order_id=order_id)))
            set_secret_cookie(
                response,
                order_id,
                secret,
                _order_path(order_id),
                max_age=state.settings.hold_days * 86400,
            )
            return response
    return render_template(
        "backorders/reserve.html",
        product=product,
        depth=depth,
        values=values,
        errors=errors,
        message=message,
        csrf_token=csrf_token(),
        demo_accounts=_demo_accounts(state),
    ), status


def _order_path(order_id: str) -> str:
    return url_for("backorders.checkout", order_id=order_id).rsplit("/", 1)[0] + f"/{order_id}"


def _buyer_order(session: Session, order_id: str) -> Any:
    return get_order_for_buyer(session, order_id, secret_from_request(order_id))


def checkout(order_id: str) -> Any:
    """The checkout page: what to pay and how, then the order's live status."""
    state = get_state()
    key = request.args.get("key")
    if key:
        # A link with the secret (from an e-mail): keep it in the cookie, take it out of the address bar.
        state.read(lambda s: get_order_for_buyer(s, order_id, key))
        response = make_response(redirect(url_for("backorders.checkout", order_id=order_id)))
        set_secret_cookie(
            response, order_id, key, _order_path(order_id), max_age=state.settings.hold_days * 86400
        )
        return response

    def read(session: Session) -> dict[str, Any]:
        order = _buyer_order(session, order_id)
        fields = order_fields(state, session, order)
        payment = payment_out(state, order) if order.status == OrderStatus.AWAITING_DEPOSIT else None
        return {"order": order, "fields": fields, "payment": payment}

    try:
        data = state.read(read)
    except NotFound:
        return render_template("backorders/not_found.html"), 404
    payment = data["payment"]
    qr = (
        Markup(segno.make(payment.uri, error="m").svg_inline(scale=3, title="Payment QR code"))  # noqa: S704
        if payment
        else None
    )
    chain = state.chain
    response = make_response(
        render_template(
            "backorders/checkout.html",
            order=data["order"],
            o=data["fields"],
            payment=payment,
            qr=qr,
            labels=STATUS_LABELS,
            csrf_token=csrf_token(),
            demo=bool(chain and chain.embedded),
            chain_name=_chain_name(payment.chain_id if payment else (chain.chain_id if chain else 0)),
            status_url=url_for("backorders.checkout_status", order_id=order_id),
        )
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _chain_name(chain_id: int) -> str:
    return {
        1: "Ethereum",
        11155111: "Sepolia",
        31337: "Anvil (local)",
        10: "Optimism",
        8453: "Base",
        42161: "Arbitrum One",
    }.get(chain_id, "Demo chain (in-process)")


def checkout_status(order_id: str) -> Response:
    """The order's status as JSON for the checkout page's polling (authorised by the cookie)."""
    from ..api.http import json_response
    from ..api.schemas import OrderOut

    state = get_state()
    return json_response(
        state.read(lambda s: OrderOut.model_validate(order_fields(state, s, _buyer_order(s, order_id))))
    )


def checkout_cancel(order_id: str) -> Any:
    check_csrf()
    state = get_state()

    def work(session: Session) -> None:
        _buyer_order(session, order_id)
        cancel_order(session, order_id, now=state.now(), reason="buyer", policy=state.settings.allocation)

    try:
        state.transaction(work)
        flash("Your reservation is cancelled. If you paid, the deposit is on its way back to your wallet.")
    except NotFound:
        abort(404)
    except BackordersError as error:
        flash(error.detail)
    return redirect(url_for("backorders.checkout", order_id=order_id))


def demo_pay(order_id: str) -> Any:
    """Embedded chain only: pay the quote from the funded demo account that is the order's payer."""
    check_csrf()
    state = get_state()
    chain = state.chain
    if chain is None or chain.embedded is None:
        abort(404)

    def read(session: Session) -> tuple[Any, str, bool]:
        order = _buyer_order(session, order_id)
        return payment_out(state, order), order.payer, order.status == OrderStatus.AWAITING_DEPOSIT

    payment, payer, waiting = state.read(read)
    account = next((a for a in chain.embedded.demo_accounts if a.address == payer), None)
    if payment is None or account is None or not waiting:
        flash("This order cannot be paid from a demo wallet (is it still waiting for a deposit?).")
        return redirect(url_for("backorders.checkout", order_id=order_id))
    w3 = chain.w3
    signer = Account.from_key(account.key.reveal())
    hashes = []
    for tx in payment.transactions:
        fields: dict[str, Any] = {
            "from": signer.address,
            "to": Web3.to_checksum_address(tx.to),
            "data": tx.data,
            "value": int(tx.value),
            "chainId": chain.chain_id,
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        }
        fields["gas"] = int(w3.eth.estimate_gas(fields) * 12 // 10)  # type: ignore[arg-type]
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        fields.update(maxPriorityFeePerGas=1_000_000_000, maxFeePerGas=base * 2 + 1_000_000_000)
        tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(fields).raw_transaction)
        w3.eth.wait_for_transaction_receipt(tx_hash)
        hashes.append(tx_hash.to_0x_hex())
    current_app.logger.info("demo wallet paid order %s", order_id)
    flash(f"Paid from the demo wallet: {hashes[-1]}")
    return redirect(url_for("backorders.checkout", order_id=order_id))


def delay_cancel(order_id: str) -> Any:
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
        from ..notices import find_notice

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


for _view in (reserve, checkout, checkout_status, checkout_cancel, demo_pay, delay_cancel):
    _view.backorders_page = True  # type: ignore[union-attr]
