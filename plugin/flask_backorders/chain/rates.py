"""ETH prices for quotes: a fixed configured rate, or a Chainlink AggregatorV3 feed read with web3.

A feed answer is checked (positive, not older than ``max_age``) and cached briefly so that a launch does
not turn into one RPC call per order. Stablecoins need no rate: they are quoted at par.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from web3 import Web3

from ..errors import ServiceUnavailable, ValidationFailed
from .artifacts import abi


class RateSource(Protocol):
    def eth_price(self, currency: str) -> Decimal:
        """The price of 1 ETH in ``currency``; raise ServiceUnavailable when unknown."""
        ...


class FixedRates:
    """Configured rates (``BACKORDERS_ETH_RATE``), e.g. for the embedded chain."""

    def __init__(self, rates: Mapping[str, Decimal]) -> None:
        self.rates = dict(rates)

    def eth_price(self, currency: str) -> Decimal:
        try:
            return self.rates[currency]
        except KeyError:
            raise ValidationFailed(
                errors=[{"field": "token", "reason": f"no ETH rate is configured for {currency}"}]
            ) from None


class ChainlinkFeed:
    """An ETH/USD AggregatorV3 feed, with staleness and sanity checks and a short cache."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        *,
        max_age: int,
        cache_seconds: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.feed = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi("TestPriceFeed"))
        self.max_age = max_age
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cached: tuple[float, Decimal] | None = None
        self._lock = threading.Lock()
        self._decimals: int | None = None

    def eth_price(self, currency: str) -> Decimal:
        if currency != "USD":
            raise ValidationFailed(
                errors=[{"field": "token", "reason": "the ETH feed quotes USD prices only"}]
            )
        with self._lock:
            now = self.clock()
            if self._cached and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            price = self._read(now)
            self._cached = (now, price)
            return price

    def _read(self, now: float) -> Decimal:
        try:
            if self._decimals is None:
                self._decimals = int(self.feed.functions.decimals().call())
            _, answer, _, updated_at, _ = self.feed.functions.latestRoundData().call()
        except Exception:
            raise ServiceUnavailable("The ETH price feed cannot be read right now.") from None
        if answer <= 0:
            raise ServiceUnavailable("The ETH price feed returned a non-positive price.")
        if now - int(updated_at) > self.max_age:
            raise ServiceUnavailable("The ETH price feed is stale.")
        return Decimal(int(answer)).scaleb(-self._decimals)
