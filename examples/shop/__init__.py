"""A small Flask shop that embeds Flask-Backorders: the demo.

Run it with ``./dev demo`` (or ``python -m examples.shop``). It starts on the embedded default: SQLite in
``instance/`` and an in-process EVM with the escrow deployed and demo buyer accounts funded; the chain
watcher runs in a background thread. The e-mails a real shop would send are printed to the console.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, abort, render_template, url_for

from flask_backorders import Backorders, get_state, signals
from flask_backorders.compliance.sanctions import active_list, load_list, parse_sdn_advanced
from flask_backorders.inventory import ProductInput, queue_depth, upsert_product

HERE = Path(__file__).parent

CATALOG: list[dict[str, Any]] = [
    {
        "sku": "VAULT-ONE",
        "name": "Vault One hardware wallet",
        "price": "129.00",
        "blurb": "Air-gapped signing, secure element, USB-C. Sold out at launch.",
        "eta_days": (21, 35),
    },
    {
        "sku": "VAULT-PRO",
        "name": "Vault Pro hardware wallet",
        "price": "249.00",
        "blurb": "Touchscreen, Bluetooth off by default, steel backup plate included.",
        "eta_days": (30, 45),
    },
    {
        "sku": "HASHBOX-S9",
        "name": "HashBox S9 home miner",
        "price": "1899.00",
        "blurb": "Quiet 110 TH/s miner for a home office. Ships from the next production batch.",
        "eta_days": (60, 90),
    },
]


def seed(app: Flask) -> None:
    """Put the catalog into Flask-Backorders (an upsert per product) and load the sample sanctions list."""
    state = get_state(app)
    today = date.today()
    for item in CATALOG:
        earliest, latest = item["eta_days"]
        data = ProductInput(
            name=item["name"],
            price_amount=Decimal(item["price"]),
            price_currency="USD",
            tokens=["USDC", "ETH"],
            restock_eta_earliest=today + timedelta(days=earliest),
            restock_eta_latest=today + timedelta(days=latest),
            queue_cap=500,
            per_customer_cap=3,
        )
        state.transaction(lambda s, sku=item["sku"], d=data: upsert_product(s, sku, d, now=datetime.now(UTC)))
    if state.read(active_list) is None:
        # A real shop runs `flask backorders sanctions update` (OFAC's list) daily instead.
        parsed = parse_sdn_advanced((HERE / "sdn_sample.xml").read_bytes())
        state.transaction(
            lambda s: load_list(s, parsed, source="sample SDN list (demo)", now=datetime.now(UTC))
        )


def print_emails(app: Flask) -> None:
    """What a shop would e-mail, printed to the console (connect to the signals or use webhooks)."""
    subjects = {
        "order.placed": "Your reservation: pay the deposit to take your place",
        "deposit.confirmed": "Deposit confirmed: you are in the queue",
        "order.allocated": "Good news: a unit is reserved for you",
        "order.fulfilled": "Shipped!",
        "order.refunded": "Your deposit is back in your wallet",
        "eta.changed": "News about your restock date",
    }

    def send(sender: str, **kwargs: Any) -> None:
        order, event, data = kwargs["order"], kwargs["event"], kwargs["data"]
        lines = [
            f"\n--- e-mail to {order['email']} ---",
            f"Subject: {subjects[event]}",
            f"Order {order['id']}: {order['quantity']} x {order['product_name']} ({order['status']})",
        ]
        if data.get("cancel_url"):
            eta = data.get("restock_eta") or {}
            lines.append(
                f"New expected date: {eta.get('latest') or 'unknown'}. Changed your mind? "
                f"Cancel and get your deposit back: {data['cancel_url']}"
            )
        print("\n".join(lines), flush=True)

    for name in (
        "order_placed",
        "deposit_confirmed",
        "order_allocated",
        "order_fulfilled",
        "order_refunded",
        "eta_changed",
    ):
        getattr(signals, name).connect(send, weak=False)


def settings_from_environment() -> dict[str, Any]:
    """``BACKORDERS_*`` settings from the environment (see examples/TESTNET.md). JSON objects, lists,
    booleans and whole numbers are parsed; everything else (amounts like "3000.00", URLs, keys) stays text."""
    from flask_backorders.config import DEFAULTS

    settings: dict[str, Any] = {}
    for key, raw in os.environ.items():
        if key not in DEFAULTS:
            continue
        text = raw.strip()
        if text[:1] in "{[" or text in ("true", "false", "null") or text.isdigit():
            settings[key] = json.loads(text)
        else:
            settings[key] = text
    return settings


def create_app(config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """The shop. ``config`` overrides settings (tests pass a temporary database and a faster worker)."""
    app = Flask(
        __name__,
        instance_path=instance_path or str(Path.cwd() / "instance"),
        template_folder=str(HERE / "templates"),
    )
    app.config.update(
        SECRET_KEY=os.environ.get("SHOP_SECRET_KEY") or secrets.token_hex(32),
        BACKORDERS_ADMIN_TOKEN=os.environ.get("SHOP_ADMIN_TOKEN") or "demo-admin-token-change-me",
        BACKORDERS_DATABASE_URL=os.environ.get("SHOP_DATABASE_URL"),
        BACKORDERS_KYC_THRESHOLD="2000.00",
    )
    app.config.update(settings_from_environment())
    app.config.update(config or {})
    Backorders(app)
    seed(app)
    print_emails(app)

    @app.get("/")
    def catalog() -> str:
        state = get_state(app)
        depths = state.read(lambda s: {p["sku"]: queue_depth(s, p["sku"]) for p in CATALOG})
        return render_template("catalog.html", catalog=CATALOG, depths=depths)

    @app.get("/p/<sku>")
    def product(sku: str) -> str:
        item = next((p for p in CATALOG if p["sku"] == sku), None)
        if item is None:
            abort(404)
        state = get_state(app)
        depth = state.read(lambda s: queue_depth(s, sku))
        return render_template(
            "product.html", item=item, depth=depth, reserve_url=url_for("backorders.reserve", sku=sku)
        )

    return app
