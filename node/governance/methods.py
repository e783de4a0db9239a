"""Tally methods: pure functions from (ballots, weights) to a :class:`Count` with a breakdown.

Every method has the same shape, ``method(ballots, weights, options, params) -> Count``:

* ``ballots`` maps a voter to a choice; ``None`` is an abstention in every method.
* ``weights`` maps a voter to its (already delegated) weight, a ``Fraction`` or ``int``.
* ``options`` is the proposal's option list; its ORDER is the tie-break (earlier wins).

A choice that does not fit the method is *spoiled*: it counts neither towards quorum nor
towards any option, and the count names the voter, so a malformed ballot is visible rather
than silently ignored. Quorum and threshold are applied afterwards by :func:`decide`, the same
way for every method, so each method only has to say who took part and how much support its
winner has. All arithmetic is exact (``int`` / ``Fraction``); nothing here rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .choices import CHECKS, CREDITS, MAX_SCORE

Weight = Fraction | int
Voter = bytes | str
ZERO = 0  # ints stay ints (fast); Fractions stay Fractions (exact either way)


@dataclass
class Count:
    """What a method found, before quorum/threshold. ``support`` is the winner's share of the
    decisive (non-abstaining) weight, or ``None`` where the method has no such share
    (Schulze, quadratic, consent): then the threshold does not apply."""

    method: str
    winner: str | None
    totals: dict[str, Fraction]
    took_part: Fraction  # weight of every valid ballot, abstentions included
    abstained: Fraction
    support: Fraction | None
    tied: list[str] = field(default_factory=list)  # options tied for first before tie-break
    spoiled: list[Voter] = field(default_factory=list)
    veto: bool = False  # set by methods that can fail regardless of threshold (consent, quadratic)
    detail: dict[str, Any] = field(default_factory=dict)


def first_by_order(candidates: Sequence[str], score: Mapping[str, Fraction]) -> tuple[str, list]:
    """The highest-scoring option; ties go to the option listed first in the proposal."""
    best = max(score[o] for o in candidates)
    tied = [o for o in candidates if score[o] == best]
    return tied[0], (tied if len(tied) > 1 else [])


def _add_one(choice: str, w: Fraction, totals: dict[str, Fraction]) -> None:
    totals[choice] += w


def _tally(
    name: str,
    ballots: Mapping[Voter, Any],
    weights: Mapping[Voter, Weight],
    options: Sequence[str],
    params: Mapping[str, Any] | None,
    add: Callable[[Any, Fraction, dict[str, Fraction]], None] = _add_one,
    *,
    named: Sequence[str] | None = None,
) -> Count:
    """Weigh every ballot: abstention, valid (``add`` it to the totals of ``options``) or
    spoiled. ``named``: the options a choice may name, when not ``options`` (basic and
    consent choices are fixed words, not proposal options)."""
    valid = _valid(name, options if named is None else named, params)
    totals = {o: ZERO for o in options}
    took_part = abstained = ZERO
    spoiled: list[Voter] = []
    for voter, choice in ballots.items():
        w = weights.get(voter, 0)
        if choice is None:
            took_part += w
            abstained += w
        elif valid(choice):
            took_part += w
            add(choice, w, totals)
        else:
            spoiled.append(voter)
    return Count(name, None, totals, took_part, abstained, None, spoiled=sorted(spoiled))


def basic(ballots, weights, options=("yes", "no"), params=None) -> Count:
    """yes / no / abstain. Support is yes / (yes + no); the winner is "yes" or "no"."""
    c = _tally("basic", ballots, weights, ["yes", "no"], params, named=())
    decisive = c.totals["yes"] + c.totals["no"]
    if decisive:
        c.support = Fraction(c.totals["yes"]) / decisive
        c.winner = "yes" if c.totals["yes"] > c.totals["no"] else "no"
    return c


def single(ballots, weights, options, params=None) -> Count:
    """One option per ballot; plurality of weight wins."""
    c = _tally("single", ballots, weights, options, params)
    return _plurality_winner(c, options, c.took_part - c.abstained)


def approval(ballots, weights, options, params=None) -> Count:
    """A set of approved options per ballot (an empty list approves none but takes part).
    Support is the share of decisive weight that approved the winner."""

    def add(ch, w, t):
        for o in ch:
            t[o] += w

    c = _tally("approval", ballots, weights, options, params, add)
    return _plurality_winner(c, options, c.took_part - c.abstained)


def score(ballots, weights, options, params=None) -> Count:
    """A map option -> integer score in [0, max_score]; unscored options score 0. Support is
    the winner's total over (max_score x decisive weight): its mean score as a share of max."""
    top = int((params or {}).get("max_score", MAX_SCORE.default))

    def add(ch, w, t):
        for o, s in ch.items():
            t[o] += w * s

    c = _tally("score", ballots, weights, options, params, add)
    return _plurality_winner(c, options, (c.took_part - c.abstained) * top)


def quadratic(ballots, weights, options, params=None) -> Count:
    """A map option -> integer votes (negative = against) whose cost, the sum of squares, is
    at most ``credits`` voice credits. An option's total is the sum of weight x votes. The
    winner must have a positive net total; there is no threshold share."""
    credits = int((params or {}).get("credits", CREDITS.default))

    def add(ch, w, t):
        for o, v in ch.items():
            t[o] += w * v

    c = _tally("quadratic", ballots, weights, options, params, add)
    c.winner, c.tied = first_by_order(options, c.totals)
    c.veto = c.totals[c.winner] <= 0
    c.detail["credits"] = credits
    return c


def consent(ballots, weights, options=(), params=None) -> Count:
    """consent / object / abstain (stand aside). Passes unless the objecting weight reaches
    ``objection_bound`` as a share of the weight that took part (stand-asides included)."""
    p = params or {}
    bound = Fraction(*p["objection_bound"]) if "objection_bound" in p else Fraction(1, 10)
    c = _tally("consent", ballots, weights, ["consent", "object"], params, named=())
    if c.took_part:
        share = Fraction(c.totals["object"]) / c.took_part
        c.veto = share >= bound
        c.winner = "object" if c.veto else "consent"
        c.detail.update(objection_share=share, objection_bound=bound)
    return c


def _valid(method: str, options: Sequence[str], params) -> Callable[[Any], bool]:
    check, opts, p = CHECKS[method], set(options), params or {}
    return lambda ch: check(ch, opts, p)


def _plurality_winner(c: Count, options: Sequence[str], denominator: Fraction) -> Count:
    if denominator and options:
        c.winner, c.tied = first_by_order(options, c.totals)
        c.support = Fraction(c.totals[c.winner]) / denominator
    return c
