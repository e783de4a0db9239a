"""Decisions that act: what a passed proposal with an ``action`` changes, via ``decision.enact``.

``decision.enact`` is the ONLY op that amends a charter or removes a member (records exposes
the two entry points and has no op of its own for either). Its handler (:mod:`.handlers`)
recomputes the tally *as the enacting op sees it* (only seals, ballots and versions in its
causal past), requires it to be final and passed, and then calls:

* ``charter.amend`` -> ``records.apply_charter_amendment``: ops that have the enacting op in
  their causal past see the amended charter;
* ``member.remove`` -> ``records.remove_member``: the member's ops that have the enacting op
  in their causal past are rejected.

Anyone may enact a passed proposal. An enactment is rejected when another enactment of the
same proposal is already in its causal past; two *concurrent* enactments both apply (nobody
can order them), which is harmless for a removal and, for an amendment, re-applies the same
changes at the later position in the order (lamport, author, id).
``gov.enacted[proposal]`` lists the enacting op ids (sorted), for queries.
"""

from __future__ import annotations

from ..crdt.op import Op
from ..crdt.records import apply_charter_amendment, remove_member
from ..crdt.state import Context, Rejected

ENACTED = "gov.enacted"


def enact(ctx: Context, op: Op, pid: bytes, action: dict) -> None:
    x = ctx.causal.meta(op.id)
    done = ctx.state.get(ENACTED, pid) or []
    if any(ctx.causal.in_past(ctx.causal.meta(d), x) for d in done):
        raise Rejected("already_enacted", "an enactment of this proposal is in the op's past")
    if action["kind"] == "charter.amend":
        apply_charter_amendment(ctx.state, op.community_id, action["changes"], x, source=pid)
    else:
        # The cutoff: the member's highest seq the enactment has seen (its clock is already
        # computed and memoized by the tally this handler just ran).
        clock = ctx.causal.vector_clock(x)
        cutoff = clock.get(action["member"], 0)
        remove_member(ctx.state, op.community_id, action["member"], x, cutoff, clock)
    ctx.state.put(ENACTED, pid, sorted({*done, op.id}))
