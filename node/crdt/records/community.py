"""Community and membership: genesis charter, join, vouch, leave, profile; plus the two entry
points governance uses to change a charter or remove a member after a decision.

Merge rules: a member row is changed by its own chain (join, leave: applied in chain order)
and by vouchers (kept sorted by voucher key, so the order vouches arrive in does not matter).
Amendments and removals take effect for the ops that have the enacting op in their causal
past, so every node judges every op the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..causal import OpMeta
from ..op import Op
from ..state import Context, Rejected, State, cut_chain
from .common import (
    COMMUNITY,
    DEVICE,
    MEMBER,
    PROFILE,
    charter_at,
    community_row,
    in_past,
    member_key,
    note_member,
    op_meta,
    require_member,
    within,
)
from .devices import cut_devices
from .schema import (
    Field,
    check_body,
    geohash,
    integer,
    key32,
    list_of,
    one_of,
    opt,
    ratio,
    record,
    skill,
    text,
)


def _nullable(check):
    return lambda x: None if x is None else check(x)


MEMBERSHIP_RULE = {
    "rule": Field(one_of("open", "vouched")),
    "vouches": opt(integer(1, 1000)),
    # The founder's first ``founding`` vouches (in the founder's chain order) admit alone, so
    # that a new community can grow to the point where ``vouches`` members exist.
    "founding": opt(integer(0, 1000)),
}
# Bounds on what one contribution record, and one member's records of one day, can add to a
# score (minutes of effort): the record is refused above ``max_minutes``; the score counts at
# most ``max_minutes_per_day`` of a member's effort per UTC day of ``at``.
CONTRIBUTION_RULE = {
    "max_minutes": Field(integer(1, 10_000_000)),
    "max_minutes_per_day": Field(integer(1, 10_000_000)),
}
# The charter's floor for proposals, one rule per kind of proposal (``specs/governance.md``
# §1.7). Governance reads it with ``voting_rule``; a proposal below it is rejected.
PROPOSAL_KINDS = ("decision", "charter.amend", "member.remove")
METHOD_NAMES = ("basic", "single", "approval", "score", "quadratic", "consent", "irv", "schulze")


def _share(x: Any) -> str | None:
    msg = ratio(x)
    if msg is None and not 0 <= x[0] <= x[1]:
        msg = "must be in [0, 1]"
    return msg


VOTING_RULE = {
    "methods": opt(list_of(one_of(*METHOD_NAMES), len(METHOD_NAMES), unique=True)),
    "quorum": opt(_share),  # the least quorum a proposal may ask for
    "threshold": opt(_share),  # the least threshold
    "objection_bound": opt(_share),  # the largest objection bound (consent)
    "max_weight_share": opt(_share),  # the largest weights.cap for score-based weights
    "min_duration_ms": opt(integer(0, 10 * 365 * 24 * 3600 * 1000)),  # creation ts -> closes
    "proposers": opt(one_of("members", "witnesses")),
    # "charter": the charter's witnesses (members at the cut); "proposer": the proposer may
    # name its own (members at the cut), else the charter's.
    "witnesses": opt(one_of("charter", "proposer")),
}
VOTING = {k: opt(record(VOTING_RULE)) for k in PROPOSAL_KINDS}
DAY = 24 * 3600 * 1000
VOTING_DEFAULTS = {
    "decision": {
        "methods": list(METHOD_NAMES),
        "quorum": [0, 1],
        "threshold": [0, 1],
        "objection_bound": [1, 1],
        "max_weight_share": [1, 2],
        "min_duration_ms": 0,
        "proposers": "members",
        "witnesses": "proposer",
    },
    "charter.amend": {
        "methods": ["basic", "consent"],
        "quorum": [1, 2],
        "threshold": [1, 2],
        "objection_bound": [1, 10],
        "max_weight_share": [1, 4],
        "min_duration_ms": 2 * DAY,
        "proposers": "members",
        "witnesses": "charter",
    },
    "member.remove": {
        "methods": ["basic", "consent"],
        "quorum": [1, 2],
        "threshold": [2, 3],
        "objection_bound": [1, 10],
        "max_weight_share": [1, 4],
        "min_duration_ms": 2 * DAY,
        "proposers": "members",
        "witnesses": "charter",
    },
}


def voting_rule(charter: Mapping[str, Any], kind: str) -> dict:
    """The complete floor for one kind of proposal: the charter's ``voting[kind]`` fields over
    the defaults (a charter, or an amendment, may set only some fields)."""
    return {**VOTING_DEFAULTS[kind], **(charter.get("voting") or {}).get(kind, {})}


# Social recovery (records §3.8): a member who lost every key is linked to a new one by this
# many other members' ``recovery.vouch`` ops.
RECOVERY_RULE = {"vouches": Field(integer(1, 1000))}
ATTESTATION_RULE = {
    "confirmations": Field(integer(0, 1000)),
    "max_disputes": Field(integer(0, 1000)),
}
CHARTER = {
    "name": Field(text(120, min_len=1)),
    "description": opt(text(4000, lines=True)),
    "membership": opt(record(MEMBERSHIP_RULE)),
    "attestation": opt(record(ATTESTATION_RULE)),
    "half_life_days": opt(integer(1, 36500)),
    "score_cap": opt(_nullable(integer(1))),  # minutes of decayed effort; None: no cap
    "contribution": opt(record(CONTRIBUTION_RULE)),
    "voting": opt(record(VOTING)),  # floors for proposals, per kind (governance reads them)
    "recovery": opt(record(RECOVERY_RULE)),
    "witnesses": opt(list_of(key32, 64, unique=True)),
    "visibility": opt(one_of("public", "members")),
}
# An amendment may change any charter field; every field is optional.
AMENDMENT = {name: opt(f.check) for name, f in CHARTER.items()}

CHARTER_DEFAULTS = {
    "description": "",
    # Safe against cheap sybils (specs/governance.md §11): a second key needs two members'
    # vouches, a contribution two confirmations (fewer while the community is smaller), and
    # one record or one day adds a bounded number of minutes.
    "membership": {"rule": "vouched", "vouches": 2, "founding": 3},
    "attestation": {"confirmations": 2, "max_disputes": 0},
    "half_life_days": 180,
    "score_cap": None,
    "contribution": {"max_minutes": 720, "max_minutes_per_day": 960},
    "voting": {},
    "recovery": {"vouches": 2},
    "witnesses": [],
    "visibility": "public",
}

NOTE = {"note": opt(text(1000, lines=True))}
VOUCH = {"member": Field(key32), "note": opt(text(1000, lines=True))}
PROFILE_BODY = {
    "display_name": opt(text(80)),
    "bio": opt(text(2000, lines=True)),
    "skills": opt(list_of(skill, 32, unique=True)),
    "geohash": opt(geohash(6)),  # coarse on purpose: at most ~1 km cells
    "addrs": opt(list_of(text(256, min_len=1), 8, unique=True)),
}


def normalize_charter(changes: Mapping[str, Any], base: Mapping[str, Any]) -> dict:
    """Fill defaults so that every reader sees the same complete charter."""
    charter = {**base, **changes}
    rule = dict(charter["membership"])
    if rule["rule"] == "open":
        rule.pop("vouches", None)
        rule.pop("founding", None)
    else:
        rule.setdefault("vouches", 2)
        rule.setdefault("founding", 3)
    charter["membership"] = rule
    return charter


def new_member_row(community: bytes, member: bytes) -> dict:
    return {
        "c": community,
        "member": member,
        "join": None,  # seq of the member's latest join op
        "left": None,  # seq of the member's leave op after that join
        "left_id": None,  # and its id
        "since": None,  # first seq seen to be a member op (see common.py)
        "join_ts": None,
        "join_id": None,
        "vouchers": [],  # [voucher, vouch op id, vouch ts], sorted by voucher
        "removed": [],  # ids of enacting ops of removal decisions, sorted
        # Earlier (ended) membership periods, oldest first: [join seq, join op id, leave seq,
        # since, leave op id]. Kept so that a cut inside an earlier period is judged exactly
        # (governance), and a device's ops by the period it was linked in (devices.py).
        "periods": [],
    }


# ------------------------------------------------------------------------- handlers
def community_create(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, CHARTER)
    charter = normalize_charter(body, {**CHARTER_DEFAULTS, "witnesses": [op.author]})
    cid = op.id
    ctx.state.put(
        COMMUNITY,
        cid,
        {"c": cid, "founder": op.author, "ts": op.ts, "charter": charter, "amendments": []},
    )
    row = new_member_row(cid, op.author)
    row.update(join=1, since=1, join_ts=op.ts, join_id=op.id)
    ctx.state.put(MEMBER, member_key(cid, op.author), row)


def _not_a_device(op: Op, ctx: Context) -> None:
    if ctx.state.get(DEVICE, op.community_id + op.author) is not None:
        raise Rejected("device", "a device does not join or leave: its member's key does")


def member_join(op: Op, ctx: Context) -> None:
    check_body(op.kind, op.body, NOTE)
    cid = op.community_id
    com = community_row(ctx.state, cid)
    _not_a_device(op, ctx)
    key = member_key(cid, op.author)
    row = ctx.state.get(MEMBER, key) or new_member_row(cid, op.author)
    if row["join"] is not None and row["left"] is None:
        raise Rejected("already_member", "the author already joined")
    x = op_meta(op, ctx)
    if any(in_past(ctx, ctx.causal.meta(r), x) for r in row["removed"]):
        raise Rejected("removed", "the author was removed from this community by a decision")
    is_open = charter_at(com, ctx, x)["membership"]["rule"] == "open"
    periods = row.get("periods", [])
    if row["join"] is not None:  # joining again: the ended period is kept
        ended = [row["join"], row["join_id"], row["left"], row["since"], row.get("left_id")]
        periods = [*periods, ended]
    row = {**row, "join": op.seq, "left": None, "left_id": None, "join_ts": op.ts}
    row["join_id"] = op.id
    row["periods"] = periods
    row["since"] = op.seq if is_open else None
    ctx.state.put(MEMBER, key, row)


def member_vouch(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, VOUCH)
    m = require_member(op, ctx)
    candidate = body["member"]
    if candidate == m.member:
        raise Rejected("self_vouch", "a member cannot vouch for themselves")
    if ctx.state.get(DEVICE, m.community + candidate) is not None:
        raise Rejected("device", "that key is a device of a member, not a candidate")
    key = member_key(m.community, candidate)
    row = ctx.state.get(MEMBER, key) or new_member_row(m.community, candidate)
    # One vouch per signing key (its chain orders them). Two devices of one member may both
    # vouch (concurrently, so neither may refuse the other): the member counts once.
    if any(v[0] == m.member and ctx.causal.meta(v[1]).author == op.author for v in row["vouchers"]):
        raise Rejected("duplicate_vouch", "this member already vouched for that member")
    note_member(ctx, m, op)
    entry = [m.member, op.id, op.ts]
    com = m.com or community_row(ctx.state, m.community)
    if op.author == com["founder"]:
        # The founder's first ``founding`` vouches admit alone, counted in its own chain
        # order (so the same vouches are founding ones on every node).
        founding = charter_at(com, ctx, op_meta(op, ctx))["membership"].get("founding", 0)
        mine_key = member_key(m.community, op.author)
        mine = ctx.state.get(MEMBER, mine_key)
        used = mine.get("founding_used", 0)
        if used < founding:
            entry.append(True)
            ctx.state.put(MEMBER, mine_key, {**mine, "founding_used": used + 1})
    vouchers = sorted([*row["vouchers"], entry])
    ctx.state.put(MEMBER, key, {**row, "vouchers": vouchers})


def member_leave(op: Op, ctx: Context) -> None:
    check_body(op.kind, op.body, NOTE)
    _not_a_device(op, ctx)
    m = require_member(op, ctx)
    row = {**m.row, "left": op.seq, "left_id": op.id}
    ctx.state.put(MEMBER, member_key(m.community, op.author), row)


def profile_set(op: Op, ctx: Context) -> None:
    """The profile key is the member, so only the member (any of its devices) writes it. The
    whole profile is replaced; the latest op by (lamport, author, id) wins everywhere (within
    one chain that is chain order; across devices it commutes)."""
    body = check_body(op.kind, op.body, PROFILE_BODY)
    m = require_member(op, ctx)
    note_member(ctx, m, op)
    key = member_key(m.community, m.member)
    order = [op.lamport, op.author, op.id]
    old = ctx.state.get(PROFILE, key)
    if old is not None and old.get("order", order) > order:
        return  # a later profile of this member (another device) is already in place
    ctx.state.put(
        PROFILE,
        key,
        {"c": m.community, "member": m.member, "seq": op.seq, "ts": op.ts, "order": order, **body},
    )


# ------------------------------------------------------- entry points for governance
def apply_charter_amendment(
    state: State,
    community: bytes,
    changes: Mapping[str, Any],
    effective: OpMeta,
    source: bytes | None = None,
) -> None:
    """Amend a charter after a decision. ``effective`` is the op that enacts it: the change
    applies to ops that have it in their causal past, and to query-time views (scores) whose
    cut contains it. Raises ``Rejected("bad_body")`` (before any change) on a bad change.
    Idempotent for one enacting op. ``source`` names the decision (the proposal id): when
    concurrent ops enact one decision, only the first of them (by order) in a cut counts, so a
    later amendment is never overridden by a second copy of an earlier one."""
    changes = check_body("charter amendment", dict(changes), AMENDMENT)
    com = community_row(state, community)
    if any(a["by"] == effective.id for a in com["amendments"]):
        return
    if "membership" in changes:
        changes = {
            **changes,
            "membership": normalize_charter(changes, com["charter"])["membership"],
        }
    entry = {
        "by": effective.id,
        "by_author": effective.author,
        "by_seq": effective.seq,
        "order": [effective.lamport, effective.author, effective.id],
        "changes": dict(changes),
        "source": source if source is not None else effective.id,
    }
    amendments = sorted([*com["amendments"], entry], key=lambda a: a["order"])
    state.put(COMMUNITY, community, {**com, "amendments": amendments})


def remove_member(
    state: State,
    community: bytes,
    member: bytes,
    effective: OpMeta,
    cutoff: int | None = None,
    clock: Mapping[bytes, int] | None = None,
) -> None:
    """Remove a member after a decision: their ops that have ``effective`` in their causal
    past are rejected, and they cannot join again. ``cutoff``: the member's highest seq in
    ``effective``'s causal past; views cut by a vector clock that holds ``effective`` ignore
    the member's ops above it (vouches, ballots, seals, attestations, delegations:
    ``removal_cutoffs``), so ops signed concurrently with the removal, whatever order they
    arrive in, cannot admit anyone or decide anything there. ``clock`` (the enacting op's
    vector clock) cuts the member's devices the same way (``devices.cut_devices``)."""
    community_row(state, community)
    key = member_key(community, member)
    row = state.get(MEMBER, key) or new_member_row(community, member)
    if effective.id in row["removed"]:
        return
    row = {**row, "removed": sorted([*row["removed"], effective.id])}
    if cutoff is not None:
        entry = [effective.id, effective.author, effective.seq, cutoff]
        row["cutoffs"] = sorted([*row.get("cutoffs", []), entry])
        # Every op of theirs above the cutoff is void on every node, whatever its causal past
        # (``specs/ops.md`` §8): none of those ops is in the enactment's past.
        cut_chain(state, community, member, cutoff)
    state.put(MEMBER, key, row)
    if clock is not None:
        cut_devices(state, community, member, clock, effective)


def removal_cutoffs(state: State, community: bytes, clock: Mapping[bytes, int] | None) -> dict:
    """member -> the lowest cutoff of their removals whose enacting op is within ``clock``
    (``None``: every removal)."""
    out: dict[bytes, int] = {}
    for row in state.rows(MEMBER, community):
        if row["c"] != community or not row.get("cutoffs"):
            continue
        for _id, author, seq, cutoff in row["cutoffs"]:
            if within(clock, author, seq):
                out[row["member"]] = min(cutoff, out.get(row["member"], cutoff))
    for key, dev in state.scan(DEVICE, community):  # a removed member's devices, by key
        if key[:32] != community:
            continue
        for _id, author, seq, cutoff in dev.get("cutoffs", ()):
            if within(clock, author, seq):
                out[dev["device"]] = min(cutoff, out.get(dev["device"], cutoff))
    return out


def capped(clock: Mapping[bytes, int], cutoffs: Mapping[bytes, int]) -> dict:
    """``clock`` with every removed member's entry lowered to their cutoff: the cut as the
    removals within it let it count (see ``remove_member``)."""
    out = dict(clock)
    for member, cutoff in cutoffs.items():
        if out.get(member, 0) > cutoff:
            out[member] = cutoff
    return out


HANDLERS = {
    "community.create": community_create,
    "member.join": member_join,
    "member.vouch": member_vouch,
    "member.leave": member_leave,
    "profile.set": profile_set,
}
