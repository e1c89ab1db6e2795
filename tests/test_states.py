"""The transition table: every pair is either allowed or raises, and terminal states stay terminal."""

from __future__ import annotations

import itertools

import pytest

from flask_backorders.errors import IllegalTransition
from flask_backorders.states import FUNDED, TERMINAL, TRANSITIONS, OrderStatus, check_transition

S = OrderStatus


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_is_allowed_exactly_when_the_table_says(current: S, target: S) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, target)
        assert info.value.context == {"current_status": current.value, "requested_status": target.value}


def test_terminal_states() -> None:
    assert {S.FULFILLED, S.REFUNDED, S.FROZEN, S.RECLAIMED} == TERMINAL


def test_wire_names_are_the_public_ones() -> None:
    assert [s.value for s in S] == [
        "awaiting_deposit",
        "deposit_pending",
        "held",
        "allocated",
        "compliance_review",
        "fulfilled",
        "refund_pending",
        "refunded",
        "frozen",
        "reclaimed",
        "expired",
        "cancelled",
    ]


def test_the_chain_is_the_truth_for_late_deposits() -> None:
    assert S.DEPOSIT_PENDING in TRANSITIONS[S.EXPIRED]
    assert S.DEPOSIT_PENDING in TRANSITIONS[S.CANCELLED]


def test_every_funded_state_can_freeze_and_frozen_never_refunds() -> None:
    for status in FUNDED:
        assert S.FROZEN in TRANSITIONS[status], status
    assert TRANSITIONS[S.FROZEN] == frozenset()
