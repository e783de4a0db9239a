"""Liquid delegation: where each eligible member's weight ends up in one proposal.

Inputs are already reduced to one proposal: ``delegates`` maps a member to the member it
delegates to for this proposal (a delegation for the proposal's topic overrides a global one;
both are read from the proposal's cut, like weights).

Rules, applied to every eligible member ``m``:

1. If ``m`` cast a valid ballot, ``m``'s weight goes to ``m``'s own ballot: a direct ballot
   always overrides delegation.
2. Otherwise follow ``m -> delegates[m] -> ...`` (transitive) until reaching a member who
   voted; ``m``'s weight is added to that voter's ballot (to an abstention if it abstained).
3. The weight is *not counted* (``lost``) when the chain ends at a member who neither voted
   nor delegates (``no_vote``), at someone not eligible at the cut (``not_eligible``), or
   loops back on itself before reaching a voter (``cycle``). So a cycle with no direct voter
   in it carries no weight; a cycle that contains a voter never loops (the walk stops there).
4. An equivocator (``void``) has no valid ballot and its own weight is never counted; it
   still passes on weight delegated *through* it, as a member who did not vote would.

Every member lands in exactly one place (one voter or one ``lost`` reason), so delegated
weight is counted exactly once. The walk memoizes, so it is linear in the members.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from fractions import Fraction

Member = bytes
NO_VOTE, CYCLE, NOT_ELIGIBLE, VOID = "no_vote", "cycle", "not_eligible", "void"


@dataclass
class Flow:
    effective: dict[Member, Fraction]  # voter -> own weight + everything delegated to it
    route: dict[Member, Member | str]  # member -> the voter its weight reached, or a reason
    lost: dict[str, Fraction] = field(default_factory=dict)  # reason -> weight not counted
    delegated: Fraction | int = 0  # weight that reached a voter through delegation


def resolve(
    members: Set[Member],
    weights: Mapping[Member, Fraction],
    voters: Set[Member],
    delegates: Mapping[Member, Member],
    void: Set[Member] = frozenset(),
) -> Flow:
    dest: dict[Member, Member | str] = {}

    def walk(m: Member) -> Member | str:
        path: list[Member] = []
        on_path: set[Member] = set()
        x = m
        while True:
            if x in dest:
                end = dest[x]
                break
            if x in voters and x not in void:
                end = x
                break
            if x not in members:
                end = NOT_ELIGIBLE
                break
            if x in on_path:
                end = CYCLE
                break
            nxt = delegates.get(x)
            if nxt is None:
                end = NO_VOTE
                break
            path.append(x)
            on_path.add(x)
            x = nxt
        for y in path:
            dest[y] = end
        return end

    flow = Flow({}, {})
    for m in sorted(members):
        w = weights.get(m, 0)
        if m in void:
            end = VOID
        elif m in voters:  # rule 1, the common case: no walk needed
            end = m
        else:
            end = walk(m)
        flow.route[m] = end
        if isinstance(end, str):
            flow.lost[end] = flow.lost.get(end, 0) + w
        else:
            flow.effective[end] = flow.effective.get(end, 0) + w
            if end != m:
                flow.delegated += w
    return flow
