"""Per-peer CPU budgets (``node/service/budget.py``): no peer gets more than its rate of a core
for long, whatever it sends; quiet peers have a burst; peers are independent."""

from hypothesis import given
from hypothesis import strategies as st

from node.service.budget import CpuBudget


def test_a_quiet_peer_may_spend_its_burst_then_waits_in_proportion():
    b = CpuBudget(rate=0.5, burst=2.0)
    b.charge("p", 1.5, now=0.0)
    assert b.debt("p", 0.0) == 0.0
    b.charge("p", 1.5, now=0.0)  # 1 s over: repaid at 0.5 s per s
    assert b.debt("p", 0.0) == 2.0
    assert b.debt("p", 1.0) == 1.0
    assert b.debt("p", 2.0) == 0.0
    assert b.debt("other", 0.0) == 0.0  # one peer's debt is its own


@given(st.lists(st.tuples(st.floats(0, 3), st.floats(0, 2)), max_size=50))
def test_a_peer_that_waits_out_its_debt_never_exceeds_rate_plus_burst(charges):
    """Whatever a peer makes us spend, if its input waits as told, the CPU it used by time t
    is at most burst + rate * t (+ the one charge that put it in debt)."""
    b = CpuBudget(rate=0.5, burst=2.0)
    now, used = 0.0, 0.0
    for cost, gap in charges:
        now += gap + b.debt("p", now + gap)  # input waits while in debt
        b.charge("p", cost, now)
        used += cost
        assert used <= 2.0 + 0.5 * now + cost + 1e-9
