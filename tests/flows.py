"""Buyer and merchant steps shared by the flow tests, all through the HTTP API and a real wallet."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from flask_backorders import get_state

from .conftest import ADMIN, order_body
from .support import Buyer, ChainEnv


def place(client: FlaskClient, buyer: Buyer, **overrides: Any) -> dict[str, Any]:
    response = client.post("/backorders/orders", json=order_body(buyer.address, **overrides))
    assert response.status_code == 201, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def status(client: FlaskClient, order: dict[str, Any]) -> dict[str, Any]:
    response = client.get(
        f"/backorders/orders/{order['id']}", headers={"Authorization": f"Bearer {order['secret']}"}
    )
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def settle(app: Flask, chain: ChainEnv, rounds: int = 1) -> None:
    """Let the chain finalise what happened and run the worker: mine past the confirmations, watch, send."""
    state = get_state(app)
    runtime = state.require_chain()
    assert runtime.watcher is not None and runtime.sender is not None
    gate = state.require_compliance()
    for _ in range(rounds):
        chain.mine(3)
        runtime.watcher.tick()
        gate.tick()
        runtime.sender.tick()
        chain.mine(3)
        runtime.watcher.tick()
        gate.tick()


def reserve_and_pay(
    app: Flask, client: FlaskClient, chain: ChainEnv, buyer: Buyer, **overrides: Any
) -> dict[str, Any]:
    order = place(client, buyer, **overrides)
    chain.pay(buyer, order["payment"])
    settle(app, chain)
    return order


def restock(client: FlaskClient, quantity: int, sku: str = "WALLET-T") -> dict[str, Any]:
    response = client.post(
        f"/backorders/admin/products/{sku}/restock", json={"quantity": quantity}, headers=ADMIN
    )
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data
