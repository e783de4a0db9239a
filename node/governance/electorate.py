"""The interface between governance and the records layer (``node.crdt.records``).

Governance needs four things from records, always restricted to a proposal's *cut* (a vector
clock, author -> highest seq, of the proposal's causal past):

* ``members(state, causal, community, clock)`` - who is a member within the cut;
* ``scores(state, causal, community, clock, now_ms)`` - contribution scores within the cut,
  evaluated at ``now_ms`` (governance passes the proposal's ``opens`` time, so the value is
  the same on every node and cannot drift while the vote runs);
* ``charter(state, community, clock)`` - the charter within the cut (its ``witnesses`` and its
  ``voting`` floor bind the proposal);
* ``require_member(op, ctx)`` - reject an op whose author is not a member in its causal past;
* ``cutoffs(state, community, clock)`` - removed member -> the highest seq of theirs that
  counts, for the removals enacted within ``clock`` (``None``: all known).

:class:`Electorate` bundles them so tests and other embeddings can pass their own, and so
the dependency on the records row layout is in this one file. ``from_records()`` builds the
real one (``specs/governance.md`` §2 gives the membership rule it applies).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from ..crdt.causal import CausalIndex, VectorClock
from ..crdt.op import Op
from ..crdt.state import Context, State

Members = Callable[[State, CausalIndex, bytes, VectorClock], set[bytes]]
Scores = Callable[[State, CausalIndex, bytes, VectorClock, int], Mapping[bytes, Fraction]]
Charter = Callable[[State, bytes, VectorClock], dict]
Require = Callable[[Op, Context], object]
Cutoffs = Callable[[State, bytes, VectorClock | None], dict[bytes, int]]


@dataclass(frozen=True)
class Electorate:
    members: Members
    scores: Scores
    charter: Charter
    require_member: Require
    cutoffs: Cutoffs


def from_records() -> Electorate:
    """The electorate read from ``node.crdt.records`` rows (see ``specs/governance.md``)."""
    from ..crdt.records import common, queries, removal_cutoffs, score

    def charter(state, community, clock):
        com = state.get(common.COMMUNITY, community)
        return common.charter_in_clock(com, clock) if com else {}

    return Electorate(
        members=queries.members_in_cut,
        scores=lambda state, causal, community, clock, now: score.contribution_scores(
            state, community, clock, now
        ),
        charter=charter,
        require_member=common.require_member,
        cutoffs=removal_cutoffs,
    )
