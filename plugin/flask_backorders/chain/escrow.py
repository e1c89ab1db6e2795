"""The escrow contract seen from Python: calldata for wallets, log decoding, reads, revert decoding."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier

from ..deposits import DepositLog, ReleaseLog
from ..quotes import Quote
from .artifacts import abi

ESCROW_EVENTS = ("Deposited", "Captured", "Voided", "Reclaimed")
ESCROW_STATES = ("none", "held", "captured", "voided", "reclaimed")


def _event_topic(item: dict[str, Any]) -> str:
    signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
    return "0x" + keccak(text=signature).hex()


def _error_selectors(names: tuple[str, ...]) -> dict[bytes, tuple[str, list[str]]]:
    selectors: dict[bytes, tuple[str, list[str]]] = {}
    for contract in names:
        for item in abi(contract):
            if item["type"] == "error":
                types = [i["type"] for i in item["inputs"]]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                selectors[selector] = (item["name"], types)
    return selectors


_ERRORS = _error_selectors(("BackorderEscrow",))
_ERRORS[bytes.fromhex("08c379a0")] = ("Error", ["string"])


@dataclass(frozen=True)
class EscrowState:
    """``escrowOf(orderRef)``."""

    payer: str
    token: str
    amount: int
    hold_until: int
    state: str


class ContractRevert(Exception):
    """A call or transaction reverted; ``name`` is the custom error (``"WrongAmount"``...) when known."""

    def __init__(self, name: str, args: tuple[Any, ...] = ()) -> None:
        super().__init__(name if not args else f"{name}{args}")
        self.name = name
        self.args_ = args


def _bytes_in_text(text: str) -> bytes | None:
    """eth-tester puts the revert data in its message as a bytes repr (``b'\\x84^...'``)."""
    text = text.removeprefix("execution reverted: ")
    if text.startswith("0x") and len(text) >= 10:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return None
    if text.startswith(("b'", 'b"')):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, bytes) and len(value) >= 4 else None
    return None


def _revert_bytes(error: BaseException) -> bytes | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        data = getattr(current, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if isinstance(data, bytes | bytearray):
            return bytes(data)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, bytes | bytearray) and len(arg) >= 4:
                return bytes(arg)
            if isinstance(arg, str):
                parsed = _bytes_in_text(arg)
                if parsed is not None:
                    return parsed
        current = current.__cause__ or current.__context__
    return None


def decode_revert(error: BaseException) -> ContractRevert | None:
    """Decode a revert raised by web3 (anvil: ``ContractCustomError``; eth-tester: ``TransactionFailed``)."""
    data = _revert_bytes(error)
    if not data or len(data) < 4:
        return None
    known = _ERRORS.get(data[:4])
    if known is None:
        return ContractRevert("0x" + data[:4].hex())
    name, types = known
    try:
        values = tuple(abi_decode(types, data[4:])) if types else ()
    except Exception:
        values = ()
    return ContractRevert(name, values)


DEPOSIT = function_signature_to_4byte_selector("deposit(bytes32,uint256,uint64,uint64,bytes)")
DEPOSIT_TOKEN = function_signature_to_4byte_selector(
    "depositToken(bytes32,address,uint256,uint64,uint64,bytes)"
)
APPROVE = function_signature_to_4byte_selector("approve(address,uint256)")


def _call(selector: bytes, types: list[str], args: list[Any]) -> str:
    return "0x" + (selector + abi_encode(types, args)).hex()


class Escrow:
    """A deployed ``BackorderEscrow``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=abi("BackorderEscrow"))
        self.topics: dict[str, str] = {
            _event_topic(item): item["name"]
            for item in abi("BackorderEscrow")
            if item["type"] == "event" and item["name"] in ESCROW_EVENTS
        }

    # -------------------------------------------------------------- wallets

    def payment_transactions(self, order_ref: str, quote: Quote) -> list[dict[str, str]]:
        """The transactions a wallet sends, in order, to pay ``quote``: ``approve`` first for a token.

        Encoded with eth-abi directly (web3's ``encode_abi`` resolves the ABI on every call: ~20x slower
        on the order placement path).
        """
        ref = bytes.fromhex(order_ref[2:])
        deadline, hold = int(quote.deadline.timestamp()), int(quote.hold_until.timestamp())
        signature = bytes.fromhex(quote.signature[2:])
        if quote.token_address is None:
            data = _call(
                DEPOSIT,
                ["bytes32", "uint256", "uint64", "uint64", "bytes"],
                [ref, quote.amount, deadline, hold, signature],
            )
            return [{"to": self.address, "data": data, "value": str(quote.amount)}]
        approve = _call(APPROVE, ["address", "uint256"], [self.address, quote.amount])
        deposit = _call(
            DEPOSIT_TOKEN,
            ["bytes32", "address", "uint256", "uint64", "uint64", "bytes"],
            [ref, quote.token_address, quote.amount, deadline, hold, signature],
        )
        return [
            {"to": quote.token_address, "data": approve, "value": "0"},
            {"to": self.address, "data": deposit, "value": "0"},
        ]

    def payment_uri(self, order_ref: str, quote: Quote) -> str:
        """An EIP-681 URI for the deposit call (the token's ``approve`` must come first)."""
        deadline, hold = int(quote.deadline.timestamp()), int(quote.hold_until.timestamp())
        base = f"ethereum:{self.address}@{quote.chain_id}"
        if quote.token_address is None:
            return (
                f"{base}/deposit?value={quote.amount}&bytes32={order_ref}&uint256={quote.amount}"
                f"&uint64={deadline}&uint64={hold}&bytes={quote.signature}"
            )
        return (
            f"{base}/depositToken?bytes32={order_ref}&address={quote.token_address}"
            f"&uint256={quote.amount}&uint64={deadline}&uint64={hold}&bytes={quote.signature}"
        )

    # ------------------------------------------------------------------ reads

    def escrow_of(self, order_ref: str, block: BlockIdentifier = "latest") -> EscrowState:
        payer, token, amount, hold, state = self.contract.functions.escrowOf(HexBytes(order_ref)).call(
            block_identifier=block
        )
        return EscrowState(
            payer=payer, token=token, amount=int(amount), hold_until=int(hold), state=ESCROW_STATES[state]
        )

    # ------------------------------------------------------------------- logs

    def log_filter(self, from_block: int, to_block: int) -> dict[str, Any]:
        """One ``eth_getLogs`` filter for every escrow event of every order (topics as 0x strings)."""
        return {
            "address": self.address,
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [list(self.topics)],
        }

    def decode_log(self, chain_id: int, raw: Any) -> DepositLog | ReleaseLog | None:
        """Decode a raw log of this escrow; None for events the watcher does not need."""
        topic0 = raw["topics"][0]
        name = self.topics.get("0x" + bytes(HexBytes(topic0)).hex())
        if name is None:
            return None
        event = getattr(self.contract.events, name)().process_log(raw)
        args = event["args"]
        tx_hash = "0x" + bytes(HexBytes(raw["transactionHash"])).hex()
        order_ref = "0x" + bytes(args["orderRef"]).hex()
        if name == "Deposited":
            token = args["token"]
            return DepositLog(
                chain_id=chain_id,
                order_ref=order_ref,
                tx_hash=tx_hash,
                log_index=int(raw["logIndex"]),
                block_number=int(raw["blockNumber"]),
                block_hash="0x" + bytes(HexBytes(raw["blockHash"])).hex(),
                payer=args["payer"],
                token_address=None if int(token, 16) == 0 else token,
                amount=int(args["amount"]),
            )
        return ReleaseLog(
            chain_id=chain_id,
            kind=name,
            order_ref=order_ref,
            tx_hash=tx_hash,
            log_index=int(raw["logIndex"]),
            block_number=int(raw["blockNumber"]),
            to=args["to"],
            amount=int(args["amount"]),
        )
