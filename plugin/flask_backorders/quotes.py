"""The quote an order is placed with: token, exact base units, deadline, hold expiry, operator signature.

:class:`Quoter` is what the order service needs from the chain side; :mod:`flask_backorders.chain.quotes`
implements it for every chain (the embedded EVM, anvil, Sepolia, mainnet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class Quote:
    """What a buyer must pay, bound by the operator's EIP-712 signature."""

    chain_id: int
    escrow: str
    token_symbol: str
    token_address: str | None  # None for the native coin
    decimals: int
    amount: int  # base units
    deadline: datetime
    hold_until: datetime
    signature: str  # 0x-hex, 65 bytes


class Quoter(Protocol):
    """Prices an order in a token and signs the quote."""

    def quote(
        self,
        *,
        order_ref: str,
        payer: str,
        symbol: str,
        fiat_amount: Decimal,
        currency: str,
        now: datetime,
    ) -> Quote:
        """Return a signed quote, or raise a :class:`~flask_backorders.errors.BackordersError`."""
        ...
