"""Devices: one member, several keys (``specs/records.md`` §3.7).

A member id is the key that joined: the member's *root*. A *device* is another key whose ops
count as the member's everywhere (listings, reservations, contributions, attestations, threads,
ballots, delegations, seals, scores). A device is admitted by a *certificate*: an Ed25519
signature, by the root or by one of the member's linked devices, over the canonical CBOR of
``["we-device-cert/1", member, device]``. The new device itself publishes the certificate as
its first op in the community, ``device.link``. Signing a certificate takes no chain position,
so a key restored from a backup (or an old laptop) can admit a new device without ever signing
at a seq its chain may already hold: no fork by accident.

Why the rules are what they are:

* ``device.link`` is the device's first op (seq 1), so every later op of the device has it in
  its causal past: "this key is a device of M" is the same for each of its ops, on every node.
* The member must be a member in the link's causal past (the root's chain position there),
  and later device ops count while that membership period lasts (no leave, no removal in the
  op's past).
* ``device.revoke {device}``, signed by any key of the member (a self-revoke retires a
  device), cuts the revoked key's chain at its highest seq in the revoking op's causal past
  (``state.cut_chain``, as a removal does): whatever it signs later or concurrently is void.
  The root can be revoked too; the member id stays.
* A revoked (or removed) key admits nobody it had not admitted before: links it certified
  that the revoking op has not seen are cut whole (seq 0), with the devices they certified in
  turn, and a link whose signer's chain is already cut, or whose member was removed, cuts its
  own chain. So a stolen key, once revoked, cannot add devices, in any arrival order.
* Records a device creates are attributed to the member, and edited by the key that created
  them (``by``): their edits stay in one chain, whose order every node applies.
"""

from __future__ import annotations

from ..op import Op, OpError, canonical, verify_signature
from ..state import CHAIN_CUTS, Context, Rejected, State, cut_chain, cuts_chains
from ..text import counted
from .common import (
    DEVICE,
    MEMBER,
    charter_at,
    community_row,
    in_past,
    member_key,
    note_member,
    op_meta,
    require_member,
    root_admitted,
)
from .schema import Field, check_body, key32, opt, text

CERT_TAG = "we-device-cert/1"


def cert_message(member: bytes, device: bytes) -> bytes:
    """What a device certificate signs (the same for every community of the member)."""
    return canonical([CERT_TAG, member, device])


def _sig64(x) -> str | None:
    return None if type(x) is bytes and len(x) == 64 else "must be a 64-byte signature"


LINK = {"member": Field(key32), "by": Field(key32), "sig": Field(_sig64)}
REVOKE = {"device": Field(key32), "note": opt(text(1000, lines=True))}


def member_of(state: State, community: bytes, key: bytes) -> bytes:
    """The member a key signs for in ``community``: its member if it is a linked device,
    else the key itself."""
    dev = state.get(DEVICE, community + key)
    return key if dev is None else dev["member"]


def keys_of(state: State, community: bytes, member: bytes) -> list[bytes]:
    """The member's root and every device ever linked (revoked ones too: their ops before the
    cut still count)."""
    row = state.get(MEMBER, member_key(community, member)) or {}
    return [member, *row.get("devices", ())]


# ------------------------------------------------------------------------- handlers
@cuts_chains  # a link whose signer is revoked, or whose member is removed, cuts itself
def device_link(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, LINK)
    cid = op.community_id
    community_row(ctx.state, cid)
    member, signer = body["member"], body["by"]
    if op.seq != 1:
        raise Rejected("not_first", "device.link must be the device key's first op here")
    if member == op.author:
        raise Rejected("self_link", "a key cannot be its own device")
    try:
        verify_signature(signer, cert_message(member, op.author), body["sig"])
    except OpError:
        raise Rejected("bad_cert", "the certificate does not verify for this member") from None
    row = ctx.state.get(MEMBER, member_key(cid, member))
    if row is None or row["join"] is None:
        raise Rejected("not_member", "the certificate's member has not joined this community")
    x = op_meta(op, ctx)
    if signer != member:
        sdev = ctx.state.get(DEVICE, cid + signer)
        if sdev is None or sdev["member"] != member:
            cut = ctx.state.get(CHAIN_CUTS, cid + signer)
            if cut is None:
                raise Rejected("bad_signer", "the certificate's signer is not a device of it")
        elif not in_past(ctx, ctx.causal.meta(sdev["link"]), x):
            raise Rejected("bad_signer", "the signer's own link is not in the op's past")
    if ctx.state.get(CHAIN_CUTS, cid + signer) is not None or row["removed"]:
        # The signer was revoked (or its member removed) and this link is not in that op's
        # past (it would have arrived before it): it admits no one. The link writes nothing.
        cut_chain(ctx.state, cid, op.author, 0)
        return
    _add_device(ctx, op, row, signer, root_admitted(ctx, cid, row, x))


def _add_device(ctx: Context, op: Op, row: dict, by: bytes | None, join_id: bytes) -> None:
    """``op.author`` becomes a device of the member of ``row`` (by a link or a claim)."""
    cid, member = op.community_id, row["member"]
    ctx.state.put(
        DEVICE,
        cid + op.author,
        {
            "c": cid,
            "device": op.author,
            "member": member,
            "by": by,  # the certificate's signer; None: the members' recovery vouches
            "link": op.id,
            "join_id": join_id,
            "ts": op.ts,
            "revoked": [],  # ids of the revoking ops
        },
    )
    devices = sorted({*row.get("devices", ()), op.author})
    ctx.state.put(MEMBER, member_key(cid, member), {**row, "devices": devices})


@cuts_chains
def device_revoke(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, REVOKE)
    m = require_member(op, ctx)
    cid, target = m.community, body["device"]
    x = op_meta(op, ctx)
    if target != m.member:
        tdev = ctx.state.get(DEVICE, cid + target)
        if (
            tdev is None
            or tdev["member"] != m.member
            or not in_past(ctx, ctx.causal.meta(tdev["link"]), x)
        ):
            raise Rejected("unknown_device", "not a device of this member in the op's past")
    clock = ctx.causal.vector_clock(x)
    cut_chain(ctx.state, cid, target, clock.get(target, 0))
    for d in _certified_by(ctx.state, cid, m.member, target):
        dev = ctx.state.get(DEVICE, cid + d)
        if not in_past(ctx, ctx.causal.meta(dev["link"]), x):
            cut_chain(ctx.state, cid, d, 0)  # certified by the revoked key, unseen: void
    if target == m.member:
        row = ctx.state.get(MEMBER, member_key(cid, target))
        ctx.state.put(
            MEMBER,
            member_key(cid, target),
            {**row, "root_revoked": sorted({*row.get("root_revoked", ()), op.id})},
        )
    else:
        tdev = ctx.state.get(DEVICE, cid + target)
        ctx.state.put(DEVICE, cid + target, {**tdev, "revoked": sorted({*tdev["revoked"], op.id})})


def _certified_by(state: State, community: bytes, member: bytes, key: bytes) -> list[bytes]:
    """The member's devices certified by ``key``, directly or through each other."""
    found: list[bytes] = []
    frontier = {key}
    devices = [state.get(DEVICE, community + d) for d in keys_of(state, community, member)[1:]]
    while frontier:
        nxt = {d["device"] for d in devices if d["by"] in frontier and d["device"] not in found}
        found.extend(sorted(nxt))
        frontier = nxt
    return found


def cut_devices(state: State, community: bytes, member: bytes, clock, effective) -> None:
    """A removal cuts every device of the member at its highest seq in ``clock`` (the
    enacting op's causal past), and keeps the cutoff for views (``removal_cutoffs``)."""
    for d in keys_of(state, community, member)[1:]:
        dev = state.get(DEVICE, community + d)
        cutoff = clock.get(d, 0)
        entry = [effective.id, effective.author, effective.seq, cutoff]
        cut_chain(state, community, d, cutoff)
        state.put(
            DEVICE, community + d, {**dev, "cutoffs": sorted([*dev.get("cutoffs", []), entry])}
        )


def devices_of(state: State, community: bytes, member: bytes | None = None) -> list[dict]:
    """Linked devices (of ``member``, or of everyone), oldest link first: ``{device, member,
    by, link, ts, status}`` with status ``active`` or ``revoked``; the chain cut if any."""
    out = []
    for key, dev in state.scan(DEVICE, community):
        if key[:32] != community or (member is not None and dev["member"] != member):
            continue
        cut = state.get(CHAIN_CUTS, key)
        out.append(
            {
                "device": dev["device"],
                "member": dev["member"],
                "by": dev["by"],
                "link": dev["link"],
                "ts": dev["ts"],
                "status": "revoked" if dev["revoked"] or cut is not None else "active",
                "cut": cut,
            }
        )
    return sorted(out, key=lambda d: (d["ts"], d["device"]))


def standing(state: State, community: bytes, key: bytes) -> dict | None:
    """Why ``key``'s next op in ``community`` would count nowhere, or None while its ops count:
    ``{state, member, cut}``, ``state`` one of ``removed`` (its member was removed by a
    decision), ``replaced`` (a recovery claim made another key the member's), ``revoked`` (a
    ``device.revoke``, or a link whose certifying key was revoked first). ``cut`` is the seq
    its ops are void above. A cut is never lifted, so neither is this answer."""
    cut = state.get(CHAIN_CUTS, community + key)
    if cut is None:
        return None
    member = member_of(state, community, key)
    row = state.get(MEMBER, member_key(community, member)) or {}
    dev = state.get(DEVICE, community + key)
    if dev is not None:
        revoked = bool(dev["revoked"])
    else:  # the member's root, or a key whose link admitted nobody (no device row)
        revoked = key == member and bool(row.get("root_revoked"))
    claimed = [
        d
        for d in row.get("devices", ())
        if d != key and (state.get(DEVICE, community + d) or {}).get("by", b"") is None
    ]
    if row.get("removed"):
        why = "removed"
    elif claimed and not revoked:
        why = "replaced"
    else:  # revoked, or linked by a key revoked before the link was seen: it admits nobody
        why = "revoked"
    return {"state": why, "member": member, "cut": cut}


# ------------------------------------------------------------------- social recovery
RECOVERY = "recovery"  # community ‖ member ‖ new key -> {c, member, key, vouchers}
RECOVERY_VOUCH = {"member": Field(key32), "key": Field(key32), "note": opt(text(1000, lines=True))}
RECOVERY_CLAIM = {"member": Field(key32)}


def recovery_vouch(op: Op, ctx: Context) -> None:
    """A member says that ``key`` is now ``member``'s (who lost every key of theirs)."""
    body = check_body(op.kind, op.body, RECOVERY_VOUCH)
    m = require_member(op, ctx)
    member, new = body["member"], body["key"]
    if member == m.member:
        raise Rejected("self_vouch", "a member cannot vouch for their own recovery")
    row = ctx.state.get(MEMBER, member_key(m.community, member))
    if row is None or row["join"] is None:
        raise Rejected("not_member", "that key is not a member of this community")
    key = m.community + member + new
    rec = ctx.state.get(RECOVERY, key) or {
        "c": m.community,
        "member": member,
        "key": new,
        "vouchers": [],
    }
    if any(ctx.causal.meta(v[1]).author == op.author for v in rec["vouchers"]):
        raise Rejected("duplicate_vouch", "this key already vouched for that recovery")
    note_member(ctx, m, op)
    vouchers = sorted([*rec["vouchers"], [m.member, op.id]])
    ctx.state.put(RECOVERY, key, {**rec, "vouchers": vouchers})


@cuts_chains  # the claim cuts every old key of the member (and itself if the member is gone)
def recovery_claim(op: Op, ctx: Context) -> None:
    """The new key's first op: with the charter's ``recovery.vouches`` distinct members'
    vouches for it in its causal past, it becomes a device of the member, and the member's
    root and every other device are cut at their seqs in the claim's past."""
    body = check_body(op.kind, op.body, RECOVERY_CLAIM)
    cid, member = op.community_id, body["member"]
    com = community_row(ctx.state, cid)
    if op.seq != 1:
        raise Rejected("not_first", "recovery.claim must be the new key's first op here")
    if member == op.author:
        raise Rejected("self_link", "a key cannot recover itself")
    row = ctx.state.get(MEMBER, member_key(cid, member))
    if row is None or row["join"] is None:
        raise Rejected("not_member", "the member to recover has not joined this community")
    x = op_meta(op, ctx)
    need = charter_at(com, ctx, x)["recovery"]["vouches"]
    rec = ctx.state.get(RECOVERY, cid + member + op.author) or {"vouchers": []}
    seen = {v[0] for v in rec["vouchers"] if in_past(ctx, ctx.causal.meta(v[1]), x)}
    if len(seen) < need:
        raise Rejected(
            "few_vouches",
            f"recovery needs vouches of {counted(need, 'member')} in its past, has {len(seen)}",
        )
    if row["removed"]:
        cut_chain(ctx.state, cid, op.author, 0)  # removed: nobody recovers into the community
        return
    join_id = root_admitted(ctx, cid, row, x)
    clock = ctx.causal.vector_clock(x)
    for k in keys_of(ctx.state, cid, member):
        cut_chain(ctx.state, cid, k, clock.get(k, 0))
    _add_device(ctx, op, row, None, join_id)


HANDLERS = {
    "device.link": device_link,
    "device.revoke": device_revoke,
    "recovery.vouch": recovery_vouch,
    "recovery.claim": recovery_claim,
}
