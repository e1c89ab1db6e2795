"""Security: CSRF on every form, unguessable buyer secrets, and no secret in any log line."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask import Flask

from flask_backorders import get_state

from .conftest import ADMIN, MakeApp, put_product
from .flows import reserve_and_pay, restock, settle
from .http_servers import WebhookReceiver
from .support import ChainEnv


def html_post_routes(app: Flask) -> list[tuple[str, Any]]:
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "backorders_page", False) and "POST" in rule.methods:
            routes.append((re.sub(r"<(?:\w+:)?(\w+)>", "X1", rule.rule), view))
    return routes


def test_every_form_refuses_a_post_without_the_csrf_token(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client, sku="X1")
    routes = html_post_routes(app)
    assert len(routes) >= 9
    for path, _view in routes:
        if path.endswith("/delay-cancel"):
            # Protected by the link's own secret token instead of the session: no token, nothing happens.
            assert client.post(path, data={"notice": "1"}).status_code == 404
            continue
        if path == "/backorders/dashboard/login":
            response = client.post(path, data={"token": ADMIN["Authorization"].split()[1]})
        else:
            response = client.post(path, data={"csrf_token": "forged"}, headers=ADMIN)
        assert response.status_code == 400, (path, response.status_code)


def test_buyer_secrets_are_long_random_and_distinct(client: Any, embedded: ChainEnv) -> None:
    put_product(client, per_customer_cap=None)
    secrets_seen = set()
    ids = set()
    for i in range(20):
        body = {
            "sku": "WALLET-T",
            "quantity": 1,
            "token": "USDC",
            "email": f"s{i}@example.com",
            "payer": embedded.buyers[i % 6].address,
            "shipping": {
                "name": "S",
                "line1": f"{i} Rd",
                "city": "Graz",
                "postal_code": "8010",
                "country": "AT",
            },
        }
        created = client.post("/backorders/orders", json=body).get_json()
        secrets_seen.add(created["secret"])
        ids.add(created["id"])
        assert len(created["secret"]) >= 47 and len(created["id"]) >= 23
    assert len(secrets_seen) == 20 and len(ids) == 20
    order_id = next(iter(ids))
    for guess in ("bos_" + "A" * 43, "", "null", next(iter(secrets_seen))):
        response = client.get(f"/backorders/orders/{order_id}", headers={"Authorization": f"Bearer {guess}"})
        # A secret of another order opens nothing either.
        assert response.status_code in (200, 404)
    assert (
        sum(
            client.get(f"/backorders/orders/{oid}", headers={"Authorization": f"Bearer {s}"}).status_code
            == 200
            for oid in ids
            for s in list(secrets_seen)[:3]
        )
        == 3
    )


def test_no_secret_appears_in_any_log_line(
    make_app: MakeApp, chain: ChainEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = WebhookReceiver(script=[500])
    try:
        app = make_app(chain)
        client = app.test_client()
        put_product(client)
        hook = client.post("/backorders/admin/webhooks", json={"url": receiver.url}, headers=ADMIN).get_json()
        order = reserve_and_pay(app, client, chain, chain.buyers[0])
        restock(client, 1)
        client.post(
            f"/backorders/admin/orders/{order['id']}/ship",
            json={"carrier": "UPS", "tracking": "1"},
            headers=ADMIN,
        )
        settle(app, chain)
        state = get_state(app)
        assert state.deliverer is not None
        state.deliverer.tick()
        # Failures are logged too: a bad request, an illegal move, a refused admin call.
        client.post("/backorders/orders", data="{", content_type="application/json")
        client.post(
            f"/backorders/admin/orders/{order['id']}/ship",
            json={"carrier": "x", "tracking": "y"},
            headers=ADMIN,
        )
        client.get("/backorders/admin/orders", headers={"Authorization": "Bearer wrong-token-0123456789"})
        operator_key = bytes(chain.operator.key).hex()
        forbidden = {
            "operator key": operator_key,
            "buyer secret": order["secret"],
            "webhook secret": hook["secret"],
            "admin token": ADMIN["Authorization"].split()[1],
            "server key": app.config["SECRET_KEY"],
        }
        text = "\n".join(record.getMessage() + repr(getattr(record, "args", "")) for record in caplog.records)
        assert len(caplog.records) > 20
        for name, value in forbidden.items():
            assert value not in text, f"the {name} appears in the logs"
            assert value[2:] not in text if value.startswith("0x") else True
        settings_repr = repr(state.settings)
        assert all(value not in settings_repr for value in forbidden.values())
        assert settings_repr.count("********") >= 2
    finally:
        receiver.stop()
