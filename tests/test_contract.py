"""The escrow contract on both chains: every revert path, payouts, credits, sanctions, gas."""

from __future__ import annotations

import pytest
from eth_account import Account

from flask_backorders.chain.quotes import QuoteSigner
from flask_backorders.config import Secret

from .contract_helpers import approve, call_tx, deposit_tx, sign_quote
from .support import Buyer, ChainEnv

ETH = 10**18
GAS_LIMITS = {
    "deposit": 120_000,
    "depositToken": 150_000,
    "capture": 90_000,
    "void": 90_000,
    "reclaim": 90_000,
}


def test_quote_digest_matches_the_contract(chain: ChainEnv) -> None:
    signer = QuoteSigner(chain.chain_id, chain.escrow, Secret("0x" + bytes(chain.operator.key).hex()))
    ref = "0x" + "ab" * 32
    args = (ref, chain.buyers[0].address, chain.usdc, 123, 1_900_000_000, 1_910_000_000)
    on_chain = chain.escrow_contract.functions.quoteDigest(bytes.fromhex(ref[2:]), *args[1:]).call()
    assert bytes(on_chain) == signer.digest(*args)


def test_eth_deposit_then_capture_pays_the_payout_address(chain: ChainEnv) -> None:
    buyer = chain.buyers[0]
    quote = sign_quote(chain, buyer.address, ETH)
    receipt = chain.send(buyer.account, deposit_tx(chain, quote))
    assert receipt["status"] == 1 and receipt["gasUsed"] < GAS_LIMITS["deposit"]
    state = chain.escrow_contract.functions.escrowOf(quote.ref).call()
    assert state == [buyer.address, "0x" + "00" * 20, ETH, quote.hold_until, 1] or tuple(state)[4] == 1
    before = chain.w3.eth.get_balance(chain.payout)
    receipt = chain.send(chain.operator, call_tx(chain, "capture", quote.ref))
    assert receipt["status"] == 1 and receipt["gasUsed"] < GAS_LIMITS["capture"]
    assert chain.w3.eth.get_balance(chain.payout) == before + ETH
    assert chain.w3.eth.get_balance(chain.escrow) == 0
    # Each order pays out at most once.
    assert chain.revert_of(chain.operator.address, call_tx(chain, "capture", quote.ref)) == "NotHeld"
    assert chain.revert_of(chain.operator.address, call_tx(chain, "void", quote.ref)) == "NotHeld"


def test_token_deposit_then_void_returns_to_the_payer(chain: ChainEnv) -> None:
    buyer = chain.buyers[1]
    before = chain.usdc_balance(buyer.address)
    quote = sign_quote(chain, buyer.address, 129 * 10**6, token=chain.usdc)
    approve(chain, buyer, chain.usdc, quote.amount)
    receipt = chain.send(buyer.account, deposit_tx(chain, quote))
    assert receipt["status"] == 1 and receipt["gasUsed"] < GAS_LIMITS["depositToken"]
    assert chain.usdc_balance(chain.escrow) == quote.amount
    receipt = chain.send(chain.operator, call_tx(chain, "void", quote.ref))
    assert receipt["status"] == 1 and receipt["gasUsed"] < GAS_LIMITS["void"]
    assert chain.usdc_balance(buyer.address) == before
    assert chain.usdc_balance(chain.escrow) == 0


@pytest.mark.parametrize("case", ["wrong_amount", "expired", "other_payer", "bad_signer", "zero_hold"])
def test_deposit_reverts(chain: ChainEnv, case: str) -> None:
    buyer, other = chain.buyers[0], chain.buyers[1]
    expected = {
        "wrong_amount": "WrongAmount",
        "expired": "QuoteExpired",
        "other_payer": "InvalidSignature",
        "bad_signer": "InvalidSignature",
        "zero_hold": "InvalidHoldExpiry",
    }[case]
    sender = buyer
    if case == "wrong_amount":
        tx = deposit_tx(chain, sign_quote(chain, buyer.address, ETH), value=ETH - 1)
    elif case == "expired":
        tx = deposit_tx(chain, sign_quote(chain, buyer.address, ETH, ttl=-1))
    elif case == "other_payer":
        tx, sender = deposit_tx(chain, sign_quote(chain, buyer.address, ETH)), other
    elif case == "bad_signer":
        rogue = QuoteSigner(chain.chain_id, chain.escrow, Secret("0x" + bytes(Account.create().key).hex()))
        tx = deposit_tx(chain, sign_quote(chain, buyer.address, ETH, signer=rogue))
    else:
        tx = deposit_tx(chain, sign_quote(chain, buyer.address, ETH, hold=-1))
    assert chain.revert_of(sender.address, tx) == expected
    assert chain.w3.eth.get_balance(chain.escrow) == 0


def test_an_order_ref_is_usable_once(chain: ChainEnv) -> None:
    buyer = chain.buyers[0]
    quote = sign_quote(chain, buyer.address, ETH)
    assert chain.send(buyer.account, deposit_tx(chain, quote))["status"] == 1
    again = sign_quote(chain, buyer.address, ETH, order_ref=quote.order_ref)
    assert chain.revert_of(buyer.address, deposit_tx(chain, again)) == "OrderRefUsed"


def test_only_the_operator_captures_or_voids(chain: ChainEnv) -> None:
    buyer = chain.buyers[0]
    quote = sign_quote(chain, buyer.address, ETH)
    chain.send(buyer.account, deposit_tx(chain, quote))
    for fn in ("capture", "void"):
        assert chain.revert_of(buyer.address, call_tx(chain, fn, quote.ref)) == "NotOperator"
        assert chain.revert_of(chain.owner, call_tx(chain, fn, quote.ref)) == "NotOperator"


def test_after_hold_expiry_only_the_payer_moves_funds(chain: ChainEnv) -> None:
    buyer, other = chain.buyers[0], chain.buyers[1]
    quote = sign_quote(chain, buyer.address, ETH, hold=3_600)
    chain.send(buyer.account, deposit_tx(chain, quote))
    assert chain.revert_of(buyer.address, call_tx(chain, "reclaim", quote.ref)) == "HoldNotExpired"
    chain.travel_to(quote.hold_until)
    assert chain.revert_of(chain.operator.address, call_tx(chain, "capture", quote.ref)) == "HoldExpired"
    assert chain.revert_of(other.address, call_tx(chain, "reclaim", quote.ref)) == "NotPayer"
    before = chain.w3.eth.get_balance(buyer.address)
    receipt = chain.send(buyer.account, call_tx(chain, "reclaim", quote.ref))
    assert receipt["status"] == 1 and receipt["gasUsed"] < GAS_LIMITS["reclaim"]
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert chain.w3.eth.get_balance(buyer.address) == before + ETH - fee


def test_token_rules_fee_on_transfer_rejected_no_bool_accepted_unlisted_refused(chain: ChainEnv) -> None:
    buyer = chain.buyers[0]
    escrow = chain.escrow_contract
    fee_token = chain.deploy("FeeToken")
    no_bool = chain.deploy("NoBoolToken")
    for token in (fee_token, no_bool):
        chain.transact_owner(chain.contract("FeeToken", token).functions.mint(buyer.address, 10**12))

    unlisted = sign_quote(chain, buyer.address, 10**6, token=fee_token)
    assert chain.revert_of(buyer.address, deposit_tx(chain, unlisted)) == "TokenNotAllowed"

    for token in (fee_token, no_bool):
        chain.transact_owner(escrow.functions.setTokenAllowed(token, True))
    fee_quote = sign_quote(chain, buyer.address, 10**6, token=fee_token)
    approve(chain, buyer, fee_token, fee_quote.amount)
    assert chain.revert_of(buyer.address, deposit_tx(chain, fee_quote)) == "WrongAmount"

    nb_quote = sign_quote(chain, buyer.address, 10**6, token=no_bool)
    nb = chain.contract("NoBoolToken", no_bool)
    chain.send(buyer.account, {"to": no_bool, "data": nb.encode_abi("approve", [chain.escrow, 10**6])})
    assert chain.send(buyer.account, deposit_tx(chain, nb_quote))["status"] == 1
    assert chain.send(chain.operator, call_tx(chain, "capture", nb_quote.ref))["status"] == 1
    assert nb.functions.balanceOf(chain.payout).call() == 10**6


def test_sanctioned_payer_funds_stay_locked(chain: ChainEnv) -> None:
    buyer = chain.buyers[3]
    quote = sign_quote(chain, buyer.address, ETH, hold=3_600)
    chain.send(buyer.account, deposit_tx(chain, quote))
    oracle = chain.contract("SanctionsList", chain.oracle)
    chain.transact_owner(oracle.functions.addToSanctionsList([buyer.address]))
    assert chain.revert_of(chain.operator.address, call_tx(chain, "void", quote.ref)) == "Sanctioned"
    assert chain.revert_of(chain.operator.address, call_tx(chain, "capture", quote.ref)) == "Sanctioned"
    chain.travel_to(quote.hold_until)
    assert chain.revert_of(buyer.address, call_tx(chain, "reclaim", quote.ref)) == "Sanctioned"
    assert chain.w3.eth.get_balance(chain.escrow) == ETH


def test_a_payer_that_refuses_eth_gets_a_withdrawable_credit(chain: ChainEnv) -> None:
    funder = chain.buyers[0]
    receiver = chain.deploy("RejectingReceiver")
    contract = chain.contract("RejectingReceiver", receiver)
    quote = sign_quote(chain, receiver, ETH)
    from hexbytes import HexBytes

    pay = contract.encode_abi(
        "pay", [chain.escrow, quote.ref, ETH, quote.deadline, quote.hold_until, HexBytes(quote.signature)]
    )
    assert chain.send(funder.account, {"to": receiver, "data": pay, "value": ETH})["status"] == 1
    assert chain.send(chain.operator, call_tx(chain, "void", quote.ref))["status"] == 1
    escrow = chain.escrow_contract
    assert escrow.functions.credits(receiver, "0x" + "00" * 20).call() == ETH
    assert chain.w3.eth.get_balance(chain.escrow) == ETH  # still covers the credit
    chain.send(funder.account, {"to": receiver, "data": contract.encode_abi("setAccepting", [True])})
    assert (
        chain.send(
            funder.account, {"to": receiver, "data": contract.encode_abi("withdrawFrom", [chain.escrow])}
        )["status"]
        == 1
    )
    assert chain.w3.eth.get_balance(receiver) == ETH
    assert escrow.functions.credits(receiver, "0x" + "00" * 20).call() == 0


def test_owner_roles_and_a_stolen_operator_key_cannot_redirect(chain: ChainEnv) -> None:
    escrow = chain.escrow_contract
    thief = chain.operator.address
    for fn, args in (("setPayout", [thief]), ("setOperator", [thief]), ("setTokenAllowed", [thief, True])):
        assert chain.revert_of(thief, call_tx(chain, fn, *args)) == "OwnableUnauthorizedAccount"
    new_owner: Buyer = chain.buyers[5]
    chain.transact_owner(escrow.functions.transferOwnership(new_owner.address))
    assert escrow.functions.owner().call() == chain.owner  # two-step: not yet
    chain.send(new_owner.account, call_tx(chain, "acceptOwnership"))
    assert escrow.functions.owner().call() == new_owner.address
