"""Pricing and signing quotes (EIP-712 ``Quote``), and the ``payment`` object a wallet pays from."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from ..config import Secret, TokenConfig
from ..errors import ValidationFailed
from ..quotes import Quote
from .escrow import Escrow
from .rates import RateSource

DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
QUOTE_TYPEHASH = keccak(
    text="Quote(bytes32 orderRef,address payer,address token,uint256 amount,uint64 deadline,uint64 holdUntil)"
)
ZERO = "0x0000000000000000000000000000000000000000"


class QuoteSigner:
    """Signs quotes for one escrow deployment with the operator key (EIP-712, domain "BackorderEscrow" v1)."""

    def __init__(self, chain_id: int, escrow: str, operator_key: Secret) -> None:
        self.chain_id = chain_id
        self.escrow = to_checksum_address(escrow)
        self._key = operator_key
        self.operator = Account.from_key(operator_key.reveal()).address
        self.domain_separator = keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [DOMAIN_TYPEHASH, keccak(text="BackorderEscrow"), keccak(text="1"), chain_id, self.escrow],
            )
        )

    def digest(
        self, order_ref: str, payer: str, token: str | None, amount: int, deadline: int, hold_until: int
    ) -> bytes:
        """The EIP-712 digest of a quote (equal to the contract's ``quoteDigest``)."""
        struct_hash = keccak(
            abi_encode(
                ["bytes32", "bytes32", "address", "address", "uint256", "uint64", "uint64"],
                [
                    QUOTE_TYPEHASH,
                    bytes.fromhex(order_ref[2:]),
                    payer,
                    token or ZERO,
                    amount,
                    deadline,
                    hold_until,
                ],
            )
        )
        return keccak(b"\x19\x01" + self.domain_separator + struct_hash)

    def sign(
        self, order_ref: str, payer: str, token: str | None, amount: int, deadline: int, hold_until: int
    ) -> str:
        signed = Account.unsafe_sign_hash(
            self.digest(order_ref, payer, token, amount, deadline, hold_until), self._key.reveal()
        )
        return "0x" + bytes(signed.signature).hex()


def to_base_units(fiat: Decimal, decimals: int, price: Decimal = Decimal(1)) -> int:
    """``fiat / price`` in base units, rounded up (the merchant is never short by a rounding)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return int((fiat / price * (Decimal(10) ** decimals)).to_integral_value(rounding=ROUND_CEILING))


def display_amount(amount: int, decimals: int) -> str:
    """Base units as a plain decimal string without trailing zeros ("129", "0.043")."""
    text = format(Decimal(amount).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class ChainQuoter:
    """Prices orders in the native coin or an allow-listed token and signs the quote."""

    def __init__(
        self,
        signer: QuoteSigner,
        *,
        native_symbol: str,
        tokens: Mapping[str, TokenConfig],
        rates: RateSource,
        quote_ttl: int,
        hold_days: int,
    ) -> None:
        self.signer = signer
        self.native_symbol = native_symbol
        self.tokens = dict(tokens)
        self.rates = rates
        self.quote_ttl = quote_ttl
        self.hold_days = hold_days

    def quote(
        self, *, order_ref: str, payer: str, symbol: str, fiat_amount: Decimal, currency: str, now: datetime
    ) -> Quote:
        if symbol == self.native_symbol:
            address, decimals = None, 18
            amount = to_base_units(fiat_amount, 18, self.rates.eth_price(currency))
        elif symbol in self.tokens:
            token = self.tokens[symbol]
            if token.currency != currency:
                raise ValidationFailed(
                    errors=[
                        {
                            "field": "token",
                            "reason": f"{symbol} is pegged to {token.currency}, the price is in {currency}",
                        }
                    ]
                )
            address, decimals = token.address, token.decimals
            amount = to_base_units(fiat_amount, decimals)
        else:
            raise ValidationFailed(errors=[{"field": "token", "reason": f"{symbol} is not accepted"}])
        now = now.replace(microsecond=0)
        deadline = now + timedelta(seconds=self.quote_ttl)
        hold_until = now + timedelta(days=self.hold_days)
        signature = self.signer.sign(
            order_ref, payer, address, amount, int(deadline.timestamp()), int(hold_until.timestamp())
        )
        return Quote(
            chain_id=self.signer.chain_id,
            escrow=self.signer.escrow,
            token_symbol=symbol,
            token_address=address,
            decimals=decimals,
            amount=amount,
            deadline=deadline,
            hold_until=hold_until,
            signature=signature,
        )


def payment_object(escrow: Escrow, order_ref: str, payer: str, quote: Quote) -> dict[str, Any]:
    """The ``payment`` object of DESIGN §9: everything a wallet needs to pay the quote."""
    deadline, hold = int(quote.deadline.timestamp()), int(quote.hold_until.timestamp())
    return {
        "chain_id": quote.chain_id,
        "escrow": quote.escrow,
        "token": {"symbol": quote.token_symbol, "address": quote.token_address, "decimals": quote.decimals},
        "amount": str(quote.amount),
        "amount_display": display_amount(quote.amount, quote.decimals),
        "quote": {
            "order_ref": order_ref,
            "payer": payer,
            "token": quote.token_address or ZERO,
            "amount": str(quote.amount),
            "deadline": deadline,
            "hold_until": hold,
        },
        "signature": quote.signature,
        "transactions": escrow.payment_transactions(order_ref, quote),
        "uri": escrow.payment_uri(order_ref, quote),
        "expires_at": quote.deadline.isoformat().replace("+00:00", "Z"),
    }
