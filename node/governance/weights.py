"""Weight policies: how much each eligible member's ballot weighs in one proposal.

A policy is part of the proposal body, ``{"base": ..., "cap": [num, den]}`` (cap optional):

* ``equal`` - every eligible member weighs 1 (one member, one vote).
* ``score`` - the member's contribution score at the proposal's cut (from the records view).
* ``sqrt_score`` - the square root of that score, made exact by fixing the precision:
  ``isqrt(floor(score x 10^12)) / 10^6``. Every node computes the same integer square root,
  so there is no float anywhere; the result is within 10^-6 below the true root.
* ``cap`` - no member may hold more than ``cap`` of the total weight. Weights above a level
  ``L`` are clipped to ``L``, where ``L`` is the unique level with
  ``L = cap x sum(min(w, L))``: clipped weight is removed, not handed to others, so the
  ratios among unclipped members are unchanged. If the cap cannot be met at all
  (``cap x members < 1``, e.g. a 10% cap with 5 members) every positive weight is set equal
  to the smallest one, the closest the cap can get.

Scores are ``Fraction``s; results are ``Fraction``s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction

SQRT_SCALE = 10**12  # score is scaled by this before isqrt; the root is divided by its sqrt
SQRT_ROOT = 10**6

Weights = dict[bytes, Fraction | int]


class PolicyError(ValueError):
    pass


def exact_sqrt(x: Fraction) -> Fraction:
    """floor(sqrt(x) x 10^6) / 10^6, computed with integers only."""
    x = Fraction(x)
    if x < 0:
        raise PolicyError("negative score")
    return Fraction(math.isqrt(x.numerator * SQRT_SCALE // x.denominator), SQRT_ROOT)


def base_weights(
    base: str, members: Iterable[bytes], scores: Mapping[bytes, Fraction] | None
) -> Weights:
    scores = scores or {}
    if base == "equal":
        return dict.fromkeys(members, 1)  # int 1: exact, and cheaper than Fraction(1)
    if base == "score":
        return {m: Fraction(scores.get(m, 0)) for m in members}
    if base == "sqrt_score":
        return {m: exact_sqrt(scores.get(m, 0)) for m in members}
    raise PolicyError(f"unknown weight policy {base!r}")


def cap_share(weights: Mapping[bytes, Fraction], cap: Fraction) -> Weights:
    """Clip weights so that no member holds more than ``cap`` of the total (see module doc)."""
    cap = Fraction(cap)
    if not 0 < cap <= 1:
        raise PolicyError("cap must be in (0, 1]")
    out = dict(weights)
    positive = sorted((w for w in out.values() if w > 0), reverse=True)
    n = len(positive)
    if not n or positive[0] <= cap * sum(positive):
        return out
    if cap * n <= 1:
        floor = positive[-1]
        return {m: (floor if w > 0 else w) for m, w in out.items()}
    rest = sum(positive)
    for k in range(1, n):  # clip the k largest to level L
        rest -= positive[k - 1]
        level = cap * rest / (1 - cap * k)
        if positive[k - 1] >= level >= positive[k]:
            return {m: min(w, level) for m, w in out.items()}
    raise AssertionError("unreachable: a level exists whenever cap x n > 1")


def policy_weights(
    policy: Mapping, members: Iterable[bytes], scores: Mapping[bytes, Fraction] | None
) -> Weights:
    """Apply a proposal's weight policy to the members eligible at its cut."""
    w = base_weights(policy.get("base", "equal"), members, scores)
    if policy.get("cap") is not None:
        num, den = policy["cap"]
        w = cap_share(w, Fraction(num, den))
    return w
