"""The compliance gate: every built-in check, the gate holding payouts, reviews, freezing, fail-closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask, Request
from sqlalchemy import select

from flask_backorders import get_state
from flask_backorders.compliance import CheckContext, CheckResult, passed, review
from flask_backorders.compliance.gate import business_days_after
from flask_backorders.models import ComplianceCase, Payout, SanctionsList

from .conftest import ADMIN, MakeApp, load_sanctions_list, order_body, put_product
from .flows import place, reserve_and_pay, restock, settle, status
from .http_servers import ScreeningApi
from .rpc_proxy import FaultProxy
from .sdn import DEFAULT_LIST
from .support import ChainEnv, Clock


def admin_view(app: Flask, order: dict[str, Any]) -> dict[str, Any]:
    response = app.test_client().get(f"/backorders/admin/orders/{order['id']}", headers=ADMIN)
    assert response.status_code == 200
    data: dict[str, Any] = response.get_json()
    return data


def payouts(app: Flask, order: dict[str, Any]) -> list[tuple[str, str]]:
    state = get_state(app)
    return state.read(
        lambda s: [
            (p.kind, p.status)
            for p in s.scalars(select(Payout).where(Payout.order_id == order["id"]).order_by(Payout.id))
        ]
    )


def sanction(chain: ChainEnv, address: str) -> None:
    oracle = chain.contract("SanctionsList", chain.oracle)
    chain.transact_owner(oracle.functions.addToSanctionsList([address]))


@pytest.fixture
def screening_api() -> Iterator[ScreeningApi]:
    api = ScreeningApi(api_key="screening-key-123")
    yield api
    api.stop()


# ------------------------------------------------------------------ placement


def test_a_listed_payer_gets_no_quote(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    listed = DEFAULT_LIST[0][2]
    response = client.post("/backorders/orders", json=order_body(listed))
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "payer", "reason": "cannot be accepted"}]
    assert client.get("/backorders/admin/orders", headers=ADMIN).get_json()["orders"] == []


@pytest.mark.parametrize(
    ("country", "subdivision", "allowed"),
    [
        ("CU", None, False),
        ("IR", None, False),
        ("KP", None, False),
        ("RU", None, False),
        ("UA", "UA-43", False),
        ("UA", "UA-14", False),
        ("UA", "UA-09", False),
        ("UA", "UA-30", True),
        ("DE", "DE-BE", True),
        ("US", "US-NY", True),
    ],
)
def test_embargoed_destinations_by_country_and_subdivision(
    make_app: MakeApp, embedded: ChainEnv, country: str, subdivision: str | None, allowed: bool
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    shipping = {"name": "A", "line1": "1 St", "city": "C", "postal_code": "1", "country": country}
    if subdivision:
        shipping["subdivision"] = subdivision
    response = client.post(
        "/backorders/orders", json=order_body(embedded.buyers[0].address, shipping=shipping)
    )
    if allowed:
        assert response.status_code == 201
    else:
        assert response.status_code == 422
        assert response.get_json()["errors"][0]["field"] == "shipping.country"
        assert "embargoed" in response.get_json()["errors"][0]["reason"]


def test_the_embargo_list_is_configurable(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded, BACKORDERS_EMBARGOED=["FR"], BACKORDERS_EMBARGO_REVIEWED="2026-11-20")
    client = app.test_client()
    put_product(client)
    ship_fr = {"name": "A", "line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "FR"}
    assert (
        client.post(
            "/backorders/orders", json=order_body(embedded.buyers[0].address, shipping=ship_fr)
        ).status_code
        == 422
    )
    ship_cu = {"name": "A", "line1": "1 Calle", "city": "Havana", "postal_code": "10400", "country": "CU"}
    assert (
        client.post(
            "/backorders/orders", json=order_body(embedded.buyers[0].address, shipping=ship_cu)
        ).status_code
        == 201
    )


# ---------------------------------------------------------- the gate and payouts


def test_nothing_is_captured_until_the_gate_passed(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[0])
    restock(client, 1)
    runtime = get_state(app).require_chain()
    assert runtime.sender is not None
    client.post(
        f"/backorders/admin/orders/{order['id']}/ship",
        json={"carrier": "DHL", "tracking": "1"},
        headers=ADMIN,
    )
    assert payouts(app, order) == [("capture", "pending")]
    assert runtime.sender.tick() == 0  # the sender sends nothing the gate has not cleared
    assert embedded.usdc_balance(embedded.escrow) == 129 * 10**6
    get_state(app).require_compliance().tick()
    assert payouts(app, order) == [("capture", "ready")]
    assert runtime.sender.tick() == 1
    settle(app, embedded)
    assert status(client, order)["status"] == "fulfilled"
    assert status(client, order)["compliance"] == {"state": "clear"}
    results = admin_view(app, order)["compliance"]["results"]
    stages = {(r["stage"], r["check"], r["outcome"]) for r in results}
    assert ("fulfilment", "sanctions.local_list", "pass") in stages
    assert ("fulfilment", "embargo", "pass") in stages
    assert ("deposit", "sanctions.oracle", "pass") in stages
    local = next(r for r in results if r["check"] == "sanctions.local_list")
    assert local["source"] == "test SDN list" and local["source_date"] == "2026-11-20"
    assert len(local["inputs_digest"]) == 64


def test_value_threshold_review_then_approve_then_fulfil(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded, BACKORDERS_KYC_THRESHOLD="200.00")
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[0], quantity=2)  # 258.00 USD
    restock(client, 2)
    get_state(app).require_compliance().tick()
    under_review = status(client, order)
    assert under_review["status"] == "compliance_review"
    assert under_review["compliance"] == {"state": "under_review"}  # nothing about why
    detail = admin_view(app, order)["compliance"]
    assert any(r["check"] == "value_threshold" and r["outcome"] == "review" for r in detail["results"])
    ship = client.post(
        f"/backorders/admin/orders/{order['id']}/ship",
        json={"carrier": "DHL", "tracking": "1"},
        headers=ADMIN,
    )
    assert ship.status_code == 409

    bad = client.post(
        f"/backorders/admin/orders/{order['id']}/review",
        json={"decision": "maybe", "note": "x"},
        headers=ADMIN,
    )
    assert bad.status_code == 422
    approved = client.post(
        f"/backorders/admin/orders/{order['id']}/review",
        json={"decision": "approve", "note": "passport checked in store"},
        headers=ADMIN,
    )
    assert approved.status_code == 200 and approved.get_json()["status"] == "allocated"
    decision = approved.get_json()["compliance"]["decisions"][-1]
    assert decision == {
        **decision,
        "outcome": "approve",
        "decided_by": "admin-token",
        "note": "passport checked in store",
    }
    assert (
        client.post(
            f"/backorders/admin/orders/{order['id']}/ship",
            json={"carrier": "DHL", "tracking": "2"},
            headers=ADMIN,
        ).status_code
        == 200
    )
    settle(app, embedded)
    assert status(client, order)["status"] == "fulfilled"


def test_review_reject_refunds_and_records_who(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(
        embedded,
        BACKORDERS_KYC_THRESHOLD="100.00",
        backorders_kwargs={"admin_identity": lambda request: "alice@shop.example"},
    )
    client = app.test_client()
    put_product(client)
    buyer = embedded.buyers[1]
    before = embedded.usdc_balance(buyer.address)
    order = reserve_and_pay(app, client, embedded, buyer)
    restock(client, 1)
    settle(app, embedded)
    assert status(client, order)["status"] == "compliance_review"
    rejected = client.post(
        f"/backorders/admin/orders/{order['id']}/review",
        json={"decision": "reject", "note": "could not verify"},
        headers=ADMIN,
    )
    assert rejected.get_json()["status"] == "refund_pending"
    assert rejected.get_json()["compliance"]["decisions"][-1]["decided_by"] == "alice@shop.example"
    settle(app, embedded)
    assert status(client, order)["status"] == "refunded"
    assert embedded.usdc_balance(buyer.address) == before
    again = client.post(
        f"/backorders/admin/orders/{order['id']}/review",
        json={"decision": "approve", "note": "late"},
        headers=ADMIN,
    )
    assert again.status_code == 409


def test_a_verified_customer_passes_the_threshold(make_app: MakeApp, embedded: ChainEnv) -> None:
    def verified(request: Request, email: str) -> bool:
        return email == "ada@example.com"

    app = make_app(
        embedded, BACKORDERS_KYC_THRESHOLD="100.00", backorders_kwargs={"customer_verified": verified}
    )
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[0])
    restock(client, 1)
    settle(app, embedded)
    assert status(client, order)["status"] == "allocated"


def test_caps_across_orders_by_normalised_email_payer_and_address(
    make_app: MakeApp, embedded: ChainEnv
) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client, per_customer_cap=2)
    a, b, c = embedded.buyers[:3]
    first = client.post(
        "/backorders/orders", json=order_body(a.address, quantity=2, email="Ada.Lovelace@gmail.com")
    )
    assert first.status_code == 201
    # The same Gmail mailbox, written differently, with another wallet and another address.
    other = {"name": "X", "line1": "9 Elsewhere", "city": "Leeds", "postal_code": "LS1", "country": "GB"}
    same_mailbox = client.post(
        "/backorders/orders",
        json=order_body(b.address, email="adalovelace+drop@googlemail.com", shipping=other),
    )
    assert same_mailbox.status_code == 409
    # Another e-mail and wallet, but the same street address (spelled differently).
    same_street = dict(order_body(c.address, email="carol@example.com"))
    same_street["shipping"] = {**same_street["shipping"], "line1": "1, Analytical st."}
    assert client.post("/backorders/orders", json=same_street).status_code == 409
    # The same wallet with new e-mail and address.
    same_wallet = client.post(
        "/backorders/orders", json=order_body(a.address, email="z@example.com", shipping=other)
    )
    assert same_wallet.status_code == 409


# ---------------------------------------------------------------- sanctions


def test_payer_sanctioned_between_deposit_and_restock_is_frozen_and_funds_stay(
    make_app: MakeApp, chain: ChainEnv
) -> None:
    app = make_app(chain)
    client = app.test_client()
    put_product(client)
    buyer = chain.buyers[2]
    order = reserve_and_pay(app, client, chain, buyer, token="ETH")
    amount = int(order["payment"]["amount"])
    assert status(client, order)["status"] == "held"

    load_sanctions_list(app, [*DEFAULT_LIST, ("NEWLY LISTED", "ETH", buyer.address)])
    restock(client, 1)
    settle(app, chain)

    frozen = status(client, order)
    assert frozen["status"] == "frozen" and frozen["compliance"] == {"state": "on_hold"}
    assert chain.w3.eth.get_balance(chain.escrow) == amount
    state = chain.escrow_contract.functions.escrowOf(
        bytes.fromhex(order["payment"]["quote"]["order_ref"][2:])
    ).call()
    assert state[4] == 1  # still held on chain
    assert payouts(app, order) == []  # no capture, no void was ever sent
    case = admin_view(app, order)["compliance"]["case"]
    assert case["matched"]["address"] == buyer.address.lower()
    assert case["matched"]["party"] == "NEWLY LISTED"
    assert case["report_by"] == business_days_after(date.today(), 10).isoformat()
    for path, body in (("ship", {"carrier": "UPS", "tracking": "1"}), ("refund", {"reason": "x"})):
        assert (
            client.post(
                f"/backorders/admin/orders/{order['id']}/{path}", json=body, headers=ADMIN
            ).status_code
            == 409
        )
    cancel = client.post(
        f"/backorders/orders/{order['id']}/cancel", headers={"Authorization": f"Bearer {order['secret']}"}
    )
    assert cancel.status_code == 409
    settle(app, chain)
    assert chain.w3.eth.get_balance(chain.escrow) == amount
    # The unit went to nobody frozen: it is back in stock.
    assert client.get("/backorders/products/WALLET-T").get_json()["stock_available"] == 1


def test_oracle_hit_at_deposit_freezes_at_once(make_app: MakeApp, chain: ChainEnv) -> None:
    app = make_app(chain, BACKORDERS_SANCTIONS_ORACLE=chain.oracle)
    client = app.test_client()
    put_product(client)
    buyer = chain.buyers[3]
    order = place(client, buyer)
    sanction(chain, buyer.address)  # listed on chain after the quote, before the deposit lands
    chain.pay(buyer, order["payment"])
    settle(app, chain)
    assert status(client, order)["status"] == "frozen"
    results = admin_view(app, order)["compliance"]["results"]
    assert any(r["check"] == "sanctions.oracle" and r["outcome"] == "fail" for r in results)


def test_a_refund_to_a_sanctioned_payer_is_never_sent(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    buyer = embedded.buyers[4]
    order = reserve_and_pay(app, client, embedded, buyer)
    load_sanctions_list(app, [("LISTED BUYER", "ETH", buyer.address)])
    cancel = client.post(
        f"/backorders/orders/{order['id']}/cancel", headers={"Authorization": f"Bearer {order['secret']}"}
    )
    assert cancel.get_json()["status"] == "refund_pending"
    assert get_state(app).require_chain().sender.tick() == 0  # type: ignore[union-attr]
    settle(app, embedded)
    assert status(client, order)["status"] == "frozen"
    assert payouts(app, order) == [("void", "cancelled")]
    assert embedded.usdc_balance(embedded.escrow) == 129 * 10**6


def test_screening_api_pass_fail_and_api_key(
    make_app: MakeApp, embedded: ChainEnv, screening_api: ScreeningApi
) -> None:
    app = make_app(
        embedded,
        BACKORDERS_SCREENING_API_URL=screening_api.url,
        BACKORDERS_SCREENING_API_KEY=screening_api.api_key,
    )
    client = app.test_client()
    put_product(client)
    clean, listed = embedded.buyers[0], embedded.buyers[1]
    screening_api.sanctioned.add(listed.address.lower())
    refused = client.post("/backorders/orders", json=order_body(listed.address, email="l@example.com"))
    assert refused.status_code == 422
    order = reserve_and_pay(app, client, embedded, clean)
    assert status(client, order)["status"] == "held"
    path, headers = screening_api.server.requests[-1]
    assert path == f"/api/v1/address/{clean.address}" and headers["x-api-key"] == screening_api.api_key


@pytest.mark.parametrize("mode", ["error500", "garbage", "slow", "down"])
def test_an_unreachable_screening_api_fails_closed(
    make_app: MakeApp, embedded: ChainEnv, screening_api: ScreeningApi, mode: str
) -> None:
    app = make_app(
        embedded,
        BACKORDERS_SCREENING_API_URL=screening_api.url,
        BACKORDERS_SCREENING_API_KEY=screening_api.api_key,
        BACKORDERS_SCREENING_API_TIMEOUT=0.5,
    )
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[0])
    if mode == "down":
        screening_api.stop()
    else:
        screening_api.mode = mode
    restock(client, 1)
    settle(app, embedded)
    assert status(client, order)["status"] == "compliance_review"
    results = admin_view(app, order)["compliance"]["results"]
    api = [r for r in results if r["check"] == "sanctions.api" and r["stage"] == "fulfilment"]
    assert api and api[-1]["outcome"] == "review"


def test_an_unreachable_oracle_fails_closed(make_app: MakeApp, anvil: ChainEnv) -> None:
    proxy = FaultProxy(anvil.extra["url"])
    try:
        app = make_app(
            anvil,
            BACKORDERS_RPC_URL=proxy.url,
            BACKORDERS_SANCTIONS_ORACLE=anvil.oracle,
            BACKORDERS_RPC_RETRIES=0,
        )
        client = app.test_client()
        put_product(client)
        order = reserve_and_pay(app, client, anvil, anvil.buyers[0])
        restock(client, 1)
        proxy.fail_next(20, "http503", methods={"eth_call"})
        get_state(app).require_compliance().tick()
        assert status(client, order)["status"] == "compliance_review"
    finally:
        proxy.stop()


def test_no_list_or_a_stale_list_means_review(make_app: MakeApp, embedded: ChainEnv, clock: Clock) -> None:
    app = make_app(embedded, load_sanctions=False)
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(app, client, embedded, embedded.buyers[0])
    restock(client, 1)
    settle(app, embedded)
    assert status(client, order)["status"] == "compliance_review"
    reason = [
        r for r in admin_view(app, order)["compliance"]["results"] if r["check"] == "sanctions.local_list"
    ]
    assert "no sanctions list" in reason[-1]["reason"]

    load_sanctions_list(app, DEFAULT_LIST)
    clock.advance(timedelta(days=8).total_seconds())
    state = get_state(app)
    assert state.read(lambda s: s.scalars(select(SanctionsList)).first()) is not None
    second = reserve_and_pay(
        app,
        client,
        embedded,
        embedded.buyers[1],
        email="second@example.com",
        shipping={"name": "S", "line1": "2 Rd", "city": "Bern", "postal_code": "3000", "country": "CH"},
    )
    restock(client, 1)
    settle(app, embedded)
    assert status(client, second)["status"] == "compliance_review"
    stale = [
        r for r in admin_view(app, second)["compliance"]["results"] if r["check"] == "sanctions.local_list"
    ]
    assert "days old" in stale[-1]["reason"]


def test_merchant_checks_run_after_the_built_ins(make_app: MakeApp, embedded: ChainEnv) -> None:
    from flask_backorders.compliance import Check, Stage

    seen: list[str] = []

    def no_po_boxes(ctx: CheckContext) -> CheckResult:
        seen.append(ctx.stage.value)
        if "po box" in str(ctx.order.shipping.get("line1", "")).lower():
            return review("carrier cannot deliver to a PO box")
        return passed("street address")

    app = make_app(
        embedded,
        backorders_kwargs={"checks": [Check("no_po_boxes", no_po_boxes, frozenset({Stage.FULFILMENT}))]},
    )
    client = app.test_client()
    put_product(client)
    order = reserve_and_pay(
        app,
        client,
        embedded,
        embedded.buyers[0],
        shipping={"name": "P", "line1": "PO Box 12", "city": "Cork", "postal_code": "T12", "country": "IE"},
    )
    restock(client, 1)
    settle(app, embedded)
    assert seen == ["fulfilment"]
    assert status(client, order)["status"] == "compliance_review"
    names = [
        r["check"] for r in admin_view(app, order)["compliance"]["results"] if r["stage"] == "fulfilment"
    ]
    assert names[-1] == "no_po_boxes" and names[0] == "sanctions.local_list"


def test_business_days_skip_weekends() -> None:
    assert business_days_after(date(2026, 11, 27), 10) == date(2026, 12, 11)  # a Friday
    assert business_days_after(date(2026, 11, 28), 1) == date(2026, 11, 30)  # Saturday -> Monday


def test_frozen_cases_are_listed_with_their_report_date(make_app: MakeApp, embedded: ChainEnv) -> None:
    app = make_app(embedded)
    client = app.test_client()
    put_product(client)
    buyer = embedded.buyers[5]
    order = reserve_and_pay(app, client, embedded, buyer)
    load_sanctions_list(app, [("X", "ETH", buyer.address)])
    restock(client, 1)
    settle(app, embedded)
    frozen = client.get(
        "/backorders/admin/orders", query_string={"status": "frozen"}, headers=ADMIN
    ).get_json()
    assert [o["id"] for o in frozen["orders"]] == [order["id"]]
    assert frozen["orders"][0]["compliance"]["case"]["status"] == "open"
    state = get_state(app)
    assert state.read(lambda s: len(s.scalars(select(ComplianceCase)).all())) == 1
