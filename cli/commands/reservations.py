"""Reservations and loans: request -> accept | decline -> handover -> return, or cancel."""

from __future__ import annotations

import click

from node.crdt.state import ranked
from node.crdt.text import counted
from node.service.parse import DATE_HELP, parse_when

from ..context import command, group
from ..errors import EXIT_DENIED, UserError, bad_value
from ..output import Shortener, emit, emit_table, more_line, now_ms, rel_time, safe_markup
from ._common import (
    community_option,
    in_community,
    me,
    member_label,
    names,
    oid,
    page_options,
    paginate,
    pick_record,
)
from .listings import find_listing

HELD = ("accepted", "handed_over")  # holding the item now or later (a return frees it)


def overlapping(b, cid: str, offer: dict, window, quantity: int, skip: str = "") -> list[dict]:
    """The held reservations of ``offer`` that, with ``quantity`` more over ``window``, would
    need more than the offer has at some instant (the load rises only at window starts, so
    those are the instants to check, as ``reservation_conflicts`` does)."""
    amount = (offer.get("quantity") or {}).get("amount", 1)
    start, end = window
    held = [
        r
        for r in b.query("reservations", community=cid, offer=offer["id"]) or []
        if r["status"] in HELD and r["id"] != skip
    ]
    clash = [r for r in held if r["window"][0] < end and start < r["window"][1]]
    points = [start, *(r["window"][0] for r in clash if start < r["window"][0] < end)]
    for t in points:
        load = quantity + sum(r["quantity"] for r in clash if r["window"][0] <= t < r["window"][1])
        if load > amount:
            return clash
    return []


def _clash_text(rows: list[dict]) -> str:
    return ", ".join(
        f"{r['id'][:10]} ({r['status']}, {rel_time(r['window'][0])} .. {rel_time(r['window'][1])})"
        for r in rows
    )


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
    clash = overlapping(b, cid, rec, [s, e], quantity)
    op = b.publish(cid, "reservation.request", body, deps=[rec["id"]])
    rid = op["op_id"]

    def render(c, d):
        c.print(f"Requested reservation {rid[:12]} of {safe_markup(rec.get('title') or '')}")
        if d["overlaps"]:
            c.print(
                "[yellow]Note: it is already taken then: "
                f"{_clash_text(clash)}; the owner may decline.[/yellow]"
            )

    data = {"id": rid, "offer": rec["id"], "window": [s, e], "quantity": quantity}
    emit(o, {**data, "overlaps": [r["id"] for r in clash]}, render)


def _latest_step(r: dict) -> tuple[int, str]:
    """The order of every reservation list: by the time of the latest step, then by id, as
    the community's time line ranks them (a page of ``--all`` is read from it)."""
    return ranked(max(s["ts"] for s in r["steps"])), r["id"]


reservation = group("reservation", help="Reservations: accept, decline, hand over, return, cancel.")


@reservation.command("list")
@click.option("--all", "all_", is_flag=True, help="Every reservation in the community.")
@click.option("--offer", "offer_id", help="Only reservations of this offer.")
@community_option
@page_options
def reservation_list(all_, offer_id, community, limit, page) -> None:
    """Your reservations (as borrower or owner), the latest activity first."""
    o, b, cid = in_community(community)
    args = {"community": cid}
    if offer_id:
        args["offer"] = find_listing(b, "offer", offer_id, cid)["id"]
    elif not all_:
        args["member"] = me(b)["public_key"]
    if limit and len(args) == 1:  # the community's: read from its time line, a page at a time
        args["newest"] = page * limit + 1
    rows = sorted(b.query("reservations", **args) or [], key=_latest_step, reverse=True)
    rows, more = paginate(rows, limit, page)
    short = Shortener([r["id"] for r in rows] + [r.get("offer", "") for r in rows])
    who = names(b, cid) if rows and not o.json else {}
    titles = {  # one lookup per offer shown, not the community's every listing
        offer: safe_markup((b.query("listing", listing_id=offer) or {}).get("title") or "")
        for offer in {r["offer"] for r in rows}
    }

    status = {r["id"]: r["status"] for r in rows}

    def clashes(r) -> str:
        """Overlaps that still matter: both still to come or under way (a returned loan
        no longer blocks anyone)."""
        if r["status"] not in HELD:
            return ""
        live = [x for x in r.get("conflicts_with", []) if status.get(x, "accepted") in HELD]
        return ", ".join(f"overlaps {short(x) or x[:8]}" for x in live)

    emit_table(
        o,
        rows,
        ["id", "offer", "borrower", "owner", "from", "until", "status", "warning"],
        lambda r: [
            short(r["id"]),
            titles.get(r["offer"], short(r["offer"])),
            member_label(who, r["requester"]),
            member_label(who, r["owner"]),
            rel_time(r["window"][0]),
            rel_time(r["window"][1]),
            r["status"],
            clashes(r),
        ],
        title=lambda n: counted(n, "reservation"),
        more=more_line(more, limit, page),
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
    def run(id, note, community, force=False) -> None:
        o, b, cid = in_community(community)
        rec = pick_record(b, "reservations", "reservation", id, community=cid)
        if step == "accept" and not force:
            offer = b.query("listing", listing_id=rec["offer"]) or {"id": rec["offer"]}
            clash = overlapping(b, cid, offer, rec["window"], rec["quantity"], skip=rec["id"])
            if clash:
                raise UserError(
                    f"accepting would book the item twice: {_clash_text(clash)} "
                    "already holds it then",
                    hint="decline one of them, or accept anyway with --force",
                    code="double_booking",
                    exit_code=EXIT_DENIED,
                )
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
    _cmd = _step(_s)
    if _s == "accept":
        _cmd = click.option(
            "--force", is_flag=True, help="Accept even if it overlaps an accepted reservation."
        )(_cmd)
    reservation.command(_s)(_cmd)
