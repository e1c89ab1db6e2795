"""Order placement over HTTP: the payment object, bad input, idempotency, caps, buyer secrecy."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_backorders.extension import BackordersState
from flask_backorders.models import Event, IdempotencyKey, Order

from .conftest import ADMIN, order_body, put_product
from .support import ChainEnv


def counts(state: BackordersState) -> tuple[int, int, int]:
    def read(session: Any) -> tuple[int, int, int]:
        return tuple(
            session.scalar(select(func.count()).select_from(m))  # type: ignore[return-value]
            for m in (Order, Event, IdempotencyKey)
        )

    return state.read(read)


def test_placement_returns_a_complete_payment_object(client: FlaskClient, embedded: ChainEnv) -> None:
    put_product(client)
    buyer = embedded.buyers[0]
    response = client.post("/backorders/orders", json=order_body(buyer.address, quantity=3, token="ETH"))
    assert response.status_code == 201
    assert response.headers["Location"].endswith(response.get_json()["id"])
    body = response.get_json()
    assert body["secret"].startswith("bos_") and len(body["secret"]) > 40
    payment = body["payment"]
    assert payment["chain_id"] == embedded.chain_id
    assert payment["escrow"] == embedded.escrow
    assert payment["token"] == {"symbol": "ETH", "address": None, "decimals": 18}
    assert payment["amount"] == str(129 * 10**15)  # 387 USD / 3000 USD per ETH
    assert payment["amount_display"] == "0.129"
    assert payment["quote"]["payer"] == buyer.address
    assert payment["quote"]["token"] == "0x" + "00" * 20
    assert len(payment["transactions"]) == 1 and payment["transactions"][0]["value"] == payment["amount"]
    assert payment["uri"].startswith(f"ethereum:{embedded.escrow}@{embedded.chain_id}/deposit?value=")
    assert payment["expires_at"].endswith("Z")
    assert body["queue"]["position"] is None and body["status"] == "awaiting_deposit"
    assert body["price"] == {"amount": "387.00", "currency": "USD"}


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("quantity zero", {"quantity": 0}, "quantity"),
    ("quantity negative", {"quantity": -2}, "quantity"),
    ("quantity non-integer", {"quantity": 1.5}, "quantity"),
    ("quantity a string", {"quantity": "2"}, "quantity"),
    ("quantity absurd", {"quantity": 10**12}, "quantity"),
    ("quantity above the max", {"quantity": 101}, "quantity"),
    ("payer malformed", {"payer": "0x1234"}, "payer"),
    ("payer bad checksum", {"payer": "0x5B38Da6a701c568545dCfcB03FcB875f56beddc4"}, "payer"),
    ("email", {"email": "not-an-email"}, "email"),
    ("token unknown", {"token": "DOGE"}, "token"),
    (
        "country",
        {"shipping": {"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "Germany"}},
        "shipping.country",
    ),
    ("extra field", {"price_override": "1.00"}, "price_override"),
]


@pytest.mark.parametrize(("case", "override", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    client: FlaskClient,
    state: BackordersState,
    embedded: ChainEnv,
    case: str,
    override: dict[str, Any],
    field: str,
) -> None:
    put_product(client)
    before = counts(state)
    response = client.post("/backorders/orders", json={**order_body(embedded.buyers[0].address), **override})
    assert response.status_code == 422, case
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422 and problem["type"].endswith("/validation-failed")
    assert field in [e["field"] for e in problem["errors"]]
    assert counts(state) == before


@pytest.mark.parametrize("missing", ["sku", "quantity", "token", "email", "payer", "shipping"])
def test_missing_fields_are_named(
    client: FlaskClient, state: BackordersState, embedded: ChainEnv, missing: str
) -> None:
    put_product(client)
    body = order_body(embedded.buyers[0].address)
    del body[missing]
    before = counts(state)
    response = client.post("/backorders/orders", json=body)
    assert response.status_code == 422
    assert {"field": missing, "reason": "Field required"} in response.get_json()["errors"]
    assert counts(state) == before


def test_unknown_sku_is_404(client: FlaskClient, state: BackordersState, embedded: ChainEnv) -> None:
    before = counts(state)
    response = client.post("/backorders/orders", json=order_body(embedded.buyers[0].address, sku="NOPE"))
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert counts(state) == before


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        ("sku=WALLET-T", "application/x-www-form-urlencoded", 415),
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ("", "application/json", 400),
    ],
)
def test_non_json_bodies(
    client: FlaskClient, state: BackordersState, data: str, content_type: str, expected: int
) -> None:
    put_product(client)
    before = counts(state)
    response = client.post("/backorders/orders", data=data, content_type=content_type)
    assert response.status_code == expected
    assert response.mimetype == "application/problem+json"
    assert counts(state) == before


def test_idempotency_key_replays_the_same_order_and_rejects_another_body(
    client: FlaskClient, state: BackordersState, embedded: ChainEnv
) -> None:
    put_product(client)
    body = order_body(embedded.buyers[0].address)
    headers = {"Idempotency-Key": "checkout-4711"}
    first = client.post("/backorders/orders", json=body, headers=headers)
    second = client.post("/backorders/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["secret"] == first.get_json()["secret"]
    assert second.get_json()["payment"]["signature"] == first.get_json()["payment"]["signature"]
    before = counts(state)
    other = client.post("/backorders/orders", json={**body, "quantity": 2}, headers=headers)
    assert other.status_code == 409
    assert other.get_json()["type"].endswith("/idempotency-key-reused")
    assert counts(state) == before
    assert before[0] == 1


def test_order_status_needs_the_buyer_secret_and_reveals_nothing_otherwise(
    client: FlaskClient, embedded: ChainEnv
) -> None:
    put_product(client)
    order = client.post("/backorders/orders", json=order_body(embedded.buyers[0].address)).get_json()
    missing = client.get("/backorders/orders/bo_doesnotexist000000")
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {order['secret']}"},
        {"Authorization": f"Bearer {order['secret']}x"},
    ):
        response = client.get(f"/backorders/orders/{order['id']}", headers=headers)
        assert response.status_code == 404
        # Exactly the answer for an order that does not exist (but for the echoed request path).
        assert {**response.get_json(), "instance": None} == {**missing.get_json(), "instance": None}
        cancel = client.post(f"/backorders/orders/{order['id']}/cancel", headers=headers)
        assert cancel.status_code == 404
    ok = client.get(
        f"/backorders/orders/{order['id']}", headers={"Authorization": f"Bearer {order['secret']}"}
    )
    assert ok.status_code == 200 and "secret" not in ok.get_json()


def test_queue_cap_and_per_customer_cap(
    client: FlaskClient, state: BackordersState, embedded: ChainEnv
) -> None:
    put_product(client, queue_cap=3, per_customer_cap=2)
    a, b, c = embedded.buyers[:3]
    assert client.post("/backorders/orders", json=order_body(a.address, quantity=2)).status_code == 201
    # Same e-mail, different wallet: still the same customer.
    same_email = client.post("/backorders/orders", json=order_body(b.address, quantity=1))
    assert same_email.status_code == 409 and same_email.get_json()["type"].endswith("/customer-cap-reached")
    other = order_body(
        b.address,
        email="bob@example.com",
        shipping={"name": "Bob", "line1": "2 Road", "city": "Paris", "postal_code": "75001", "country": "FR"},
    )
    assert client.post("/backorders/orders", json=other).status_code == 201
    third = order_body(
        c.address,
        email="carol@example.com",
        shipping={"name": "Carol", "line1": "3 Way", "city": "Rome", "postal_code": "00100", "country": "IT"},
    )
    full = client.post("/backorders/orders", json=third)
    assert full.status_code == 409 and full.get_json()["type"].endswith("/queue-full")
    product = client.get("/backorders/products/WALLET-T").get_json()
    assert product["queue"] == {"orders": 2, "units": 3}


def test_unknown_routes_under_the_prefix_are_problem_json(client: FlaskClient) -> None:
    response = client.get("/backorders/nothing-here")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    response = client.delete("/backorders/products")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
    assert "GET" in response.headers["Allow"]


def test_openapi_document_lists_every_route(client: FlaskClient, app: Any) -> None:
    document = client.get("/backorders/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")

    def is_api(endpoint: str) -> bool:
        view = app.view_functions[endpoint]
        return endpoint not in ("backorders.openapi", "backorders.static") and not getattr(
            view, "backorders_page", False
        )

    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("backorders.") and is_api(rule.endpoint)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    import re

    documented = {
        (re.sub(r"\{(\w+)\}", r"<\1>", path), method.upper())
        for path, ops in document["paths"].items()
        for method in ops
    }
    assert routes == documented
    schema = document["paths"]["/backorders/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert schema["schema"]["$ref"] == "#/components/schemas/OrderIn"


def test_admin_headers_fixture_is_not_a_buyer_secret(client: FlaskClient) -> None:
    assert client.get("/backorders/orders/anything", headers=ADMIN).status_code == 404


def test_arbitrary_json_bodies_never_crash_and_bad_ones_change_nothing(
    client: FlaskClient, state: BackordersState, embedded: ChainEnv
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    put_product(client)
    good = order_body(embedded.buyers[0].address)
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )
    mutated = st.builds(
        lambda drop, extra: {**{k: v for k, v in good.items() if k not in drop}, **extra},
        st.sets(st.sampled_from(sorted(good))),
        st.dictionaries(st.sampled_from(sorted(good)), values, max_size=3),
    )

    @given(body=values | mutated)
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def post(body: Any) -> None:
        before = counts(state)
        response = client.post("/backorders/orders", json=body)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code != 201:
            assert response.mimetype == "application/problem+json"
            assert counts(state) == before

    post()
