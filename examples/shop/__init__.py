"""A small Flask shop that embeds Flask-Backorders: the demo.

Run it with ``./dev demo`` (or ``python -m examples.shop``). It starts on the embedded default: SQLite in
``instance/`` and an in-process EVM with the escrow deployed and demo buyer accounts funded; the chain
watcher runs in a background thread.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, abort, render_template

from flask_backorders import Backorders, get_state
from flask_backorders.inventory import ProductInput, upsert_product

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


def seed_catalog(app: Flask) -> None:
    """Put the catalog into Flask-Backorders (idempotent: an upsert per product)."""
    state = get_state(app)
    today = date.today()
    for item in CATALOG:
        earliest, latest = item["eta_days"]
        data = ProductInput(
            name=item["name"],
            price_amount=Decimal(item["price"]),
            price_currency="USD",
            tokens=["ETH", "USDC"],
            restock_eta_earliest=today + timedelta(days=earliest),
            restock_eta_latest=today + timedelta(days=latest),
            queue_cap=500,
            per_customer_cap=3,
        )
        state.transaction(lambda s, sku=item["sku"], d=data: upsert_product(s, sku, d, now=datetime.now(UTC)))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"), template_folder=str(HERE / "templates"))
    app.config.update(
        SECRET_KEY=os.environ.get("SHOP_SECRET_KEY") or secrets.token_hex(32),
        BACKORDERS_ADMIN_TOKEN=os.environ.get("SHOP_ADMIN_TOKEN") or "demo-admin-token-change-me",
        BACKORDERS_DATABASE_URL=os.environ.get("SHOP_DATABASE_URL"),
    )
    app.config.update(config or {})
    Backorders(app)
    seed_catalog(app)

    @app.get("/")
    def catalog() -> str:
        return render_template("catalog.html", catalog=CATALOG)

    @app.get("/p/<sku>")
    def product(sku: str) -> str:
        item = next((p for p in CATALOG if p["sku"] == sku), None)
        if item is None:
            abort(404)
        return render_template("product.html", item=item)

    return app
