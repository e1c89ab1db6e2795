"""Settings are validated when the app starts, with messages that name the key and hide secrets."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_backorders import Backorders, ConfigurationError
from flask_backorders.config import Secret, parse_settings

BASE = {"SECRET_KEY": "k" * 32}


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"BACKORDERS_URL_PREFIX": "backorders"}, "BACKORDERS_URL_PREFIX"),
        ({"BACKORDERS_QUOTE_TTL": 5}, "BACKORDERS_QUOTE_TTL"),
        ({"BACKORDERS_QUOTE_TTL": "soon"}, "BACKORDERS_QUOTE_TTL"),
        ({"BACKORDERS_ALLOCATION": "random"}, "BACKORDERS_ALLOCATION"),
        ({"BACKORDERS_RPC_URL": "ftp://node"}, "BACKORDERS_RPC_URL"),
        ({"BACKORDERS_ESCROW_ADDRESS": "0x123"}, "BACKORDERS_ESCROW_ADDRESS"),
        ({"BACKORDERS_ESCROW_ADDRESS": "0x5B38Da6a701c568545dCfcB03FcB875f56beddc4"}, "checksum"),
        ({"BACKORDERS_ETH_RATE": 3000.5}, "floats"),
        ({"BACKORDERS_FINALITY": "eventually"}, "BACKORDERS_FINALITY"),
        ({"BACKORDERS_TOKENS": {"USDC": {"address": "0x1"}}}, "BACKORDERS_TOKENS"),
        ({"BACKORDERS_ADMIN_TOKEN": "short"}, "BACKORDERS_ADMIN_TOKEN"),
        ({"BACKORDERS_TYPO": 1}, "BACKORDERS_TYPO"),
    ],
)
def test_bad_settings_fail_at_start(override: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_settings({**BASE, **override}, "/tmp/instance")
    assert needle in str(info.value)


def test_an_operator_key_never_shows_in_errors_or_reprs() -> None:
    key = "0x" + "ab" * 31 + "zz"
    with pytest.raises(ConfigurationError) as info:
        parse_settings({**BASE, "BACKORDERS_OPERATOR_KEY": key}, "/tmp/instance")
    assert "abab" not in str(info.value)
    good = "0x" + "ab" * 32
    settings = parse_settings({**BASE, "BACKORDERS_OPERATOR_KEY": good}, "/tmp/instance")
    assert "abab" not in repr(settings) and "abab" not in str(settings.operator_key)
    assert isinstance(settings.operator_key, Secret) and settings.operator_key.reveal() == good


def test_keystore_operator_key(tmp_path: Any) -> None:
    import json

    from eth_account import Account

    account = Account.create()
    path = tmp_path / "operator.json"
    path.write_text(json.dumps(Account.encrypt(account.key, "hunter22", iterations=2)))
    settings = parse_settings(
        {
            **BASE,
            "BACKORDERS_OPERATOR_KEYSTORE": str(path),
            "BACKORDERS_OPERATOR_KEYSTORE_PASSWORD": "hunter22",
        },
        "/tmp/i",
    )
    assert settings.operator_key is not None
    assert Account.from_key(settings.operator_key.reveal()).address == account.address
    with pytest.raises(ConfigurationError, match="decrypted"):
        parse_settings(
            {
                **BASE,
                "BACKORDERS_OPERATOR_KEYSTORE": str(path),
                "BACKORDERS_OPERATOR_KEYSTORE_PASSWORD": "wrong",
            },
            "/tmp/i",
        )


def test_defaults() -> None:
    settings = parse_settings(BASE, "/srv/app/instance")
    assert settings.database_url == "sqlite:////srv/app/instance/backorders.sqlite3"
    assert settings.url_prefix == "/backorders" and settings.embedded and settings.auto_migrate
    assert settings.quote_ttl == 900 and settings.finality == 2 and settings.admin_token is None


def test_init_app_twice_is_refused(tmp_path: Any) -> None:
    app = Flask("x", instance_path=str(tmp_path))
    app.config.update(BASE, BACKORDERS_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    Backorders(app, start_chain=False)
    with pytest.raises(RuntimeError, match="already initialised"):
        Backorders(app, start_chain=False)


def test_a_wrong_chain_id_or_dead_rpc_fails_at_start(tmp_path: Any) -> None:
    app = Flask("x", instance_path=str(tmp_path))
    app.config.update(
        BASE,
        BACKORDERS_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        BACKORDERS_RPC_URL="http://127.0.0.1:9",
        BACKORDERS_RPC_RETRIES=0,
        BACKORDERS_RPC_TIMEOUT=0.5,
    )
    with pytest.raises(ConfigurationError, match="eth_chainId"):
        Backorders(app)


def test_missing_init_app_says_so() -> None:
    from flask_backorders import get_state

    app = Flask("y")
    with app.app_context(), pytest.raises(RuntimeError, match="forget"):
        get_state()
