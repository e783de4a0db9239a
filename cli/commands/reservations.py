"""Reservations and loans: request -> accept | decline -> handover -> return, or cancel."""

from __future__ import annotations

import click

from ..context import command, group
from ..errors import bad_value
from ..output import Shortener, emit, emit_table, now_ms, rel_time, safe_markup
from ..parse import DATE_HELP, parse_when
from ._common import community_option, in_community, me, names, oid, pick_record
from .listings import find_listing


@command("reserve")
@click.argument("offer_id")
@click.option("--from", "start", required=True, help=f"Start: {DATE_HELP}.")
@click.option("--until", "end", required=True, help=f"End: {DATE_HELP}.")
@click.option("--quantity", type=click.IntRange(1), default=1, show_default=True)
@click.option("--note", default="")
@community_option
def reserve(offer_id, start, end, quantity, note, community) -> None:
    """Ask to reserve (borrow) an offer for a time window."""
    s, e = parse_when(start), parse_when(end)
    if e <= s:
        raise bad_value("--until must be after --from")
    if e <= now_ms():
        raise bad_value(f"--until {end} is in the past", "reserve a window that has not ended yet")
    o, b, cid = in_community(community)
    rec = find_listing(b, "offer", offer_id, cid)
    body = {"offer": oid(rec["id"]), "window": [s, e], "quantity": quantity}
    if note:
        body["note"] = note
    op = b.publish(cid, "reservation.request", body, deps=[rec["id"]])
    rid = op["op_id"]
    emit(
        o,
        {"id": rid, "offer": rec["id"], "window": [s, e], "quantity": quantity},
        lambda c, d: c.print(
            f"Requested reservation {rid[:12]} of {safe_markup(rec.get('title') or '')}"
        ),
    )


reservation = group("reservation", help="Reservations: accept, decline, hand over, return, cancel.")


@reservation.command("list")
@click.option("--all", "all_", is_flag=True, help="Every reservation in the community.")
@click.option("--offer", "offer_id", help="Only reservations of this offer.")
@community_option
def reservation_list(all_, offer_id, community) -> None:
    """Your reservations (as borrower or owner)."""
    o, b, cid = in_community(community)
    args = {"community": cid}
    if offer_id:
        args["offer"] = find_listing(b, "offer", offer_id, cid)["id"]
    elif not all_:
        args["member"] = me(b)["public_key"]
    rows = list(b.query("reservations", **args) or [])
    short = Shortener([r["id"] for r in rows] + [r.get("offer", "") for r in rows])
    who = names(b, cid) if rows and not o.json else {}
    titles = {  # one lookup per offer shown, not the community's every listing
        offer: safe_markup((b.query("listing", listing_id=offer) or {}).get("title") or "")
        for offer in {r["offer"] for r in rows}
    }

    emit_table(
        o,
        rows,
        ["id", "offer", "borrower", "owner", "from", "until", "status"],
        lambda r: [
            short(r["id"]),
            titles.get(r["offer"], short(r["offer"])),
            who.get(r["requester"], r["requester"][:8]),
            who.get(r["owner"], r["owner"][:8]),
            rel_time(r["window"][0]),
            rel_time(r["window"][1]),
            r["status"],
        ],
        title="{n} reservation(s)",
    )


DOCS = {
    "accept": "As the owner, accept a reservation of your offer.",
    "decline": "As the owner, decline a reservation of your offer.",
    "handover": "As the borrower, confirm you received the item.",
    "return": "As the owner, confirm the item came back.",
    "cancel": "Cancel a reservation before handover (owner or borrower).",
}


def _step(step: str):
    @click.argument("id")
    @click.option("--note", default="")
    @community_option
    def run(id, note, community) -> None:
        o, b, cid = in_community(community)
        rec = pick_record(b, "reservations", "reservation", id, community=cid)
        body = {"reservation": oid(rec["id"])}
        if note:
            body["note"] = note
        op = b.publish(cid, f"reservation.{step}", body, deps=[rec["id"]])
        emit(
            o,
            {"id": rec["id"], "op_id": op["op_id"], "step": step},
            lambda c, d: c.print(f"Reservation {rec['id'][:12]}: {step} recorded."),
        )

    run.__doc__ = DOCS[step]
    return run


for _s in DOCS:
    reservation.command(_s)(_step(_s))
