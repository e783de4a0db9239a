"""Quorum and threshold: turning a method's :class:`Count` into a decision.

The same two rules apply to every method, so they live here once:

* **Quorum** is met when ``participation >= quorum x eligible weight`` (inclusive). The
  participating weight is every valid ballot's weight; abstentions count towards it only if
  the proposal says ``abstain_counts_quorum`` (default true). With no eligible weight at all
  only a zero quorum is met.
* **Threshold** is met when the winner's ``support > threshold`` (strictly more: with the
  default 1/2 a tie is not a majority). Methods with no support share (Schulze, quadratic,
  consent) ignore the threshold; consent and quadratic can instead ``veto``.

A proposal passes when quorum is met, there is a winner, the threshold is met and there is
no veto. Every comparison is between Fractions, so the boundaries are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from . import methods, ranked
from .methods import Count

METHODS = {
    "basic": methods.basic,
    "single": methods.single,
    "approval": methods.approval,
    "score": methods.score,
    "quadratic": methods.quadratic,
    "consent": methods.consent,
    "irv": ranked.irv,
    "schulze": ranked.schulze,
}


# The methods with no support share (spec §3.5, §3.6, §3.8): their winner is adopted without
# a threshold (consent and quadratic can veto instead). Views say so, so that no reader has
# to guess from a missing share, which a method with a share also lacks before any vote.
NO_SHARE = frozenset({"schulze", "quadratic", "consent"})


@dataclass(frozen=True)
class Rules:
    method: str = "basic"
    params: dict = field(default_factory=dict)
    quorum: Fraction = Fraction(0)
    threshold: Fraction = Fraction(1, 2)
    abstain_counts_quorum: bool = True


@dataclass
class Outcome:
    passed: bool
    winner: str | None
    quorum_met: bool
    threshold_met: bool
    eligible: Fraction
    participation: Fraction
    count: Count


def count(rules: Rules, ballots, weights, options) -> Count:
    return METHODS[rules.method](ballots, weights, options, rules.params)


def decide(c: Count, eligible: Fraction | int, rules: Rules) -> Outcome:
    eligible = Fraction(eligible)
    participation = c.took_part if rules.abstain_counts_quorum else c.took_part - c.abstained
    quorum_met = participation >= rules.quorum * eligible if eligible else rules.quorum == 0
    threshold_met = c.support is None or c.support > rules.threshold
    passed = quorum_met and c.winner is not None and threshold_met and not c.veto
    return Outcome(passed, c.winner, quorum_met, threshold_met, eligible, participation, c)


def unscale(c: Count, scale: int) -> Count:
    """Divide every weight figure of ``c`` by ``scale``. The tally runs the methods on
    integer weights (each weight x the common denominator ``scale``): integer sums are much
    faster than Fraction sums, and shares and comparisons do not change under scaling."""

    def f(x):
        return Fraction(x) / scale

    if c.method != "schulze":  # Schulze totals count beaten options, not weight
        c.totals = {o: f(v) for o, v in c.totals.items()}
    c.took_part, c.abstained = f(c.took_part), f(c.abstained)
    for r in c.detail.get("rounds", []):
        r["counts"] = {o: f(v) for o, v in r["counts"].items()}
        r["exhausted"] = f(r["exhausted"])
    for name in ("d", "p"):
        if name in c.detail:
            c.detail[name] = {
                a: {b: f(v) for b, v in row.items()} for a, row in c.detail[name].items()
            }
    return c


def plain(x: Any) -> Any:
    """JSON-friendly form of a result: Fractions become "n/d" strings, bytes become hex."""
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, dict):
        return {(k.hex() if isinstance(k, bytes) else k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        return {k: plain(getattr(x, k)) for k in x.__dataclass_fields__}
    return x
