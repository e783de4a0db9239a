"""Offers, needs, matching and reservations (circular use of resources)."""

from __future__ import annotations

import click

from ..context import command, group, obj
from ..errors import bad_value
from ..output import Shortener, emit, rel_time, table
from ..parse import DATE_HELP, parse_when, parse_window
from ._common import community_option, oid, pick_community, pick_record

ACTIONS = ["lend", "give", "share-use", "service", "work"]


def record_options(f):
    f = click.option(
        "--expires", default="+30d", show_default=True, help=f"When it expires: {DATE_HELP}."
    )(f)
    f = click.option(
        "--window", "windows", multiple=True, help="Available START..END (repeatable)."
    )(f)
    f = click.option("--remote", is_flag=True, help="Can be done remotely (no location).")(f)
    f = click.option(
        "--radius", type=click.IntRange(0), help="Radius around --geohash, in metres."
    )(f)
    f = click.option("--geohash", help="Location as a geohash (e.g. u0vu1).")(f)
    f = click.option("--unit", default="item", show_default=True, help="Unit of the quantity.")(f)
    f = click.option(
        "--quantity", type=click.IntRange(1), default=1, show_default=True, help="How many."
    )(f)
    f = click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")(f)
    f = click.option("--action", type=click.Choice(ACTIONS), default="lend", show_default=True)(f)
    f = click.option("--category", required=True, help='A "/"-path such as tools/power/drill.')(f)
    f = click.option("--description", default="")(f)
    return f


def build_body(
    title,
    description,
    category,
    action,
    tags,
    quantity,
    unit,
    geohash,
    radius,
    remote,
    windows,
    expires,
):
    body = {
        "title": title,
        "description": description,
        "category": category,
        "action": action,
        "tags": list(tags),
        "quantity": {"amount": quantity, "unit": unit},
        "windows": [parse_window(w) for w in windows],
        "expires": parse_when(expires),
    }
    if remote:
        body["remote"] = True
    elif geohash:
        body["geohash"] = geohash
        body["radius_m"] = radius or 0
    return body


def _add(kind: str, title, community, **kw) -> None:
    body = build_body(title, **kw)  # bad input is reported before the node is opened
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    op = b.publish(cid, f"{kind}.create", body)
    emit(
        o,
        {"id": _op_id(op), "community": cid, **body},
        lambda c, d: c.print(f"Published {kind} {d['id'][:12]}: {title}"),
    )


def _op_id(op) -> str:
    return op["id"] if isinstance(op, dict) else op


def _list(kind: str, community, status, category, text, near) -> None:
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    args = {"community": cid}
    if status:
        args["status"] = status
    if category:
        args["category"] = category
    if text:
        args["text"] = text
    if near:
        args["near"] = near
    rows = list(b.query(f"{kind}s", **args) or [])
    short = Shortener(r["id"] for r in rows)
    auth = Shortener(r.get("author", "") for r in rows)

    def render(c, d):
        c.print(
            table(
                f"{len(d)} {kind}(s)",
                ["id", "title", "category", "action", "qty", "status", "by", "expires"],
                [
                    [
                        short(r["id"]),
                        r.get("title"),
                        r.get("category"),
                        r.get("action"),
                        _qty(r.get("quantity")),
                        r.get("status"),
                        auth(r.get("author")),
                        rel_time(r.get("expires")),
                    ]
                    for r in d
                ],
            )
        )

    emit(o, rows, render)


def _qty(q) -> str:
    if not isinstance(q, dict):
        return ""
    return f"{q.get('amount')} {q.get('unit')}"


def _show(kind: str, ident, community) -> None:
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = pick_record(b, f"{kind}s", kind, ident, cid, status="any")

    def render(c, d):
        for k, v in d.items():
            if k == "quantity":
                v = _qty(v)
            elif k in ("expires", "created", "updated") and isinstance(v, int):
                v = f"{v} ({rel_time(v)})"
            c.print(f"[bold]{k:12}[/bold] {v}")

    emit(o, rec, render)


def _withdraw(kind: str, ident, community) -> None:
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = pick_record(b, f"{kind}s", kind, ident, cid, status="any")
    op = b.publish(
        cid, f"{kind}.status", {"id": oid(rec["id"]), "status": "withdrawn"}, deps=[rec["id"]]
    )
    emit(
        o,
        {"id": rec["id"], "op": _op_id(op), "status": "withdrawn"},
        lambda c, d: c.print(f"Withdrew {kind} {rec['id'][:12]}"),
    )


def list_options(f):
    f = click.option("--near", help="Only within reach of this geohash.")(f)
    f = click.option("--text", help="Only those whose title or description contains TEXT.")(f)
    f = click.option("--category", help="Only this category (or below it).")(f)
    f = click.option(
        "--status",
        type=click.Choice(["active", "paused", "fulfilled", "withdrawn", "expired", "any"]),
        help="Default: active.",
    )(f)
    return community_option(f)


@group("offer", help="What you can lend, give, share or do.")
def offer() -> None:
    pass


@offer.command("add")
@click.argument("title")
@record_options
@community_option
def offer_add(title, community, **kw) -> None:
    """Publish an offer."""
    _add("offer", title, community, **kw)


@offer.command("list")
@list_options
def offer_list(community, status, category, text, near) -> None:
    """List offers."""
    _list("offer", community, status, category, text, near)


@offer.command("show")
@click.argument("id")
@community_option
def offer_show(id, community) -> None:
    """Show one offer."""
    _show("offer", id, community)


@offer.command("edit")
@click.argument("id")
@click.option("--title")
@click.option("--description")
@click.option("--quantity", type=click.IntRange(1))
@click.option("--expires", help=f"New expiry: {DATE_HELP}.")
@click.option("--pause/--resume", "paused", default=None, help="Pause or resume the offer.")
@community_option
def offer_edit(id, title, description, quantity, expires, paused, community) -> None:
    """Change your offer (only the author may)."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = pick_record(b, "offers", "offer", id, cid, status="any")
    changes = {}
    if title is not None:
        changes["title"] = title
    if description is not None:
        changes["description"] = description
    if quantity is not None:
        changes["quantity"] = {
            "amount": quantity,
            "unit": (rec.get("quantity") or {}).get("unit", "item"),
        }
    if expires is not None:
        changes["expires"] = parse_when(expires)
    ops = []
    if changes:
        ops.append(
            b.publish(cid, "offer.update", {"id": oid(rec["id"]), "set": changes}, deps=[rec["id"]])
        )
    if paused is not None:
        ops.append(
            b.publish(
                cid,
                "offer.status",
                {"id": oid(rec["id"]), "status": "paused" if paused else "active"},
                deps=[rec["id"]],
            )
        )
    if not ops:
        raise bad_value(
            "nothing to change",
            "give --title, --description, --quantity, --expires or --pause/--resume",
        )
    emit(
        o,
        {"id": rec["id"], "ops": [_op_id(x) for x in ops], "changes": changes},
        lambda c, d: c.print(f"Updated offer {rec['id'][:12]}"),
    )


@offer.command("withdraw")
@click.argument("id")
@community_option
def offer_withdraw(id, community) -> None:
    """Withdraw your offer."""
    _withdraw("offer", id, community)


@group("need", help="What you are looking for.")
def need() -> None:
    pass


@need.command("add")
@click.argument("title")
@record_options
@community_option
def need_add(title, community, **kw) -> None:
    """Publish a need."""
    _add("need", title, community, **kw)


@need.command("list")
@list_options
def need_list(community, status, category, text, near) -> None:
    """List needs."""
    _list("need", community, status, category, text, near)


@need.command("show")
@click.argument("id")
@community_option
def need_show(id, community) -> None:
    """Show one need."""
    _show("need", id, community)


@need.command("withdraw")
@click.argument("id")
@community_option
def need_withdraw(id, community) -> None:
    """Withdraw your need."""
    _withdraw("need", id, community)


@command("match")
@click.argument("id", required=False)
@click.option("--limit", type=click.IntRange(1), default=10, show_default=True)
@community_option
def match(id, limit, community) -> None:
    """Offers that fit a need (or needs that fit an offer); all of yours by default."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    args = {"community": cid, "limit": limit}
    if id:
        offers = [r["id"] for r in b.query("offers", community=cid, status="any") or []]
        needs = [r["id"] for r in b.query("needs", community=cid, status="any") or []]
        from ..output import resolve

        full = resolve(id, offers + needs, "offer or need")
        args["need" if full in needs else "offer"] = full
    rows = list(b.query("matches", **args) or [])
    short = Shortener([r.get("need", "") for r in rows] + [r.get("offer", "") for r in rows])

    def render(c, d):
        c.print(
            table(
                f"{len(d)} match(es)",
                ["need", "offer", "score", "why"],
                [
                    [
                        short(r.get("need")),
                        short(r.get("offer")),
                        r.get("score"),
                        "; ".join(r.get("reasons", [])),
                    ]
                    for r in d
                ],
            )
        )

    emit(o, rows, render)


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
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = pick_record(b, "offers", "offer", offer_id, cid)
    body = {"offer": oid(rec["id"]), "window": [s, e], "quantity": quantity}
    if note:
        body["note"] = note
    op = b.publish(cid, "reservation.request", body, deps=[rec["id"]])
    rid = _op_id(op)
    emit(
        o,
        {"id": rid, "offer": rec["id"], "window": [s, e]},
        lambda c, d: c.print(f"Requested reservation {rid[:12]} of {rec.get('title')}"),
    )


@group("reservation", help="Reservations: accept, decline, hand over, return, cancel.")
def reservation() -> None:
    pass


@reservation.command("list")
@click.option(
    "--all", "all_", is_flag=True, help="Every reservation in the community, not only yours."
)
@community_option
def reservation_list(all_, community) -> None:
    """Your reservations (as borrower or lender)."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    args = {"community": cid}
    if not all_:
        args["member"] = b.call("status")["member_id"]
    rows = list(b.query("reservations", **args) or [])
    short = Shortener([r["id"] for r in rows] + [r.get("offer", "") for r in rows])
    who = Shortener([r.get("borrower", "") for r in rows] + [r.get("lender", "") for r in rows])

    def render(c, d):
        c.print(
            table(
                f"{len(d)} reservation(s)",
                ["id", "offer", "borrower", "lender", "from", "until", "state", "flags"],
                [
                    [
                        short(r["id"]),
                        short(r.get("offer")),
                        who(r.get("borrower")),
                        who(r.get("lender")),
                        rel_time((r.get("window") or [None, None])[0]),
                        rel_time((r.get("window") or [None, None])[1]),
                        r.get("state"),
                        ", ".join(r.get("flags", [])),
                    ]
                    for r in d
                ],
            )
        )

    emit(o, rows, render)


def _step(step: str):
    @click.argument("id")
    @click.option("--note", default="")
    @community_option
    def run(id, note, community) -> None:
        o = obj()
        b = o.backend()
        cid = pick_community(b, community)
        rec = pick_record(b, "reservations", "reservation", id, cid)
        body = {"reservation": oid(rec["id"])}
        if note:
            body["note"] = note
        op = b.publish(cid, f"reservation.{step}", body, deps=[rec["id"]])
        emit(
            o,
            {"id": rec["id"], "op": _op_id(op), "step": step},
            lambda c, d: c.print(f"Reservation {rec['id'][:12]}: {step}"),
        )

    run.__doc__ = {
        "accept": "Accept a reservation of your offer.",
        "decline": "Decline a reservation of your offer.",
        "handover": "As the borrower, confirm you received the item.",
        "return": "As the owner, confirm the item came back.",
        "cancel": "Cancel a reservation before handover.",
    }[step]
    return run


for _s in ("accept", "decline", "handover", "return", "cancel"):
    reservation.command(_s)(_step(_s))
