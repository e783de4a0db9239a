"""Op handlers for governance. Each judges its op only against the op's causal past and
raises ``Rejected`` before writing anything, so state is a pure function of the set of ops.

State written here (plain CBOR values):

* ``gov.proposal[proposal_id]`` = {community, author, ts, versions: [{id, seq, body}]}
* ``gov.ballot[proposal_id + voter]`` = [{id, seq, ts, choice}] (every ballot, chain order)
* ``gov.delegation[community + member]`` = [{seq, topic, delegate | None}] (None: revoked)
* ``gov.seal[proposal_id + witness]`` = {heads: [[author, seq]], final: {id, seq, ts} | None}
  (the witness's one seal: the heads of all its parts, and the part that completed it)
* ``gov.enacted[proposal_id]`` = [ids of the decision.enact ops that applied it]

Per-author lists only ever receive that author's own ops, which every node applies in
chain order, so appending keeps them identical everywhere.
"""

from __future__ import annotations

from ..crdt.op import Op
from ..crdt.state import Context, HandlerMap, Rejected
from . import actions
from .choices import valid_choice
from .electorate import Electorate
from .proposal import PROPOSAL, bad, check_proposal, is_key, options_of, version_seen
from .tally import BALLOT, DELEGATION, SEAL, key, tally

MAX_HEADS = 1500  # a seal's named heads; the rest of what it saw is its causal past
MAX_TOPIC = 64
MAX_BALLOTS = 64  # per member and proposal: changing one's mind is fine, flooding is not


def _proposal(op: Op, ctx: Context, pid) -> tuple[dict, dict]:
    """The proposal row and the version ``op`` has seen; it must be in op's causal past."""
    if not is_key(pid):
        raise bad("proposal: 32-byte id")
    row = ctx.state.get(PROPOSAL, pid)
    if row is None or row["community"] != op.community_id:
        raise Rejected("unknown_proposal", "no such proposal in this community")
    x = ctx.causal.meta(op.id)
    if not ctx.causal.in_past(ctx.causal.meta(pid), x):
        raise Rejected("unknown_proposal", "the proposal is not in the op's causal past")
    return row, version_seen(row, ctx.causal, x)


def make_handlers(electorate: Electorate) -> HandlerMap:
    """Handlers bound to an electorate (how membership is read from records)."""

    def proposal_create(op: Op, ctx: Context) -> None:
        electorate.require_member(op, ctx)
        check_proposal(op.body)
        ctx.state.put(
            PROPOSAL,
            op.id,
            {
                "community": op.community_id,
                "author": op.author,
                "ts": op.ts,
                "versions": [{"id": op.id, "seq": op.seq, "body": dict(op.body)}],
            },
        )

    def proposal_edit(op: Op, ctx: Context) -> None:
        row, seen = _proposal(op, ctx, op.body.get("proposal"))
        if op.author != row["author"]:
            raise Rejected("not_author", "only the proposal's author may edit it")
        if op.ts >= seen["opens"]:
            raise Rejected("already_open", "a proposal may be edited only before it opens")
        changes = op.body.get("changes")
        if set(op.body) != {"proposal", "changes"} or type(changes) is not dict:
            raise bad("proposal.edit: {proposal, changes: map}")
        body = {**seen, **changes}
        check_proposal(body)
        versions = [*row["versions"], {"id": op.id, "seq": op.seq, "body": body}]
        ctx.state.put(PROPOSAL, op.body["proposal"], {**row, "versions": versions})

    def ballot_cast(op: Op, ctx: Context) -> None:
        electorate.require_member(op, ctx)
        if set(op.body) != {"proposal", "choice"}:
            raise bad("ballot.cast: {proposal, choice}")
        pid = op.body["proposal"]
        _, seen = _proposal(op, ctx, pid)
        if op.ts < seen["opens"]:
            raise Rejected("not_open", "ballot ts is before the proposal opens")
        if op.ts >= seen["closes"]:
            raise Rejected("closed", "ballot ts is at or after the proposal closes")
        choice = op.body["choice"]
        if not valid_choice(seen["method"], choice, options_of(seen), seen.get("params")):
            raise Rejected("bad_choice", f"not a valid {seen['method']} ballot")
        rows = ctx.state.get(BALLOT, key(pid, op.author)) or []
        if len(rows) >= MAX_BALLOTS:
            raise Rejected("too_many_ballots", f"at most {MAX_BALLOTS} ballots per proposal")
        entry = {"id": op.id, "seq": op.seq, "ts": op.ts, "choice": choice}
        ctx.state.put(BALLOT, key(pid, op.author), [*rows, entry])

    def _delegation(op: Op, ctx: Context, delegate) -> None:
        topic = op.body.get("topic", "")
        if type(topic) is not str or len(topic) > MAX_TOPIC:
            raise bad("topic: at most 64 characters ('' or absent: global)")
        electorate.require_member(op, ctx)
        k = key(op.community_id, op.author)
        rows = ctx.state.get(DELEGATION, k) or []
        ctx.state.put(DELEGATION, k, [*rows, {"seq": op.seq, "topic": topic, "delegate": delegate}])

    def delegation_set(op: Op, ctx: Context) -> None:
        delegate = op.body.get("delegate")
        if set(op.body) - {"delegate", "topic"} or not is_key(delegate):
            raise bad("delegation.set: {delegate: 32-byte key, topic?}")
        if delegate == op.author:
            raise Rejected("self_delegation", "a member cannot delegate to itself")
        _delegation(op, ctx, delegate)

    def delegation_revoke(op: Op, ctx: Context) -> None:
        if set(op.body) - {"topic"}:
            raise bad("delegation.revoke: {topic?}")
        _delegation(op, ctx, None)

    def seal_create(op: Op, ctx: Context) -> None:
        """A seal may come in parts (``final: false``) so that a witness can name more heads
        than one op holds; the part with ``final: true`` (the default) completes it."""
        if set(op.body) - {"proposal", "heads", "final"}:
            raise bad("seal.create: {proposal, heads?, final?}")
        final = op.body.get("final", True)
        if type(final) is not bool:
            raise bad("final: true or false")
        pid = op.body.get("proposal")
        row, seen = _proposal(op, ctx, pid)
        witnesses = seen.get("witnesses") or electorate.witnesses(
            ctx.state, row["community"], ctx.causal.vector_clock(ctx.causal.meta(pid))
        )
        if op.author not in witnesses:
            raise Rejected("not_witness", "only a witness of the proposal may seal it")
        if op.ts < seen["closes"]:
            raise Rejected("seal_early", "a seal's ts must be at or after the close time")
        seal = ctx.state.get(SEAL, key(pid, op.author)) or {"heads": [], "final": None}
        if seal["final"] is not None:
            raise Rejected("seal_twice", "this witness already sealed the proposal")
        heads = op.body.get("heads", [])
        if (
            type(heads) is not list
            or len(heads) > MAX_HEADS
            or not all(
                type(h) is list and len(h) == 2 and is_key(h[0]) and type(h[1]) is int and h[1] > 0
                for h in heads
            )
            or len({h[0] for h in heads}) != len(heads)
        ):
            raise bad("heads: up to 1500 distinct [author, seq] pairs")
        done = {"id": op.id, "seq": op.seq, "ts": op.ts} if final else None
        ctx.state.put(SEAL, key(pid, op.author), {"heads": seal["heads"] + heads, "final": done})

    def decision_enact(op: Op, ctx: Context) -> None:
        electorate.require_member(op, ctx)
        if set(op.body) != {"proposal"}:
            raise bad("decision.enact: {proposal}")
        pid = op.body["proposal"]
        _, seen = _proposal(op, ctx, pid)
        if "action" not in seen:
            raise Rejected("no_action", "the proposal has no action to enact")
        # Fork proofs are not part of the op's causal past; the replica already voids a
        # forked author's ops from the fork on, and rebuilds state when a proof arrives.
        t = tally(ctx.state, ctx.causal, pid, electorate, scope=ctx.causal.meta(op.id))
        if not t.final:
            raise Rejected("not_final", "a majority of witness seals is not in the op's past")
        if not t.passed:
            raise Rejected("not_passed", "the proposal did not pass")
        actions.enact(ctx, op, pid, seen["action"])

    return {
        "proposal.create": proposal_create,
        "proposal.edit": proposal_edit,
        "ballot.cast": ballot_cast,
        "delegation.set": delegation_set,
        "delegation.revoke": delegation_revoke,
        "seal.create": seal_create,
        "decision.enact": decision_enact,
    }
