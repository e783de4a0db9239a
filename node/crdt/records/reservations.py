"""Reservations and loans: the circular use of an offered resource.

    request (any member but the owner) -> accept | decline (offer author only)
    accepted -> handover (signed by the requester: whoever takes custody acknowledges it)
    handed_over -> return (signed by the owner, who takes custody back)
    cancel: by either party, before handover

Each step is judged against the steps in its own causal past, so the verdict is the same on
every node. Two parties can act concurrently (the owner accepts while the requester cancels),
so the reservation's status is the step of highest precedence among the accepted steps:

    requested < accepted < declined < cancelled < handed_over < returned

That is a max over a set, which commutes: a cancel beats a concurrent accept, and a handover
beats a concurrent cancel (custody did move). Overlapping accepted reservations that hold
more than the offer's amount at once are not rejected here (the owner may accept them on two
nodes concurrently): queries flag them (see ``listing_views.reservation_conflicts``).
"""

from __future__ import annotations

from ..op import Op
from ..state import Context, Filed, Rejected, group, ordered_by, ranked
from .common import (
    OFFER,
    RESERVATION,
    in_past,
    note_member,
    op_meta,
    require_member,
    require_ref,
    timeline,
)
from .listings import amount_in_past, status_in_past
from .schema import Field, check_body, integer, key32, opt, text, window

PRECEDENCE = {
    "requested": 0,
    "accepted": 1,
    "declined": 2,
    "cancelled": 3,
    "handed_over": 4,
    "returned": 5,
}
# step kind -> (status it produces, who may sign it, statuses it may follow)
STEPS = {
    "reservation.accept": ("accepted", ("owner",), ("requested",)),
    "reservation.decline": ("declined", ("owner",), ("requested",)),
    "reservation.cancel": ("cancelled", ("owner", "requester"), ("requested", "accepted")),
    "reservation.handover": ("handed_over", ("requester",), ("accepted",)),
    "reservation.return": ("returned", ("owner",), ("handed_over",)),
}

REQUEST = {
    "offer": Field(key32),
    "window": Field(window),
    "quantity": opt(integer(1)),
    "note": opt(text(1000, lines=True)),
}
STEP = {"reservation": Field(key32), "note": opt(text(1000, lines=True))}


def reservation_request(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, REQUEST)
    m = require_member(op, ctx)
    offer = require_ref(op, ctx, OFFER, body["offer"], "offer")
    if offer["author"] == m.member:
        raise Rejected("own_offer", "the offer's author cannot reserve it")
    x = op_meta(op, ctx)
    seen = status_in_past(offer, ctx, x)
    if seen != "active":
        raise Rejected(
            "offer_inactive", f"the offer is {seen} (only an active offer can be reserved)"
        )
    _check_quantity(body.get("quantity", 1), amount_in_past(offer, ctx, x))
    note_member(ctx, m, op)
    ctx.state.put(
        RESERVATION,
        op.id,
        {
            "c": m.community,
            "id": op.id,
            "offer": body["offer"],
            "owner": offer["author"],
            "requester": m.member,
            "window": body["window"],
            "quantity": body.get("quantity", 1),
            "note": body.get("note", ""),
            "ts": op.ts,
            "status": "requested",
            # [precedence, status, op id, author, ts]; sorted, so arrival order does not matter
            "steps": [[0, "requested", op.id, m.member, op.ts]],
        },
    )


def _check_quantity(wanted: int, amount: int) -> None:
    if wanted > amount:
        raise Rejected("quantity_exceeds_offer", f"{wanted} requested, the offer has {amount}")


def _status_in_past(row: dict, op: Op, ctx: Context) -> str:
    x = op_meta(op, ctx)
    best = (0, "requested")
    for step in row["steps"]:
        if (step[0], step[1]) > best and in_past(ctx, ctx.causal.meta(step[2]), x):
            best = (step[0], step[1])
    return best[1]


def _step(kind: str):
    produces, signers, follows = STEPS[kind]

    def handler(op: Op, ctx: Context) -> None:
        body = check_body(op.kind, op.body, STEP)
        m = require_member(op, ctx)
        row = require_ref(op, ctx, RESERVATION, body["reservation"], "reservation")
        roles = {"owner": row["owner"], "requester": row["requester"]}
        if m.member not in {roles[r] for r in signers}:
            raise Rejected("not_allowed", f"{kind} is signed by the {' or '.join(signers)}")
        seen = _status_in_past(row, op, ctx)
        if seen not in follows:
            raise Rejected("bad_transition", f"{seen} -> {produces}")
        if kind == "reservation.accept":
            # The offer as this op has seen it: the owner may accept from another device
            # than the one that edits the offer, concurrently with an edit.
            offer = ctx.state.get(OFFER, row["offer"])
            x = op_meta(op, ctx)
            if offer is None or status_in_past(offer, ctx, x) != "active":
                raise Rejected("offer_inactive", "only an active offer can be reserved")
            _check_quantity(row["quantity"], amount_in_past(offer, ctx, x))
        note_member(ctx, m, op)
        steps = sorted([*row["steps"], [PRECEDENCE[produces], produces, op.id, m.member, op.ts]])
        ctx.state.put(RESERVATION, row["id"], {**row, "steps": steps, "status": steps[-1][1]})

    handler.__doc__ = f"{kind}: moves a reservation to {produces}."
    return handler


def by_offer_and_requester(key: bytes, row: dict) -> Filed:
    """A reservation is listed under its offer (the offer's page, its conflicts and custody
    read that offer's rows) and under its requester in the community (what they asked of
    others), rank 0 (the views sort what they read, and an index entry holding 0 is smaller);
    and in its community's time line, by the time of its latest step (the activity feed reads
    the newest). A member's own list is their requests plus the rows of their offers: read
    from those groups, it grows with the member's dealings, not with the community."""
    c = row["c"]
    return (
        (group(row["offer"]), 0),
        (group(c, row["requester"]), 0),
        (timeline(c), latest_step(row)),
    )


def latest_step(row: dict) -> int:
    """The ts of a reservation's latest step: its rank in the community's time line (as the
    index keeps it: ``state.ranked``)."""
    return ranked(max(step[4] for step in row["steps"]))


ordered_by(RESERVATION, by_offer_and_requester)

HANDLERS = {"reservation.request": reservation_request}
for _kind in STEPS:
    HANDLERS[_kind] = _step(_kind)
