"""Weight policies: exact square roots, and the share cap holds with the documented level."""

from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.governance.weights import PolicyError, cap_share, exact_sqrt, policy_weights

M = [bytes([i]) * 32 for i in range(6)]


def test_equal_score_and_sqrt_score():
    scores = {M[0]: F(16), M[1]: F(2), M[2]: F(1, 4)}
    members = M[:4]
    assert policy_weights({"base": "equal"}, members, scores) == dict.fromkeys(members, 1)
    w = policy_weights({"base": "score"}, members, scores)
    assert w == {M[0]: 16, M[1]: 2, M[2]: F(1, 4), M[3]: 0}
    w = policy_weights({"base": "sqrt_score"}, members, scores)
    assert w[M[0]] == 4 and w[M[2]] == F(1, 2) and w[M[3]] == 0
    assert w[M[1]] == F(1414213, 10**6)  # floor(sqrt(2) * 10^6) / 10^6
    with pytest.raises(PolicyError):
        policy_weights({"base": "plutocracy"}, members, scores)


def test_cap_worked_example():
    """Weights 6, 2, 1, 1 with a 1/3 cap: clip the largest to L with L = (2+1+1)/(3-1) = 2."""
    w = cap_share({M[0]: F(6), M[1]: F(2), M[2]: F(1), M[3]: F(1)}, F(1, 3))
    assert w == {M[0]: 2, M[1]: 2, M[2]: 1, M[3]: 1}
    assert max(w.values()) / sum(w.values()) == F(1, 3)


def test_cap_that_cannot_be_met_equalizes():
    w = cap_share({M[0]: F(9), M[1]: F(3), M[2]: F(0)}, F(1, 3))  # two positive members
    assert w == {M[0]: 3, M[1]: 3, M[2]: 0}


@settings(max_examples=200)
@given(
    ws=st.lists(st.fractions(0, 100), min_size=1, max_size=12),
    cap=st.fractions(F(1, 100), 1).filter(lambda c: c > 0),
)
def test_cap_never_exceeded_and_order_kept(ws, cap):
    before = {M[i % 6] + bytes([i]): w for i, w in enumerate(ws)}
    after = cap_share(before, cap)
    total = sum(after.values())
    positive = [w for w in before.values() if w > 0]
    if total and cap * len(positive) >= 1:
        assert max(after.values()) <= cap * total
    for m in before:  # clipping never raises a weight, never reorders members
        assert after[m] <= before[m] or cap * len(positive) <= 1
        for n in before:
            if before[m] > before[n] and cap * len(positive) > 1:
                assert after[m] >= after[n]


@settings(max_examples=200)
@given(st.fractions(0, 10**6))
def test_exact_sqrt_is_floor_at_micro_precision(x):
    r = exact_sqrt(x)
    assert r * r <= x < (r + F(1, 10**6)) ** 2
