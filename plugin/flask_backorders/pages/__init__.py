"""HTML pages served by the extension: the buyer's reservation and checkout pages, the delay-notice
cancel page, and the merchant dashboard. Themable by overriding the ``backorders/*.html`` templates."""

from __future__ import annotations

from flask import Blueprint

from . import buyer, dashboard


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/reserve/<sku>", "reserve", buyer.reserve, methods=["GET", "POST"])
    bp.add_url_rule("/checkout/<order_id>", "checkout", buyer.checkout, methods=["GET"])
    bp.add_url_rule(
        "/checkout/<order_id>/status.json", "checkout_status", buyer.checkout_status, methods=["GET"]
    )
    bp.add_url_rule("/checkout/<order_id>/cancel", "checkout_cancel", buyer.checkout_cancel, methods=["POST"])
    bp.add_url_rule("/checkout/<order_id>/demo-pay", "demo_pay", buyer.demo_pay, methods=["POST"])
    bp.add_url_rule(
        "/orders/<order_id>/delay-cancel", "delay_cancel", buyer.delay_cancel, methods=["GET", "POST"]
    )
    dashboard.register(bp)
