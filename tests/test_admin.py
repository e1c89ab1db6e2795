"""Admin routes: deny by default (enumerated from the URL map), products, restock, listing, ship, refund."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask, Request
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_backorders import get_state
from flask_backorders.models import Event, Order

from .conftest import ADMIN, PRODUCT, MakeApp, order_body, put_product
from .flows import reserve_and_pay, restock, status
from .support import ChainEnv


def admin_routes(app: Flask, *, pages: bool | None = None) -> list[tuple[str, str]]:
    """Every admin route from the app's URL map, with a concrete path (``pages``: only HTML / only API)."""
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "backorders_admin", False):
            continue
        if pages is not None and bool(getattr(view, "backorders_page", False)) != pages:
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "X1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_there_are_admin_routes_and_every_one_is_marked(app: Flask) -> None:
    assert len(admin_routes(app, pages=False)) >= 14
    assert len(admin_routes(app, pages=True)) >= 8
    for rule in app.url_map.iter_rules():
        if "/admin/" in rule.rule:
            assert getattr(app.view_functions[rule.endpoint], "backorders_admin", False), rule.rule


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-the-token-xxxxxxxxxx"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}],
)
def test_every_admin_route_refuses_without_valid_credentials(app: Flask, headers: dict[str, str]) -> None:
    client = app.test_client()
    for method, path in admin_routes(app, pages=False):
        response = client.open(path, method=method, json={}, headers=headers)
        assert response.status_code in (401, 403), (method, path, response.status_code)
        assert response.mimetype == "application/problem+json"
    for method, path in admin_routes(app, pages=True):
        response = client.open(path, method=method, data={}, headers=headers)
        assert response.status_code in (401, 403), (method, path, response.status_code)
        assert b"Merchant dashboard" in response.data and b"Sign in" in response.data  # the login form only


def test_with_neither_token_nor_callback_admin_is_closed(make_app: MakeApp) -> None:
    app = make_app(BACKORDERS_ADMIN_TOKEN=None)
    client = app.test_client()
    for method, path in admin_routes(app):
        for headers in ({}, ADMIN):
            assert client.open(path, method=method, json={}, headers=headers).status_code in (401, 403)


def test_host_authorisation_callback_grants_admin(make_app: MakeApp) -> None:
    def staff_only(request: Request) -> bool:
        return request.headers.get("X-Staff") == "yes"

    app = make_app(BACKORDERS_ADMIN_TOKEN=None, backorders_kwargs={"authorize_admin": staff_only})
    client = app.test_client()
    assert client.put("/backorders/admin/products/W", json=PRODUCT).status_code == 401
    assert (
        client.put("/backorders/admin/products/W", json=PRODUCT, headers={"X-Staff": "no"}).status_code == 401
    )
    assert (
        client.put("/backorders/admin/products/W", json=PRODUCT, headers={"X-Staff": "yes"}).status_code
        == 201
    )


def test_product_upsert_patch_eta_and_listing(client: FlaskClient, app: Flask) -> None:
    created = client.put(
        "/backorders/admin/products/MINER-S9", json={**PRODUCT, "name": "Miner S9"}, headers=ADMIN
    )
    assert created.status_code == 201
    again = client.put(
        "/backorders/admin/products/MINER-S9", json={**PRODUCT, "name": "Miner S9 Pro"}, headers=ADMIN
    )
    assert again.status_code == 200 and again.get_json()["name"] == "Miner S9 Pro"
    patched = client.patch(
        "/backorders/admin/products/MINER-S9",
        json={"restock_eta": {"earliest": "2027-03-01", "latest": "2027-03-15"}},
        headers=ADMIN,
    )
    assert patched.status_code == 200
    assert patched.get_json()["restock_eta"] == {"earliest": "2027-03-01", "latest": "2027-03-15"}
    assert patched.get_json()["name"] == "Miner S9 Pro"
    bad = client.patch(
        "/backorders/admin/products/MINER-S9",
        json={"restock_eta": {"earliest": "2027-03-15", "latest": "2027-03-01"}},
        headers=ADMIN,
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "restock_eta.latest"
    listing = client.get("/backorders/products").get_json()["products"]
    assert [p["sku"] for p in listing] == ["MINER-S9"]
    assert listing[0]["price"] == {"amount": "129.00", "currency": "USD"}
    assert (
        client.patch("/backorders/admin/products/NOPE", json={"name": "x"}, headers=ADMIN).status_code == 404
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PRODUCT, "price": {"amount": 129.0, "currency": "USD"}}, "price.amount"),
        ({**PRODUCT, "price": {"amount": "-1", "currency": "USD"}}, "price.amount"),
        ({**PRODUCT, "price": {"amount": "1.234", "currency": "USD"}}, "price.amount"),
        ({**PRODUCT, "price": {"amount": "10", "currency": "usd"}}, "price.currency"),
        ({**PRODUCT, "tokens": []}, "tokens"),
        ({**PRODUCT, "tokens": ["SHIB"]}, "tokens"),
        ({**PRODUCT, "queue_cap": 0}, "queue_cap"),
    ],
)
def test_product_validation(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    response = client.put("/backorders/admin/products/W", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.get_json()["errors"]]
    assert client.get("/backorders/products/W").status_code == 404


def test_illegal_transitions_are_rejected_and_change_nothing(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    order = client.post("/backorders/orders", json=order_body(embedded.buyers[0].address)).get_json()
    state = get_state(app)

    def snapshot() -> tuple[str, int]:
        return state.read(
            lambda s: (s.get(Order, order["id"]).status, s.scalar(select(func.count()).select_from(Event)))
        )

    before = snapshot()
    ship = client.post(
        f"/backorders/admin/orders/{order['id']}/ship",
        json={"carrier": "UPS", "tracking": "1"},
        headers=ADMIN,
    )
    assert ship.status_code == 409 and ship.get_json()["type"].endswith("/illegal-transition")
    assert "awaiting_deposit" in ship.get_json()["detail"]
    refund = client.post(f"/backorders/admin/orders/{order['id']}/refund", headers=ADMIN)
    assert refund.status_code == 409
    assert snapshot() == before

    paid = reserve_and_pay(
        app,
        client,
        embedded,
        embedded.buyers[1],
        email="b@example.com",
        shipping={"name": "B", "line1": "9 Rd", "city": "Bonn", "postal_code": "53111", "country": "DE"},
    )
    restock(client, 1)
    assert (
        client.post(
            f"/backorders/admin/orders/{paid['id']}/ship",
            json={"carrier": "UPS", "tracking": "1"},
            headers=ADMIN,
        ).status_code
        == 200
    )
    twice = client.post(
        f"/backorders/admin/orders/{paid['id']}/ship", json={"carrier": "UPS", "tracking": "2"}, headers=ADMIN
    )
    assert twice.status_code == 409
    late_refund = client.post(f"/backorders/admin/orders/{paid['id']}/refund", headers=ADMIN)
    assert late_refund.status_code == 409
    assert status(client, paid)["shipment"] == {"carrier": "UPS", "tracking": "1"}


def test_refund_of_an_allocated_order_frees_its_units_for_the_next_in_queue(
    make_app: MakeApp, embedded: ChainEnv
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    first = reserve_and_pay(app, client, embedded, embedded.buyers[0])
    second = reserve_and_pay(
        app,
        client,
        embedded,
        embedded.buyers[1],
        email="two@example.com",
        shipping={"name": "T", "line1": "2 St", "city": "Oslo", "postal_code": "0150", "country": "NO"},
    )
    assert restock(client, 1)["allocations"] == [{"order_id": first["id"], "quantity": 1}]
    refund = client.post(
        f"/backorders/admin/orders/{first['id']}/refund", json={"reason": "damaged"}, headers=ADMIN
    )
    assert refund.status_code == 200 and refund.get_json()["status"] == "refund_pending"
    assert status(client, second)["status"] == "allocated"


def test_order_listing_filters_and_paginates(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    ids = []
    for i in range(5):
        body = order_body(
            embedded.buyers[i].address,
            email=f"p{i}@example.com",
            shipping={
                "name": "P",
                "line1": f"{i} Ave",
                "city": "Graz",
                "postal_code": "8010",
                "country": "AT",
            },
        )
        ids.append(client.post("/backorders/orders", json=body).get_json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, "status": "awaiting_deposit"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/backorders/admin/orders", query_string=query, headers=ADMIN).get_json()
        seen += [o["id"] for o in page["orders"]]
        assert all("email" in o and "payer" in o for o in page["orders"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    none = client.get("/backorders/admin/orders", query_string={"status": "fulfilled"}, headers=ADMIN)
    assert none.get_json()["orders"] == []
    bad = client.get(
        "/backorders/admin/orders", query_string={"status": "shipped", "limit": 0}, headers=ADMIN
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"status", "limit"}
