"""Built-in checks besides sanctions: shipping embargo, value threshold, per-customer caps."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from ..models import Order
from ..states import ACTIVE
from .checks import CheckContext, CheckResult, failed, passed, review

#: Comprehensively embargoed destinations and occupied regions (ISO 3166-1 / 3166-2). Reviewed on the date
#: in ``BACKORDERS_EMBARGO_REVIEWED``; merchants must keep their own list current (``BACKORDERS_EMBARGOED``).
DEFAULT_EMBARGOED = (
    "CU",
    "IR",
    "KP",
    "SY",
    "RU",
    "BY",
    "UA-43",  # Crimea
    "UA-40",  # Sevastopol
    "UA-14",  # Donetsk
    "UA-09",  # Luhansk
    "UA-23",  # Zaporizhzhia
    "UA-65",  # Kherson
)
DEFAULT_EMBARGO_REVIEWED = "2026-11-01"


def embargo_check(ctx: CheckContext) -> CheckResult:
    """The shipping country and subdivision against the blocklist."""
    shipping = ctx.order.shipping or {}
    country = str(shipping.get("country") or "").upper()
    subdivision = str(shipping.get("subdivision") or "").upper()
    inputs = {"country": country, "subdivision": subdivision}
    source, reviewed = "embargo list", ctx.settings.embargo_reviewed
    blocked = ctx.settings.embargoed
    if not country:
        return review("no shipping country", inputs=inputs, source=source, source_date=reviewed)
    if country in blocked:
        return failed(
            f"shipping to {country} is embargoed", inputs=inputs, source=source, source_date=reviewed
        )
    if subdivision and subdivision in blocked:
        return failed(
            f"shipping to {subdivision} is embargoed", inputs=inputs, source=source, source_date=reviewed
        )
    return passed("destination allowed", inputs=inputs, source=source, source_date=reviewed)


def value_threshold_check(ctx: CheckContext) -> CheckResult:
    """Orders above the threshold need the shop to have verified the buyer (KYC), else review."""
    threshold = ctx.settings.kyc_threshold
    order = ctx.order
    inputs = {
        "value": str(order.fiat_amount),
        "currency": order.currency,
        "verified": order.customer_verified,
    }
    if threshold is None or order.fiat_amount <= threshold:
        return passed("below the verification threshold", inputs=inputs)
    if order.customer_verified:
        return passed("above the threshold; the shop verified the buyer", inputs=inputs)
    return review(
        f"order value {order.fiat_amount} {order.currency} is above {threshold}: verify the buyer",
        inputs=inputs,
    )


def customer_caps_check(ctx: CheckContext) -> CheckResult:
    """Units of the product across all of the customer's active orders (same e-mail, payer or address)."""
    order = ctx.order
    cap = order.product.per_customer_cap
    inputs = {
        "email": order.email,
        "payer": order.payer.lower(),
        "address": order.shipping_digest,
        "cap": cap,
    }
    if cap is None:
        return passed("no per-customer cap", inputs=inputs)
    units = ctx.session.scalar(
        select(func.coalesce(func.sum(Order.quantity), 0)).where(
            Order.sku == order.sku,
            Order.status.in_(ACTIVE),
            or_(
                Order.email == order.email,
                Order.payer == order.payer,
                Order.shipping_digest == order.shipping_digest,
            ),
        )
    )
    inputs["units"] = int(units or 0)
    if int(units or 0) > cap:
        return review(f"the customer holds {units} units across orders; the cap is {cap}", inputs=inputs)
    return passed(f"{units} of {cap} units", inputs=inputs)
