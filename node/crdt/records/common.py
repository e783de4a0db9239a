"""Shared rules of every record handler: which community, is the author a member, is a
referenced record really in the op's causal past.

Why causal past and not "current state": ops arrive in different orders on different nodes.
A rule judged against the op's causal past (what its author had seen when signing) gives the
same verdict everywhere; a rule judged against whatever a node holds now would not.

Membership is checked on every op, so it has a fast path. An author's chain is linear and the
causal past only grows along it, so once one of a member's ops is judged a member op, every
later op of theirs is too (until they leave or a removal enters their past). The member row
keeps ``since``: the first seq at which that was observed. It is written only when an op is
accepted (``note_member``), so a rejected op never changes state, and it is a pure function of
the set of ops because the same ops are checked in the same chain order on every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..causal import OpMeta
from ..op import Op
from ..state import Context, Rejected, State, group
from ..text import counted

COMMUNITY, MEMBER, PROFILE, DEVICE = "community", "member", "profile", "device"
OFFER, NEED, RESERVATION = "offer", "need", "reservation"
PROJECT, CONTRIBUTION, ATTESTATION = "project", "contribution", "attestation"

YEAR_MS = 365 * 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000


# A member given as 32 bytes, 64 hex characters or a member id (12D3KooW...). Annotated by name
# so that the control API passes text through unchanged (it converts only "bytes" params).
MemberRef = bytes | str


def as_key(member: MemberRef) -> bytes:
    """The 32-byte public key of a member reference."""
    if isinstance(member, bytes):
        return member
    if len(member) == 64:
        try:
            return bytes.fromhex(member)
        except ValueError:
            pass
    from ...identity.peer_id import pubkey_from_member_id

    return pubkey_from_member_id(member)


def member_key(community: bytes, member: bytes) -> bytes:
    return community + member


def timeline(community: bytes) -> bytes:
    """The group of a table's rows of ``community`` ranked by time (the activity feed reads
    the newest end of each)."""
    return group(community, b"time")


def order_key(op: Op) -> list:
    """``op.order_key`` as a plain list (state values must be CBOR data)."""
    return [op.lamport, op.author, op.id]


class Membership(NamedTuple):
    """What ``require_member`` found: the community row, the member row, whether admission
    was first observed at this op (then ``note_member`` records it), and the member the op
    counts for (its author, or the member whose device signed it: ``devices.py``)."""

    community: bytes
    com: dict | None  # None on the fast path (not needed there)
    row: dict
    fresh: bool
    member: bytes


def in_past(ctx: Context, a: OpMeta, x: OpMeta) -> bool:
    """``ctx.causal.in_past`` with the cheap cases first. Referenced records are normally
    direct parents of the op that refers to them (the writer puts them in ``deps``), so
    checking x's parents before the general graph walk keeps most checks O(deps)."""
    if a.author == x.author:
        return a.seq <= x.seq
    if a.lamport >= x.lamport:
        return False
    meta = ctx.causal.meta
    for p in x.parents:
        m = meta(p)
        if m.author == a.author and m.seq >= a.seq:
            return True
    return ctx.causal.in_past(a, x)


def community_row(state: State, community: bytes) -> dict:
    row = state.get(COMMUNITY, community)
    if row is None:
        raise Rejected("unknown_community", "no accepted genesis op for this community")
    return row


def op_meta(op: Op, ctx: Context) -> OpMeta:
    return ctx.causal.meta(op.id)


def charter_at(com: Mapping[str, Any], ctx: Context, x: OpMeta | None) -> dict:
    """The charter as seen by op ``x``: genesis charter plus the amendments whose enacting op
    is in x's causal past, in their enacting order (``x=None``: all amendments)."""
    amendments = com["amendments"]
    if not amendments:
        return com["charter"]
    return _amended(
        com, (a for a in amendments if x is None or in_past(ctx, ctx.causal.meta(a["by"]), x))
    )


Clock = Mapping[bytes, int] | None  # a cut as a vector clock (author -> seq); None: everything


def within(clock: Clock, author: bytes, seq: int) -> bool:
    """Whether the op at ``author``'s ``seq`` is inside the cut ``clock``."""
    return clock is None or clock.get(author, 0) >= seq


def charter_in_clock(com: Mapping[str, Any], clock: Clock) -> dict:
    """The charter within a cut given as a vector clock (``None``: every amendment)."""
    return _amended(
        com, (a for a in com["amendments"] if within(clock, a["by_author"], a["by_seq"]))
    )


def _amended(com: Mapping[str, Any], amendments) -> dict:
    """Apply ``amendments`` (already in enacting order) to the genesis charter; a decision
    enacted more than once (concurrently) counts at its first enactment only."""
    charter = dict(com["charter"])
    seen: set[bytes] = set()
    for a in amendments:
        source = a.get("source", a["by"])
        if source not in seen:
            seen.add(source)
            changes = a["changes"]
            if "voting" in changes:  # the floor is amended per kind and field, not replaced
                voting = {k: dict(v) for k, v in (charter.get("voting") or {}).items()}
                for kind, rule in changes["voting"].items():
                    voting[kind] = {**voting.get(kind, {}), **rule}
                changes = {**changes, "voting": voting}
            charter.update(changes)
    return charter


def require_member(op: Op, ctx: Context) -> Membership:
    """Raise ``Rejected("not_member")`` unless ``op``'s author is a member of its community
    in the op's causal past. Call ``note_member`` after accepting the op."""
    cid = op.community_id
    row = ctx.state.get(MEMBER, member_key(cid, op.author))
    if row is None:
        dev = ctx.state.get(DEVICE, cid + op.author)
        if dev is not None:
            return _device_membership(op, ctx, dev)
        community_row(ctx.state, cid)  # unknown_community before not_member
    if row is None or row["join"] is None or row["join"] > op.seq:
        raise Rejected("not_member", "the author has not joined this community")
    if row["left"] is not None and row["left"] < op.seq:
        raise Rejected("not_member", "the author left this community")
    x = None
    if row["removed"]:
        x = op_meta(op, ctx)
        for removal in row["removed"]:
            if in_past(ctx, ctx.causal.meta(removal), x):
                raise Rejected("not_member", "the author was removed by a decision")
    since = row["since"]
    if since is not None and since <= op.seq:
        return Membership(cid, None, row, False, op.author)  # rows exist only in known communities
    com = community_row(ctx.state, cid)
    x = x or op_meta(op, ctx)
    _require_vouches(ctx, cid, com, row, x)
    return Membership(cid, com, row, True, op.author)


def _device_membership(op: Op, ctx: Context, dev: dict) -> Membership:
    """``require_member`` for an op of a linked device: its member's period at the link must
    not have ended, and no removal of the member may be in the op's causal past."""
    cid = op.community_id
    row = ctx.state.get(MEMBER, member_key(cid, dev["member"]))
    x = op_meta(op, ctx)
    for removal in row["removed"]:
        if in_past(ctx, ctx.causal.meta(removal), x):
            raise Rejected("not_member", "the member was removed by a decision")
    left = _period_leave(row, dev["join_id"])
    if left is not None and in_past(ctx, ctx.causal.meta(left), x):
        raise Rejected("not_member", "the member left this community")
    return Membership(cid, None, row, False, dev["member"])


def _period_leave(row: dict, join_id: bytes) -> bytes | None:
    """The leave op of the member's membership period that began with ``join_id``."""
    if row["join_id"] == join_id:
        return row.get("left_id")
    for period in row.get("periods", ()):
        if period[1] == join_id:
            return period[4] if len(period) > 4 else None
    return None


def _require_vouches(ctx: Context, cid: bytes, com: dict, row: dict, x: OpMeta) -> None:
    need = vouches_needed(com, ctx, x)
    if need and com["amendments"]:
        # A rule change never hurts a pending candidate: the easier of the rule in force at
        # their join and the rule in force now applies.
        need = min(need, vouches_needed(com, ctx, ctx.causal.meta(row["join_id"])))
    if need:
        seen = vouch_count(row["vouchers"], need, lambda v: _vouch_seen(ctx, cid, v, x))
        if seen < need:
            raise Rejected(
                "not_member",
                f"admission needs {counted(need, 'vouch')} in the op's causal past, has {seen}",
            )


def root_admitted(ctx: Context, cid: bytes, row: dict, x: OpMeta) -> bytes:
    """For a device link ``x``: the member (``row``) must be an admitted member at its own
    chain position in x's causal past; returns the join op id of that membership period.
    Only the member's ops up to that position decide (later ones may not have arrived)."""
    have = ctx.causal.vector_clock(x).get(row["member"], 0)
    period = next(
        (p for p in membership_periods(row) if p[0] <= have and (p[2] is None or have < p[2])),
        None,
    )
    if period is None:
        raise Rejected("not_member", "the member is not in the community in the op's past")
    if period[3] is None or period[3] > have:
        _require_vouches(ctx, cid, community_row(ctx.state, cid), row, x)
    return period[1]


def _vouch_seen(ctx: Context, cid: bytes, v: list, x: OpMeta) -> bool:
    """A vouch counts for op ``x`` when it is in x's causal past and no removal of the voucher
    in x's past has a cutoff below it (``remove_member``)."""
    vmeta = ctx.causal.meta(v[1])
    if not in_past(ctx, vmeta, x):
        return False
    if vmeta.author != v[0]:  # a device's vouch: a cut of its chain voids it (devices.py)
        return True
    voucher = ctx.state.get(MEMBER, member_key(cid, v[0])) or {}
    for eid, _author, _seq, cutoff in voucher.get("cutoffs", ()):
        if vmeta.seq > cutoff and in_past(ctx, ctx.causal.meta(eid), x):
            return False
    return True


def vouch_count(vouchers: list, need: int, inside) -> int:
    """The vouches that count for admission among ``vouchers`` ([voucher, op id, ts,
    founding?]) for which ``inside(entry)`` holds: a founding vouch (the founder's first
    ``membership.founding`` vouches) counts as ``need`` alone. A member counts once, however
    many of its devices vouched."""
    seen: set[bytes] = set()
    for v in vouchers:
        if v[0] not in seen and inside(v):
            if len(v) > 3 and v[3]:
                return need
            seen.add(v[0])
    return len(seen)


def membership_periods(row: dict) -> list[list]:
    """Every membership period of a member row, oldest first: ``[join seq, join op id,
    leave seq or None, since or None, leave op id or None]`` (the last one is current)."""
    if row["join"] is None:
        return []
    current = [row["join"], row["join_id"], row["left"], row["since"], row.get("left_id")]
    return [*row.get("periods", []), current]


def vouches_needed(com: Mapping[str, Any], ctx: Context, x: OpMeta) -> int:
    rule = charter_at(com, ctx, x)["membership"]
    return 0 if rule["rule"] == "open" else rule["vouches"]


def note_member(ctx: Context, m: Membership, op: Op) -> None:
    """Record the first seq at which the author was seen to be a member (see module doc)."""
    if m.fresh:
        ctx.state.put(MEMBER, member_key(m.community, op.author), {**m.row, "since": op.seq})


def ref_in_past(op: Op, ctx: Context, ref: Any, what: str) -> None:
    """Raise ``Rejected("unknown_ref")`` unless op ``ref`` is in ``op``'s causal past. An op
    of another community never is (chains are per community; a node that holds that other
    community must give the same verdict and reason as one that does not)."""
    try:
        rmeta = ctx.causal.meta(ref)
    except (KeyError, TypeError):
        raise Rejected("unknown_ref", f"{what} {_short(ref)} is not known") from None
    if rmeta.community != op.community_id or not in_past(ctx, rmeta, op_meta(op, ctx)):
        raise Rejected("unknown_ref", f"{what} {_short(ref)} is not in the op's causal past")


def require_ref(op: Op, ctx: Context, table: str, ref: Any, what: str) -> dict:
    """The row of a referenced record, which must be in ``op``'s causal past (the writer puts
    its id in ``deps``, or it is in the author's own chain) and in the same community."""
    ref_in_past(op, ctx, ref, what)
    row = ctx.state.get(table, ref)
    if row is None or row["c"] != op.community_id:
        raise Rejected(f"unknown_{what}", f"{_short(ref)} is not an accepted {what}")
    return row


def _short(ref: Any) -> str:
    return ref.hex()[:16] if isinstance(ref, bytes) else repr(ref)[:16]


def lww_update(row: dict, changes: Mapping[str, Any], key: list) -> dict:
    """Per-field last-writer-wins by op order key; commutes, so concurrent edits converge."""
    fields = dict(row["fields"])
    keys = dict(row["keys"])
    for name, value in changes.items():
        if name not in keys or keys[name] < key:
            fields[name] = value
            keys[name] = key
    return {**row, "fields": fields, "keys": keys}
