"""Ranked-choice methods: instant runoff (IRV) and Schulze (a Condorcet method).

A ranked ballot is a list of distinct options, most preferred first. It may be partial: the
options it leaves out are tied with each other, below every option it names. Identical
rankings are grouped first, so the cost grows with the number of distinct rankings and the
number of options, not with the number of voters.

Tie-breaks (written down so every node reaches the same answer):
* IRV eliminates ONE option per round, the one with the least weight; among equally weak
  options the one listed LAST in the proposal goes first (earlier-listed options are favoured,
  as in every other tie-break here).
* Schulze may find several winners (options nobody beats by a stronger path); the first of
  them in proposal order wins and the count lists them all in ``tied``.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from .methods import ZERO, Count, _tally, first_by_order


def _grouped(ballots, weights, options, name, params):
    """Validate, then fold equal rankings: returns (count shell, {ranking tuple: weight})."""
    groups: dict[tuple[str, ...], Fraction] = defaultdict(int)

    def add(ch, w, totals):
        groups[tuple(ch)] += w

    c = _tally(name, ballots, weights, options, params, add)
    return c, groups


def irv(ballots, weights, options, params=None) -> Count:
    """Instant runoff: count each ballot for its highest-ranked continuing option; if the
    leader has more than half of the non-exhausted weight (or is the last one left) it wins,
    otherwise eliminate the weakest option and repeat. Support is the winner's share of the
    non-exhausted weight in the final round."""
    c, groups = _grouped(ballots, weights, options, "irv", params)
    continuing = list(options)
    rounds = []
    while continuing:
        counts = {o: ZERO for o in continuing}
        exhausted = ZERO
        alive = set(continuing)
        for ranking, w in groups.items():
            top = next((o for o in ranking if o in alive), None)
            if top is None:
                exhausted += w
            else:
                counts[top] += w
        active = sum(counts.values(), ZERO)
        step = {"counts": counts, "exhausted": exhausted}
        rounds.append(step)
        if not active:
            break
        leader, tied = first_by_order(continuing, counts)
        if counts[leader] * 2 > active or len(continuing) == 1:
            c.winner, c.tied = leader, tied
            c.support = Fraction(counts[leader]) / active
            break
        low = min(counts.values())
        out = [o for o in continuing if counts[o] == low][-1]
        step["eliminated"] = out
        continuing.remove(out)
    c.totals = {o: rounds[-1]["counts"].get(o, ZERO) for o in options} if rounds else c.totals
    c.detail["rounds"] = rounds
    return c


def pairwise(groups, options) -> dict[str, dict[str, Fraction]]:
    """d[a][b]: weight of voters who rank a strictly above b."""
    d = {a: {b: ZERO for b in options if b != a} for a in options}
    for ranking, w in groups.items():
        named = set(ranking)
        rest = [o for o in options if o not in named]
        for i, a in enumerate(ranking):
            row = d[a]
            for b in ranking[i + 1 :]:
                row[b] += w
            for b in rest:
                row[b] += w
    return d


def strongest_paths(d, options) -> dict[str, dict[str, Fraction]]:
    """Widest paths (Floyd-Warshall) over the "winning votes" graph: a link a->b has strength
    d[a][b] when d[a][b] > d[b][a], otherwise 0."""
    p = {a: {b: (d[a][b] if d[a][b] > d[b][a] else ZERO) for b in d[a]} for a in options}
    for i in options:
        for j in options:
            if j == i:
                continue
            for k in options:
                if k == i or k == j:
                    continue
                via = min(p[j][i], p[i][k])
                if via > p[j][k]:
                    p[j][k] = via
    return p


def schulze(ballots, weights, options, params=None) -> Count:
    """Schulze method. ``totals[o]`` is how many other options ``o`` beats by strongest path;
    ``detail`` holds the pairwise matrix ``d``, the path strengths ``p`` and the ranking."""
    c, groups = _grouped(ballots, weights, options, "schulze", params)
    d = pairwise(groups, options)
    p = strongest_paths(d, options)
    beats = {a: sum(1 for b in p[a] if p[a][b] > p[b][a]) for a in options}
    c.totals = beats
    winners = [a for a in options if all(p[a][b] >= p[b][a] for b in p[a])]
    if groups and winners:
        c.winner = winners[0]
        c.tied = winners if len(winners) > 1 else []
    order = {o: i for i, o in enumerate(options)}
    c.detail.update(d=d, p=p, ranking=sorted(options, key=lambda o: (-beats[o], order[o])))
    return c
