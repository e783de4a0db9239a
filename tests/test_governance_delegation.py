"""Delegation: transitive, overridden by a direct ballot, cycles lose weight, counted once."""

from fractions import Fraction as F

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.governance.delegation import CYCLE, NO_VOTE, NOT_ELIGIBLE, VOID, resolve

A, B, C, D, E, X = (bytes([i]) * 32 for i in range(1, 7))


def test_transitive_and_direct_override():
    members = {A, B, C, D}
    w = {A: F(1), B: F(2), C: F(3), D: F(4)}
    # A -> B -> C; C votes. B also votes directly: B's own ballot overrides, A's weight stops at B.
    flow = resolve(members, w, {B, C}, {A: B, B: C, D: C})
    assert flow.effective == {B: 3, C: 7}
    assert flow.route == {A: B, B: B, C: C, D: C}
    assert flow.delegated == 1 + 4


def test_cycle_without_voter_is_not_counted_and_lost_reasons():
    members = {A, B, C, D, E}
    w = dict.fromkeys(members, F(1))
    flow = resolve(members, w, {E}, {A: B, B: A, C: A, D: X})
    assert flow.route[A] == flow.route[B] == flow.route[C] == CYCLE
    assert flow.route[D] == NOT_ELIGIBLE and flow.effective == {E: 1}
    assert flow.lost == {CYCLE: 3, NOT_ELIGIBLE: 1}
    flow = resolve(members, w, {A}, {A: B, B: A, C: A})  # a voter in the loop stops it
    assert flow.effective == {A: 3} and flow.lost == {NO_VOTE: 2}


def test_equivocator_weight_void_but_passes_delegation_through():
    members = {A, B, C}
    w = {A: F(1), B: F(10), C: F(1)}
    flow = resolve(members, w, {B, C}, {A: B, B: C}, void={B})
    assert flow.route[B] == VOID and flow.route[A] == C
    assert flow.effective == {C: 2} and flow.lost == {VOID: 10}


members_st = st.integers(1, 30)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])  # a busy CI box
@given(data=st.data(), n=members_st)
def test_each_weight_counted_at_most_once(data, n):
    people = [bytes([i]) * 32 for i in range(n)]
    outsiders = [bytes([200 + i]) * 32 for i in range(3)]
    members = set(people)
    w = {m: data.draw(st.fractions(0, 50)) for m in people}
    voters = set(data.draw(st.lists(st.sampled_from(people), max_size=n)))
    void = set(data.draw(st.lists(st.sampled_from(people), max_size=3)))
    delegates = {
        m: data.draw(st.sampled_from(people + outsiders))
        for m in data.draw(st.lists(st.sampled_from(people), max_size=n))
    }
    flow = resolve(members, w, voters, delegates, void)
    counted = sum(flow.effective.values(), F(0))
    assert counted <= sum(w.values())
    assert counted + sum(flow.lost.values(), F(0)) == sum(w.values())  # exactly one bucket each
    assert set(flow.route) == members
    for voter, total in flow.effective.items():
        assert voter in voters and voter not in void
        assert total == sum(w[m] for m, end in flow.route.items() if end == voter)
    for m in voters - void:
        assert flow.route[m] == m  # a direct ballot always overrides delegation
