"""``BACKORDERS_*`` settings: defaults, parsed once into a frozen :class:`Settings`, validated at start-up.

A bad value fails :meth:`Backorders.init_app` with a :class:`ConfigurationError` naming the key, never the
first request. Secret values are wrapped in :class:`Secret` so that no repr, log line or traceback shows them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from eth_utils import is_address, is_checksum_address, to_checksum_address

from .errors import ConfigurationError

EMBEDDED = "embedded"

#: Every key with its default. The README documents each one.
DEFAULTS: dict[str, Any] = {
    "BACKORDERS_DATABASE_URL": None,  # None: SQLite file in the app's instance folder
    "BACKORDERS_AUTO_MIGRATE": None,  # None: True for SQLite, False otherwise
    "BACKORDERS_URL_PREFIX": "/backorders",
    "BACKORDERS_SECRET_KEY": None,  # None: the app's SECRET_KEY
    "BACKORDERS_ADMIN_TOKEN": None,
    "BACKORDERS_QUOTE_TTL": 900,
    "BACKORDERS_HOLD_DAYS": 120,
    "BACKORDERS_MAX_QUANTITY": 100,
    "BACKORDERS_ALLOCATION": "fill",
    "BACKORDERS_RPC_URL": EMBEDDED,
    "BACKORDERS_CHAIN_ID": None,
    "BACKORDERS_ESCROW_ADDRESS": None,
    "BACKORDERS_START_BLOCK": 0,
    "BACKORDERS_OPERATOR_KEY": None,
    "BACKORDERS_OPERATOR_KEYSTORE": None,
    "BACKORDERS_OPERATOR_KEYSTORE_PASSWORD": None,
    "BACKORDERS_NATIVE_SYMBOL": "ETH",
    "BACKORDERS_TOKENS": {},
    "BACKORDERS_ETH_RATE": None,
    "BACKORDERS_ETH_USD_FEED": None,
    "BACKORDERS_RATE_MAX_AGE": 3600,
    "BACKORDERS_FINALITY": None,  # None: "finalized" on a remote RPC, 2 confirmations embedded
    "BACKORDERS_POLL_INTERVAL": None,  # None: 5 s on a remote RPC, 1 s embedded
    "BACKORDERS_LOG_RANGE": 1000,
    "BACKORDERS_RPC_TIMEOUT": 10.0,
    "BACKORDERS_RPC_RETRIES": 5,
    "BACKORDERS_RUN_WORKER": None,  # None: run the watcher in a thread on the embedded chain only
    "BACKORDERS_SANCTIONS_LIST_URL": "https://sanctionslistservice.ofac.treas.gov/api/download/SDN_ADVANCED.ZIP",
    "BACKORDERS_SANCTIONS_MAX_AGE_DAYS": 7,
    "BACKORDERS_SANCTIONS_ORACLE": None,  # None: none (embedded: the local oracle deployed with the escrow)
    "BACKORDERS_SCREENING_API_URL": None,
    "BACKORDERS_SCREENING_API_KEY": None,
    "BACKORDERS_SCREENING_API_TIMEOUT": 5.0,
    "BACKORDERS_EMBARGOED": None,  # None: DEFAULT_EMBARGOED
    "BACKORDERS_EMBARGO_REVIEWED": None,  # None: the date the default list was last reviewed
    "BACKORDERS_KYC_THRESHOLD": "1000.00",  # in the order's currency; None disables the check
    "BACKORDERS_PUBLIC_URL": None,  # e.g. "https://shop.example": makes links in notices absolute
    "BACKORDERS_WEBHOOK_TIMEOUT": 10.0,
    "BACKORDERS_WEBHOOK_RETRY_HOURS": 72,
    "BACKORDERS_REORDER_LEAD_DAYS": 30,
}


class Secret:
    """A secret string that never shows itself in ``repr``/``str`` (so not in logs or tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call only where it is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class TokenConfig:
    """An accepted ERC-20: its address on the configured chain, decimals and the fiat it is pegged to."""

    symbol: str
    address: str
    decimals: int
    currency: str = "USD"


@dataclass(frozen=True)
class Settings:
    """The parsed ``BACKORDERS_*`` configuration of one app."""

    database_url: str = field(repr=False)  # may carry a password
    auto_migrate: bool
    url_prefix: str
    secret_key: Secret
    admin_token: Secret | None
    quote_ttl: int
    hold_days: int
    max_quantity: int
    allocation: str
    rpc_url: str
    chain_id: int | None
    escrow_address: str | None
    start_block: int
    operator_key: Secret | None
    native_symbol: str
    tokens: Mapping[str, TokenConfig] = field(default_factory=dict)
    eth_rate: Mapping[str, Decimal] = field(default_factory=dict)
    eth_usd_feed: str | None = None
    rate_max_age: int = 3600
    finality: str | int = 2
    poll_interval: float = 1.0
    log_range: int = 1000
    rpc_timeout: float = 10.0
    rpc_retries: int = 5
    run_worker: bool = False
    sanctions_list_url: str = ""
    sanctions_max_age_days: int = 7
    sanctions_oracle: str | None = None
    screening_api_url: str | None = None
    screening_api_key: Secret | None = None
    screening_api_timeout: float = 5.0
    embargoed: frozenset[str] = frozenset()
    embargo_reviewed: str = ""
    kyc_threshold: Decimal | None = None
    public_url: str = ""
    webhook_timeout: float = 10.0
    webhook_retry_hours: int = 72
    reorder_lead_days: int = 30

    @property
    def link_base(self) -> str:
        """Where links in notices point: the public URL (if any) plus the blueprint prefix."""
        return self.public_url + self.url_prefix

    @property
    def embedded(self) -> bool:
        """True when the chain is the in-process EVM."""
        return self.rpc_url == EMBEDDED

    @property
    def symbols(self) -> list[str]:
        """Every accepted payment symbol: the native coin first, then the configured tokens."""
        return [self.native_symbol, *self.tokens]


def _int(config: Mapping[str, Any], key: str, *, minimum: int = 0) -> int:
    value = config[key]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be an integer, got {value!r}.") from None
    if isinstance(value, bool) or number < minimum:
        raise ConfigurationError(f"{key} must be an integer >= {minimum}, got {value!r}.")
    return number


def _address(key: str, value: Any) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ConfigurationError(f"{key} must be a 0x-prefixed 20-byte address.")
    if value != value.lower() and not is_checksum_address(value):
        raise ConfigurationError(f"{key} has an invalid EIP-55 checksum.")
    return to_checksum_address(value)


def _bool(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config[key]
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ConfigurationError(f"{key} must be a boolean, got {value!r}.")


def _operator_key(config: Mapping[str, Any]) -> Secret | None:
    raw = config["BACKORDERS_OPERATOR_KEY"]
    keystore = config["BACKORDERS_OPERATOR_KEYSTORE"]
    if raw and keystore:
        raise ConfigurationError("Set BACKORDERS_OPERATOR_KEY or BACKORDERS_OPERATOR_KEYSTORE, not both.")
    if keystore:
        from eth_account import Account

        password = config["BACKORDERS_OPERATOR_KEYSTORE_PASSWORD"]
        if password is None:
            raise ConfigurationError(
                "BACKORDERS_OPERATOR_KEYSTORE needs BACKORDERS_OPERATOR_KEYSTORE_PASSWORD."
            )
        try:
            data = Path(keystore).read_text()
            key_bytes = Account.decrypt(data, str(password))
        except (OSError, ValueError):
            raise ConfigurationError(
                "BACKORDERS_OPERATOR_KEYSTORE could not be read or decrypted (wrong password?)."
            ) from None
        return Secret("0x" + bytes(key_bytes).hex())
    if raw:
        text = raw.reveal() if isinstance(raw, Secret) else str(raw)
        body = text.removeprefix("0x")
        if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
            raise ConfigurationError(
                "BACKORDERS_OPERATOR_KEY must be 32 bytes of hex (the value is not shown)."
            )
        return Secret("0x" + body.lower())
    return None


def _tokens(value: Any) -> dict[str, TokenConfig]:
    if not isinstance(value, Mapping):
        raise ConfigurationError("BACKORDERS_TOKENS must map a symbol to {address, decimals, currency}.")
    tokens: dict[str, TokenConfig] = {}
    for symbol, spec in value.items():
        key = f"BACKORDERS_TOKENS[{symbol!r}]"
        if not isinstance(spec, Mapping) or "address" not in spec or "decimals" not in spec:
            raise ConfigurationError(f"{key} needs 'address' and 'decimals'.")
        decimals = spec["decimals"]
        if not isinstance(decimals, int) or not 0 <= decimals <= 36:
            raise ConfigurationError(f"{key}['decimals'] must be an integer from 0 to 36.")
        tokens[str(symbol)] = TokenConfig(
            symbol=str(symbol),
            address=_address(key + "['address']", spec["address"]),
            decimals=decimals,
            currency=str(spec.get("currency", "USD")).upper(),
        )
    return tokens


def _rates(value: Any) -> dict[str, Decimal]:
    if value is None:
        return {}
    if isinstance(value, str | int | float | Decimal):
        value = {"USD": value}
    if not isinstance(value, Mapping):
        raise ConfigurationError("BACKORDERS_ETH_RATE must be a number (USD) or a {currency: rate} mapping.")
    rates: dict[str, Decimal] = {}
    for currency, rate in value.items():
        if isinstance(rate, float):
            raise ConfigurationError("BACKORDERS_ETH_RATE values must be strings or Decimals, not floats.")
        try:
            parsed = Decimal(str(rate))
        except InvalidOperation:
            raise ConfigurationError(f"BACKORDERS_ETH_RATE[{currency!r}] is not a number.") from None
        if not parsed.is_finite() or parsed <= 0:
            raise ConfigurationError(f"BACKORDERS_ETH_RATE[{currency!r}] must be positive.")
        rates[str(currency).upper()] = parsed
    return rates


def _finality(value: Any, embedded: bool) -> str | int:
    if value is None:
        return 2 if embedded else "finalized"
    if value in ("finalized", "safe"):
        return str(value)
    try:
        confirmations = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            "BACKORDERS_FINALITY must be 'finalized', 'safe' or a number of confirmations."
        ) from None
    if confirmations < 0:
        raise ConfigurationError("BACKORDERS_FINALITY confirmations must be >= 0.")
    return confirmations


def parse_settings(config: Mapping[str, Any], instance_path: str) -> Settings:
    """Parse and validate the app's ``BACKORDERS_*`` keys (missing keys take :data:`DEFAULTS`)."""
    merged = {**DEFAULTS, **{k: v for k, v in config.items() if k.startswith("BACKORDERS_")}}
    unknown = sorted(set(merged) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(f"Unknown setting(s): {', '.join(unknown)}.")

    database_url = merged["BACKORDERS_DATABASE_URL"] or (
        "sqlite:///" + os.path.join(instance_path, "backorders.sqlite3")
    )
    is_sqlite = str(database_url).startswith("sqlite")

    prefix = str(merged["BACKORDERS_URL_PREFIX"])
    if not prefix.startswith("/") or (len(prefix) > 1 and prefix.endswith("/")):
        raise ConfigurationError("BACKORDERS_URL_PREFIX must start with '/' and not end with '/'.")

    secret = merged["BACKORDERS_SECRET_KEY"] or config.get("SECRET_KEY")
    if not secret or len(str(secret)) < 16:
        raise ConfigurationError(
            "Flask-Backorders derives buyer secrets from a server key: set SECRET_KEY or "
            "BACKORDERS_SECRET_KEY (at least 16 characters)."
        )
    admin_token = merged["BACKORDERS_ADMIN_TOKEN"]
    if admin_token is not None and len(str(admin_token)) < 16:
        raise ConfigurationError("BACKORDERS_ADMIN_TOKEN must be at least 16 characters.")

    allocation = merged["BACKORDERS_ALLOCATION"]
    if allocation not in ("fill", "strict"):
        raise ConfigurationError("BACKORDERS_ALLOCATION must be 'fill' or 'strict'.")

    rpc_url = str(merged["BACKORDERS_RPC_URL"] or EMBEDDED)
    embedded = rpc_url == EMBEDDED
    if not embedded and urlparse(rpc_url).scheme not in ("http", "https"):
        raise ConfigurationError("BACKORDERS_RPC_URL must be an http(s) URL or 'embedded'.")
    escrow = merged["BACKORDERS_ESCROW_ADDRESS"]
    chain_id = merged["BACKORDERS_CHAIN_ID"]

    native = str(merged["BACKORDERS_NATIVE_SYMBOL"])
    tokens = _tokens(merged["BACKORDERS_TOKENS"])
    if native in tokens:
        raise ConfigurationError(f"BACKORDERS_TOKENS must not redefine the native symbol {native!r}.")
    feed = merged["BACKORDERS_ETH_USD_FEED"]
    poll = merged["BACKORDERS_POLL_INTERVAL"]
    try:
        poll_interval = float(poll) if poll is not None else (1.0 if embedded else 5.0)
        rpc_timeout = float(merged["BACKORDERS_RPC_TIMEOUT"])
    except (TypeError, ValueError):
        raise ConfigurationError("BACKORDERS_POLL_INTERVAL and BACKORDERS_RPC_TIMEOUT are seconds.") from None
    if poll_interval <= 0 or rpc_timeout <= 0:
        raise ConfigurationError("BACKORDERS_POLL_INTERVAL and BACKORDERS_RPC_TIMEOUT must be positive.")

    from .compliance.builtin import DEFAULT_EMBARGO_REVIEWED, DEFAULT_EMBARGOED

    embargoed = merged["BACKORDERS_EMBARGOED"]
    if embargoed is None:
        embargoed = DEFAULT_EMBARGOED
    if isinstance(embargoed, str) or not all(
        isinstance(code, str) and re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", code) for code in embargoed
    ):
        raise ConfigurationError(
            "BACKORDERS_EMBARGOED must be a list of ISO 3166 codes like 'CU' or 'UA-43'."
        )
    threshold = merged["BACKORDERS_KYC_THRESHOLD"]
    if isinstance(threshold, float):
        raise ConfigurationError("BACKORDERS_KYC_THRESHOLD must be a string or Decimal, not a float.")
    try:
        kyc_threshold = Decimal(str(threshold)) if threshold is not None else None
    except InvalidOperation:
        raise ConfigurationError("BACKORDERS_KYC_THRESHOLD is not a number.") from None
    api_url = merged["BACKORDERS_SCREENING_API_URL"]
    if api_url is not None and urlparse(str(api_url)).scheme not in ("http", "https"):
        raise ConfigurationError("BACKORDERS_SCREENING_API_URL must be an http(s) URL.")
    api_key = merged["BACKORDERS_SCREENING_API_KEY"]
    oracle = merged["BACKORDERS_SANCTIONS_ORACLE"]

    return Settings(
        database_url=str(database_url),
        auto_migrate=_bool(merged, "BACKORDERS_AUTO_MIGRATE", is_sqlite),
        url_prefix="" if prefix == "/" else prefix,
        secret_key=Secret(str(secret)),
        admin_token=Secret(str(admin_token)) if admin_token is not None else None,
        quote_ttl=_int(merged, "BACKORDERS_QUOTE_TTL", minimum=30),
        hold_days=_int(merged, "BACKORDERS_HOLD_DAYS", minimum=1),
        max_quantity=_int(merged, "BACKORDERS_MAX_QUANTITY", minimum=1),
        allocation=str(allocation),
        rpc_url=rpc_url,
        chain_id=_int(merged, "BACKORDERS_CHAIN_ID", minimum=1) if chain_id is not None else None,
        escrow_address=_address("BACKORDERS_ESCROW_ADDRESS", escrow) if escrow else None,
        start_block=_int(merged, "BACKORDERS_START_BLOCK"),
        operator_key=_operator_key(merged),
        native_symbol=native,
        tokens=tokens,
        eth_rate=_rates(merged["BACKORDERS_ETH_RATE"]),
        eth_usd_feed=_address("BACKORDERS_ETH_USD_FEED", feed) if feed else None,
        rate_max_age=_int(merged, "BACKORDERS_RATE_MAX_AGE", minimum=1),
        finality=_finality(merged["BACKORDERS_FINALITY"], embedded),
        poll_interval=poll_interval,
        log_range=_int(merged, "BACKORDERS_LOG_RANGE", minimum=1),
        rpc_timeout=rpc_timeout,
        rpc_retries=_int(merged, "BACKORDERS_RPC_RETRIES"),
        run_worker=_bool(merged, "BACKORDERS_RUN_WORKER", embedded),
        sanctions_list_url=str(merged["BACKORDERS_SANCTIONS_LIST_URL"]),
        sanctions_max_age_days=_int(merged, "BACKORDERS_SANCTIONS_MAX_AGE_DAYS", minimum=1),
        sanctions_oracle=_address("BACKORDERS_SANCTIONS_ORACLE", oracle) if oracle else None,
        screening_api_url=str(api_url) if api_url else None,
        screening_api_key=Secret(api_key.reveal() if isinstance(api_key, Secret) else str(api_key))
        if api_key
        else None,
        screening_api_timeout=float(merged["BACKORDERS_SCREENING_API_TIMEOUT"]),
        embargoed=frozenset(embargoed),
        embargo_reviewed=str(merged["BACKORDERS_EMBARGO_REVIEWED"] or DEFAULT_EMBARGO_REVIEWED),
        kyc_threshold=kyc_threshold,
        public_url=_public_url(merged["BACKORDERS_PUBLIC_URL"]),
        webhook_timeout=float(merged["BACKORDERS_WEBHOOK_TIMEOUT"]),
        webhook_retry_hours=_int(merged, "BACKORDERS_WEBHOOK_RETRY_HOURS", minimum=1),
        reorder_lead_days=_int(merged, "BACKORDERS_REORDER_LEAD_DAYS", minimum=0),
    )


def _public_url(value: Any) -> str:
    if not value:
        return ""
    text = str(value).rstrip("/")
    if urlparse(text).scheme not in ("http", "https"):
        raise ConfigurationError("BACKORDERS_PUBLIC_URL must be an http(s) URL like https://shop.example.")
    return text
