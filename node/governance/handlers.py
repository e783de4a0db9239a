"""Op handlers for governance. Each judges its op only against the op's causal past and
raises ``Rejected`` before writing anything, so state is a pure function of the set of ops.

State written here (plain CBOR values):

* ``gov.proposal[proposal_id]`` = {community, author, by, ts, versions: [{id, seq, body}]}
* ``gov.ballot[proposal_id + voter]`` = [{id, seq, ts, choice, v, by, lamport}] (every
  ballot of the member, from any of its keys ``by``, sorted by (lamport, by, seq))
* ``gov.delegation[community + member]`` = [{seq, topic, delegate | None, by, lamport}]
  (None: revoked; sorted the same way)
* ``gov.seal[proposal_id + signing key]`` = {heads: [[author, seq]], final: {id, seq, ts,
  lamport} | None} (one seal per key of a witness: the heads of all its parts, and the part
  that completed it; the tally takes the witness's first complete one)
* ``gov.enacted[proposal_id]`` = [ids of the decision.enact ops that applied it]

A voter, delegator or witness is a member; its ops may come from several keys (its root and
its devices: ``records/devices.py``). Lists kept per member are sorted by (lamport, key, seq)
(a linear extension of causality: within one chain it is chain order), so they are the same
everywhere whatever order the ops arrive in; lists that need one chain's order (proposal
versions, seal parts) are kept per signing key.
"""

from __future__ import annotations

from ..crdt.op import Op
from ..crdt.records import capped, keys_of
from ..crdt.records.common import in_past
from ..crdt.state import Context, HandlerMap, Rejected, cuts_chains
from . import actions
from .choices import why_invalid
from .electorate import Electorate
from .proposal import (
    PROPOSAL,
    TOPIC,
    apply_floor,
    bad,
    check_proposal,
    is_key,
    options_of,
    version_entry,
)
from .tally import BALLOT, DELEGATION, SEAL, entry_order, key, tally, witnesses_of

MAX_HEADS = 1500  # a seal's named heads; the rest of what it saw is its causal past
MAX_BALLOTS = 64  # per member and proposal: changing one's mind is fine, flooding is not


def _row(op: Op, ctx: Context, pid) -> dict:
    """The proposal row (cheap: no causal walk yet)."""
    if not is_key(pid):
        raise bad("proposal: 32-byte id")
    row = ctx.state.get(PROPOSAL, pid)
    if row is None or row["community"] != op.community_id:
        raise Rejected("unknown_proposal", "no such proposal in this community")
    return row


def _seen(op: Op, ctx: Context, pid: bytes, row: dict) -> dict:
    """The version ``op`` has seen ({id, seq, body}); the proposal must be in op's causal past.
    ``in_past`` tries op's own chain and its direct parents before any walk."""
    x = ctx.causal.meta(op.id)
    if not in_past(ctx, ctx.causal.meta(pid), x):
        raise Rejected("unknown_proposal", "the proposal is not in the op's causal past")
    return version_entry(row, ctx.causal, x)


def _proposal(op: Op, ctx: Context, pid) -> tuple[dict, dict]:
    row = _row(op, ctx, pid)
    return row, _seen(op, ctx, pid, row)["body"]


def make_handlers(electorate: Electorate) -> HandlerMap:
    """Handlers bound to an electorate (how membership is read from records)."""

    def _floored(
        op: Op, ctx: Context, body: dict, created_ts: int, pid: bytes, author: bytes
    ) -> dict:
        """``body`` checked against the charter's floor at the proposal's cut (§1.7)."""
        cut = ctx.causal.vector_clock(ctx.causal.meta(pid))
        cut = capped(cut, electorate.cutoffs(ctx.state, op.community_id, cut))
        charter = electorate.charter(ctx.state, op.community_id, cut)
        members = electorate.members(ctx.state, ctx.causal, op.community_id, cut)
        return apply_floor(body, charter, members, author, created_ts)

    def proposal_create(op: Op, ctx: Context) -> None:
        m = electorate.require_member(op, ctx)
        check_proposal(op.body)
        body = _floored(op, ctx, dict(op.body), op.ts, op.id, m.member)
        ctx.state.put(
            PROPOSAL,
            op.id,
            {
                "community": op.community_id,
                "author": m.member,
                "by": op.author,  # the key that edits it: versions follow one chain
                "ts": op.ts,
                "versions": [{"id": op.id, "seq": op.seq, "body": body}],
            },
        )

    def proposal_edit(op: Op, ctx: Context) -> None:
        electorate.require_member(op, ctx)  # cheap checks first: no causal walk for strangers
        pid = op.body.get("proposal")
        row = _row(op, ctx, pid)
        if op.author != row.get("by", row["author"]):
            raise Rejected("not_author", "only the proposal's author may edit it (from its key)")
        changes = op.body.get("changes")
        if set(op.body) != {"proposal", "changes"} or type(changes) is not dict:
            raise bad("proposal.edit: {proposal, changes: map}")
        if "witnesses" in changes:
            raise bad("proposal.edit: the witnesses are fixed when the proposal is created")
        seen = _seen(op, ctx, pid, row)["body"]  # the author's chain: no walk
        # The kind (and a removal's target) chose the floor and the witnesses: fixed too.
        new_action, old_action = changes.get("action", seen.get("action")), seen.get("action")
        if "action" in changes and (
            type(new_action) is not dict
            or old_action is None
            or new_action.get("kind") != old_action["kind"]
            or new_action.get("member") != old_action.get("member")
        ):
            raise bad("proposal.edit: the action's kind and target are fixed at creation")
        if op.ts >= seen["opens"]:
            raise Rejected("already_open", "a proposal may be edited only before it opens")
        body = {k: v for k, v in {**seen, **changes}.items() if k != "witnesses"}
        check_proposal(body)
        body = _floored(op, ctx, body, row["ts"], pid, row["author"])
        body["witnesses"] = seen["witnesses"]
        versions = [*row["versions"], {"id": op.id, "seq": op.seq, "body": body}]
        ctx.state.put(PROPOSAL, pid, {**row, "versions": versions})

    def ballot_cast(op: Op, ctx: Context) -> None:
        m = electorate.require_member(op, ctx)
        if set(op.body) != {"proposal", "choice"}:
            raise bad("ballot.cast: {proposal, choice}")
        pid = op.body["proposal"]
        row = _row(op, ctx, pid)
        version = _seen(op, ctx, pid, row)
        seen = version["body"]
        if op.ts < seen["opens"]:
            raise Rejected("not_open", "ballot ts is before the proposal opens")
        if op.ts >= seen["closes"]:
            raise Rejected("closed", "ballot ts is at or after the proposal closes")
        choice = op.body["choice"]
        why = why_invalid(seen["method"], choice, options_of(seen), seen.get("params"))
        if why is not None:
            raise Rejected("bad_choice", why)
        rows = ctx.state.get(BALLOT, key(pid, m.member)) or []
        if sum(1 for r in rows if r.get("by", m.member) == op.author) >= MAX_BALLOTS:
            raise Rejected("too_many_ballots", f"at most {MAX_BALLOTS} ballots per proposal")
        # "v": the version this ballot saw; it counts only for that version (tally step 4).
        entry = {"id": op.id, "seq": op.seq, "ts": op.ts, "choice": choice, "v": version["id"]}
        entry |= {"by": op.author, "lamport": op.lamport}
        ctx.state.put(BALLOT, key(pid, m.member), sorted([*rows, entry], key=entry_order))

    def _delegation(op: Op, ctx: Context, delegate) -> None:
        topic = op.body.get("topic", "")
        if TOPIC(topic) is not None:
            raise bad(f"topic: {TOPIC(topic)} ('' or absent: global)")
        m = electorate.require_member(op, ctx)
        if delegate is not None and delegate == m.member:
            raise Rejected("self_delegation", "a member cannot delegate to itself")
        k = key(op.community_id, m.member)
        rows = ctx.state.get(DELEGATION, k) or []
        entry = {"seq": op.seq, "topic": topic, "delegate": delegate}
        entry |= {"by": op.author, "lamport": op.lamport}
        ctx.state.put(DELEGATION, k, sorted([*rows, entry], key=entry_order))

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
        than one op holds; the part with ``final: true`` (the default) completes it. The
        cheap checks (membership, the stored witness list) come before any causal walk."""
        m = electorate.require_member(op, ctx)
        if set(op.body) - {"proposal", "heads", "final"}:
            raise bad("seal.create: {proposal, heads?, final?}")
        final = op.body.get("final", True)
        if type(final) is not bool:
            raise bad("final: true or false")
        pid = op.body.get("proposal")
        row = _row(op, ctx, pid)
        if m.member not in witnesses_of(row):
            raise Rejected("not_witness", "only a witness of the proposal may seal it")
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
        seen = _seen(op, ctx, pid, row)["body"]
        if op.ts < seen["closes"]:
            raise Rejected("seal_early", "a seal's ts must be at or after the close time")
        done = {"id": op.id, "seq": op.seq, "ts": op.ts, "lamport": op.lamport} if final else None
        ctx.state.put(SEAL, key(pid, op.author), {"heads": seal["heads"] + heads, "final": done})

    @cuts_chains  # a removal cuts the member's chain (records.remove_member)
    def decision_enact(op: Op, ctx: Context) -> None:
        electorate.require_member(op, ctx)
        body = op.body
        if set(body) - {"proposal", "content"} or "proposal" not in body:
            raise bad("decision.enact: {proposal, content?}")
        if "content" in body and not is_key(body["content"]):
            raise bad("content: the 32-byte content hash the tally names")
        pid = body["proposal"]
        row = _row(op, ctx, pid)
        if not any("action" in v["body"] for v in row["versions"]):
            raise Rejected("no_action", "the proposal has no action to enact")
        # Cheap before the tally: a final tally needs a majority of complete seals in op's
        # past, so without them the op is refused with no walk of the log.
        witnesses = witnesses_of(row)
        x = ctx.causal.meta(op.id)
        sealed = 0
        for w in witnesses:
            for k in keys_of(ctx.state, op.community_id, w):
                seal = ctx.state.get(SEAL, key(pid, k))
                if seal and seal["final"] and in_past(ctx, ctx.causal.meta(seal["final"]["id"]), x):
                    sealed += 1
                    break
        if not witnesses or sealed < len(witnesses) // 2 + 1:
            raise Rejected("not_final", "a majority of witness seals is not in the op's past")
        _seen(op, ctx, pid, row)
        # Fork proofs are not in the op's causal past: the replica voids a forked author's
        # ops from the fork seq on and rebuilds state, which is the whole equivocation rule
        # (§2 step 5), so this tally is the one every view computes.
        t = tally(ctx.state, ctx.causal, pid, electorate, scope=x)
        if not t.final:
            raise Rejected("not_final", "a majority of witness seals is not in the op's past")
        if "content" in body and body["content"] != t.content:
            raise Rejected("other_content", "the final tally counted other proposal content")
        if "action" not in t.body:
            raise Rejected("no_action", "the version the tally counted has no action")
        if not t.passed:
            raise Rejected("not_passed", "the proposal did not pass")
        actions.enact(ctx, op, pid, t.body["action"])

    return {
        "proposal.create": proposal_create,
        "proposal.edit": proposal_edit,
        "ballot.cast": ballot_cast,
        "delegation.set": delegation_set,
        "delegation.revoke": delegation_revoke,
        "seal.create": seal_create,
        "decision.enact": decision_enact,
    }
