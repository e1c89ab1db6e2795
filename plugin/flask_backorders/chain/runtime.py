"""Assembles the chain side of one app from its settings: client, escrow, quoter, watcher, sender."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session
from web3 import Web3

from ..config import Secret, Settings, TokenConfig
from ..errors import ConfigurationError, ServiceUnavailable
from .client import http_web3
from .embedded import EmbeddedChain, start_embedded_chain
from .escrow import Escrow
from .payouts import PayoutSender
from .quotes import ChainQuoter, QuoteSigner
from .rates import ChainlinkFeed, FixedRates, RateSource
from .watcher import DepositWatcher

#: The embedded chain's ETH price when none is configured (it is a demo chain).
EMBEDDED_ETH_RATE = {"USD": Decimal("3000.00"), "EUR": Decimal("2750.00")}


@dataclass
class ChainRuntime:
    """Everything chain-related of one app. ``quoter``/``sender`` are None without an operator key."""

    w3: Web3
    chain_id: int
    escrow: Escrow | None
    tokens: dict[str, TokenConfig]
    quoter: ChainQuoter | None
    watcher: DepositWatcher | None
    sender: PayoutSender | None
    embedded: EmbeddedChain | None = None

    def require_quoter(self) -> ChainQuoter:
        if self.quoter is None or self.escrow is None:
            raise ServiceUnavailable("Payments are not configured (escrow address and operator key).")
        return self.quoter


def build_runtime(
    settings: Settings,
    session_factory: Callable[[], Session],
    clock: Callable[[], datetime],
    embedded: EmbeddedChain | None = None,
) -> ChainRuntime:
    """Connect to the configured chain (or start the embedded one) and check it matches the settings."""
    escrow_address: str | None
    operator_key: Secret | None
    if settings.embedded:
        chain = embedded or start_embedded_chain()
        w3, chain_id = chain.w3, chain.chain_id
        escrow_address = settings.escrow_address or chain.escrow
        operator_key = settings.operator_key or chain.operator_key
        tokens = {**chain.tokens, **settings.tokens}
        start_block = settings.start_block or chain.start_block
        rates: RateSource = FixedRates(settings.eth_rate or EMBEDDED_ETH_RATE)
    else:
        chain = None
        w3 = http_web3(settings.rpc_url, timeout=settings.rpc_timeout, retries=settings.rpc_retries)
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception:
            raise ConfigurationError("BACKORDERS_RPC_URL does not answer eth_chainId.") from None
        if settings.chain_id is not None and settings.chain_id != chain_id:
            raise ConfigurationError(
                f"BACKORDERS_CHAIN_ID is {settings.chain_id} but the RPC endpoint serves chain {chain_id}."
            )
        escrow_address, operator_key, tokens = (
            settings.escrow_address,
            settings.operator_key,
            dict(settings.tokens),
        )
        start_block = settings.start_block
        if settings.eth_usd_feed:
            rates = ChainlinkFeed(w3, settings.eth_usd_feed, max_age=settings.rate_max_age)
        else:
            rates = FixedRates(settings.eth_rate)

    escrow = Escrow(w3, escrow_address) if escrow_address else None
    if escrow is not None and not w3.eth.get_code(escrow.address):
        raise ConfigurationError("BACKORDERS_ESCROW_ADDRESS has no contract on the configured chain.")
    quoter = sender = None
    watcher = None
    if escrow is not None:
        watcher = DepositWatcher(
            w3,
            escrow,
            session_factory,
            chain_id=chain_id,
            finality=settings.finality,
            log_range=settings.log_range,
            start_block=start_block,
            clock=clock,
            allocation_policy=settings.allocation,
        )
        if operator_key is not None:
            signer = QuoteSigner(chain_id, escrow.address, operator_key)
            onchain_operator = escrow.contract.functions.operator().call()
            if onchain_operator != signer.operator:
                raise ConfigurationError(
                    "The operator key does not belong to the escrow's operator address "
                    f"({onchain_operator}); quotes would be rejected."
                )
            quoter = ChainQuoter(
                signer,
                native_symbol=settings.native_symbol,
                tokens=tokens,
                rates=rates,
                quote_ttl=settings.quote_ttl,
                hold_days=settings.hold_days,
            )
            sender = PayoutSender(w3, escrow, operator_key, session_factory, chain_id=chain_id, clock=clock)
    return ChainRuntime(
        w3=w3,
        chain_id=chain_id,
        escrow=escrow,
        tokens=tokens,
        quoter=quoter,
        watcher=watcher,
        sender=sender,
        embedded=chain,
    )
