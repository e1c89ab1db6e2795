"""Fixtures: apps on SQLite or PostgreSQL, the embedded EVM and anvil (snapshot/revert per test)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flask_backorders import Backorders, get_state
from flask_backorders.extension import BackordersState

from .sdn import DEFAULT_LIST, sdn_xml
from .support import ANVIL, AnvilProcess, ChainEnv, Clock, anvil_env, embedded_env, in_ci

PG_ENV = "BACKORDERS_TEST_POSTGRES_URL"
ADMIN_TOKEN = "admin-token-" + "x" * 24
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# ------------------------------------------------------------------ databases


def _postgres_base() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if in_ci():
            pytest.fail(f"{PG_ENV} must be set in CI")
        pytest.skip(f"no PostgreSQL URL given ({PG_ENV})")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    base = make_url(_postgres_base())
    name = "bo_test_" + secrets.token_hex(6)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'backorders.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


# --------------------------------------------------------------------- chains


@pytest.fixture(scope="session")
def embedded_base() -> ChainEnv:
    return embedded_env()


@pytest.fixture
def embedded(embedded_base: ChainEnv) -> Iterator[ChainEnv]:
    """The in-process EVM, reverted to its freshly deployed state after the test."""
    assert embedded_base.embedded is not None
    tester = embedded_base.embedded.tester
    snapshot = tester.take_snapshot()
    yield embedded_base
    tester.revert_to_snapshot(snapshot)


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilProcess]:
    if not ANVIL.exists():
        if in_ci():
            pytest.fail("anvil is missing: .ci/run must run npm ci")
        pytest.skip("anvil is not installed (run npm ci)")
    node = AnvilProcess(tmp_path_factory.mktemp("anvil") / "anvil.log")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_base(anvil_node: AnvilProcess) -> ChainEnv:
    return anvil_env(anvil_node)


@pytest.fixture
def anvil(anvil_base: ChainEnv) -> Iterator[ChainEnv]:
    """anvil with the escrow deployed, reverted after the test (evm_snapshot/evm_revert)."""
    snapshot = anvil_base.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield anvil_base
    anvil_base.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture
def fresh_anvil(tmp_path: Path) -> Iterator[ChainEnv]:
    """A new anvil node of its own, for tests that reorg (anvil's evm_revert across a reorg is unreliable)."""
    if not ANVIL.exists():
        if in_ci():
            pytest.fail("anvil is missing: .ci/run must run npm ci")
        pytest.skip("anvil is not installed (run npm ci)")
    node = AnvilProcess(tmp_path / "anvil.log")
    try:
        yield anvil_env(node)
    finally:
        node.stop()


@pytest.fixture(params=["embedded", "anvil"])
def chain(request: pytest.FixtureRequest) -> ChainEnv:
    """Each test using this runs on the in-process EVM and on anvil."""
    env: ChainEnv = request.getfixturevalue(request.param)
    return env


# ----------------------------------------------------------------------- apps


@pytest.fixture
def clock() -> Clock:
    return Clock()


MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(sqlite_url: str, clock: Clock, request: pytest.FixtureRequest) -> Iterator[MakeApp]:
    """``make_app(chain=None, database_url=None, **config)``: a fresh app (embedded chain by default)."""
    made: list[Flask] = []

    def factory(
        chain: ChainEnv | None = None,
        database_url: str | None = None,
        *,
        backorders_kwargs: dict[str, Any] | None = None,
        load_sanctions: bool = True,
        **config: Any,
    ) -> Flask:
        env = chain if chain is not None else request.getfixturevalue("embedded")
        app = Flask("shop", instance_path=str(Path(sqlite_url[len("sqlite:///") :]).parent / "instance"))
        app.config.update(
            TESTING=True,
            SECRET_KEY="test-secret-key-" + "s" * 16,
            BACKORDERS_DATABASE_URL=database_url or sqlite_url,
            BACKORDERS_AUTO_MIGRATE=True,
            BACKORDERS_ADMIN_TOKEN=ADMIN_TOKEN,
            **env.app_config(),
        )
        app.config.update(config)
        Backorders(app, clock=clock, chain=env.embedded, **(backorders_kwargs or {}))
        made.append(app)
        if load_sanctions:
            load_sanctions_list(app, DEFAULT_LIST)
        return app

    yield factory
    for app in made:
        get_state(app).close()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def state(app: Flask) -> BackordersState:
    return get_state(app)


def load_sanctions_list(app: Flask, entries: list[tuple[str, str, str]]) -> None:
    """Load a sanctions list the way ``flask backorders sanctions update --file`` does."""
    from flask_backorders.compliance.sanctions import load_list, parse_sdn_advanced

    state = get_state(app)
    parsed = parse_sdn_advanced(sdn_xml(entries))
    state.transaction(lambda s: load_list(s, parsed, source="test SDN list", now=state.now()))


PRODUCT = {
    "name": "Trezor-like Wallet T",
    "price": {"amount": "129.00", "currency": "USD"},
    "tokens": ["ETH", "USDC"],
    "restock_eta": {"earliest": "2027-01-10", "latest": "2027-02-01"},
}

SHIPPING = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical St",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


def order_body(payer: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "WALLET-T",
        "quantity": 1,
        "token": "USDC",
        "email": "ada@example.com",
        "payer": payer,
        "shipping": dict(SHIPPING),
    }
    body.update(overrides)
    return body


def put_product(client: FlaskClient, sku: str = "WALLET-T", **overrides: Any) -> dict[str, Any]:
    response = client.put(f"/backorders/admin/products/{sku}", json={**PRODUCT, **overrides}, headers=ADMIN)
    assert response.status_code in (200, 201), response.get_json()
    result: dict[str, Any] = response.get_json()
    return result
