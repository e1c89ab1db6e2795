"""The whole lifecycle through the HTTP API, a buyer's wallet and the watcher, on both chains."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from .conftest import ADMIN, MakeApp, put_product
from .flows import place, reserve_and_pay, restock, settle, status
from .support import ChainEnv


def test_usdc_deposit_held_restocked_shipped_and_captured(make_app: MakeApp, chain: ChainEnv) -> None:
    app: Flask = make_app(chain)
    client: FlaskClient = app.test_client()
    put_product(client)
    buyer = chain.buyers[0]
    payer_before = chain.usdc_balance(buyer.address)

    order = place(client, buyer, quantity=2)
    payment = order["payment"]
    assert order["status"] == "awaiting_deposit"
    assert payment["amount"] == str(258 * 10**6) and payment["amount_display"] == "258"
    assert [t["to"] for t in payment["transactions"]] == [chain.usdc, chain.escrow]  # approve, then deposit

    chain.pay(buyer, payment)
    assert chain.usdc_balance(chain.escrow) == 258 * 10**6
    settle(app, chain)
    held = status(client, order)
    assert held["status"] == "held"
    assert held["queue"] == {"position": 1, "units_ahead": 0, "orders": 1, "units": 2}
    assert held["deposit"]["final"] is True

    assert restock(client, 2)["allocations"] == [{"order_id": order["id"], "quantity": 2}]
    shipped = client.post(
        f"/backorders/admin/orders/{order['id']}/ship",
        json={"carrier": "DHL", "tracking": "JD0001"},
        headers=ADMIN,
    )
    assert shipped.status_code == 200 and shipped.get_json()["status"] == "allocated"
    settle(app, chain)

    done = status(client, order)
    assert done["status"] == "fulfilled"
    assert chain.usdc_balance(chain.payout) == 258 * 10**6
    assert chain.usdc_balance(chain.escrow) == 0
    assert chain.usdc_balance(buyer.address) == payer_before - 258 * 10**6
    types = [e["type"] for e in done["timeline"]]
    assert types[:4] == ["order.placed", "deposit.seen", "deposit.confirmed", "order.allocated"]
    assert types[-1] == "order.fulfilled"


def test_eth_deposit_cancelled_is_voided_back_to_the_payer(make_app: MakeApp, chain: ChainEnv) -> None:
    app = make_app(chain)
    client = app.test_client()
    put_product(client)
    buyer = chain.buyers[1]
    order = reserve_and_pay(app, client, chain, buyer, token="ETH")
    amount = int(order["payment"]["amount"])
    assert amount == 43 * 10**15  # 129 USD at 3000 USD/ETH
    assert chain.w3.eth.get_balance(chain.escrow) == amount
    before = chain.w3.eth.get_balance(buyer.address)

    cancelled = client.post(
        f"/backorders/orders/{order['id']}/cancel", headers={"Authorization": f"Bearer {order['secret']}"}
    )
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "refund_pending"
    settle(app, chain)

    assert status(client, order)["status"] == "refunded"
    assert chain.w3.eth.get_balance(chain.escrow) == 0
    assert chain.w3.eth.get_balance(buyer.address) == before + amount  # the operator paid the gas


def test_queue_follows_onchain_deposit_order_not_placement_order(make_app: MakeApp, chain: ChainEnv) -> None:
    app = make_app(chain)
    client = app.test_client()
    put_product(client)
    first_placed = place(client, chain.buyers[0])
    second_placed = place(client, chain.buyers[1])
    chain.pay(chain.buyers[1], second_placed["payment"])  # pays first
    chain.pay(chain.buyers[0], first_placed["payment"])
    settle(app, chain)
    assert status(client, second_placed)["queue"]["position"] == 1
    assert status(client, first_placed)["queue"]["position"] == 2
    assert status(client, first_placed)["queue"]["units_ahead"] == 1

    allocations = restock(client, 1)["allocations"]
    assert allocations == [{"order_id": second_placed["id"], "quantity": 1}]
    assert status(client, first_placed)["queue"]["position"] == 1


def test_reclaim_only_after_hold_expiry_and_the_watcher_records_it(
    make_app: MakeApp, chain: ChainEnv
) -> None:
    app = make_app(chain, BACKORDERS_HOLD_DAYS=1)
    client = app.test_client()
    put_product(client)
    buyer = chain.buyers[2]
    order = reserve_and_pay(app, client, chain, buyer)
    ref = bytes.fromhex(order["payment"]["quote"]["order_ref"][2:])
    escrow = chain.escrow_contract
    reclaim = {"to": chain.escrow, "data": escrow.encode_abi("reclaim", [ref])}

    assert chain.revert_of(buyer.address, reclaim) == "HoldNotExpired"
    assert chain.send(buyer.account, {**reclaim, "gas": 200_000})["status"] == 0

    chain.travel_to(order["payment"]["quote"]["hold_until"])
    receipt = chain.send(buyer.account, {**reclaim, "gas": 200_000})
    assert receipt["status"] == 1
    settle(app, chain)
    assert status(client, order)["status"] == "reclaimed"
    assert chain.usdc_balance(chain.escrow) == 0
