"""Offers, needs, matching and reservations (circular use of resources)."""

from __future__ import annotations

import click

from ..context import command, group, obj
from ..errors import bad_value
from ..output import Shortener, emit, rel_time, resolve, table
from ..parse import DATE_HELP, parse_when, parse_window
from ._common import community_option, me, names, oid, pick_community, pick_record

ACTIONS = ["lend", "give", "share-use", "service", "work"]
STATUSES = ["active", "paused", "fulfilled", "withdrawn", "expired", "any"]


def record_options(f):
    f = click.option("--audience", type=click.Choice(["public", "members"]))(f)
    f = click.option(
        "--expires", default="+30d", show_default=True, help=f"When it expires: {DATE_HELP}."
    )(f)
    f = click.option(
        "--window", "windows", multiple=True, help="Available START..END (repeatable)."
    )(f)
    f = click.option("--remote", is_flag=True, help="Can be done remotely (no location).")(f)
    f = click.option("--radius", type=click.IntRange(0), help="Reach around --geohash, metres.")(f)
    f = click.option("--geohash", help="Location as a geohash (e.g. u0vu1).")(f)
    f = click.option("--unit", default="item", show_default=True, help="Unit of the quantity.")(f)
    f = click.option("--quantity", type=click.IntRange(1), default=1, show_default=True)(f)
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
    audience,
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
    if geohash:
        body["geohash"] = geohash
        body["radius_m"] = radius or 0
    if audience:
        body["audience"] = audience
    return body


def _add(family: str, title, community, **kw) -> None:
    body = build_body(title, **kw)  # bad input is reported before the node is opened
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    op = b.publish(cid, f"{family}.create", body)
    emit(
        o,
        {"id": op["op_id"], "community": cid, **body},
        lambda c, d: c.print(f"Published {family} {d['id'][:12]}: {title}"),
    )


def _status_arg(status: str | None):
    if status == "any":
        return None
    return status or "active"


def _list(family: str, community, status, category, text, near, within) -> None:
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    args = {"community": cid, "status": _status_arg(status)}
    if category:
        args["category"] = category
    if text:
        args["text"] = text
    if near:
        args["near"] = near
        if within is not None:
            args["within_m"] = within
    rows = list(b.query(f"{family}s", **args) or [])
    short = Shortener(r["id"] for r in rows)
    who = names(b, cid) if rows and not o.json else {}

    def render(c, d):
        cols = ["id", "title", "category", "action", "qty", "status", "by", "expires"]
        if near:
            cols.append("distance")
        out = []
        for r in d:
            row = [
                short(r["id"]),
                r.get("title"),
                r.get("category"),
                r.get("action"),
                _qty(r.get("quantity")),
                r.get("status"),
                who.get(r.get("author"), r.get("author", "")[:8]),
                rel_time(r.get("expires")),
            ]
            if near:
                row.append("remote" if r.get("remote") else _km(r.get("distance_m")))
            out.append(row)
        c.print(table(f"{len(d)} {family}(s)", cols, out))

    emit(o, rows, render)


def _km(m) -> str:
    if m is None:
        return "?"
    return f"{m} m" if m < 1000 else f"{m // 1000}.{(m % 1000) // 100} km"


def _qty(q) -> str:
    if not isinstance(q, dict):
        return ""
    return f"{q.get('amount')} {q.get('unit')}"


def _find(b, family: str, ident: str, cid: str) -> dict:
    return pick_record(b, f"{family}s", family, ident, community=cid, status=None)


def _show(family: str, ident, community) -> None:
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = _find(b, family, ident, cid)
    extra = {}
    if family == "offer":
        extra["reservations"] = b.query("reservations", community=cid, offer=rec["id"]) or []
        extra["custody"] = b.query("custody_history", offer_id=rec["id"]) or []
    data = {**rec, **extra}
    who = names(b, cid)

    def render(c, d):
        for k, v in d.items():
            if k in ("reservations", "custody"):
                continue
            if k == "quantity":
                v = _qty(v)
            elif k == "author":
                v = f"{who.get(v, '')} ({v[:12]})"
            elif k in ("expires", "ts") and isinstance(v, int):
                v = f"{rel_time(v)}"
            elif k == "windows":
                v = "; ".join(f"{rel_time(a)} .. {rel_time(z)}" for a, z in v) or "any time"
            c.print(f"[bold]{k:12}[/bold] {v}")
        if d.get("reservations"):
            c.print(f"[bold]{'reservations':12}[/bold] {len(d['reservations'])}")
        for e in d.get("custody", []):
            c.print(
                f"  {rel_time(e['ts'])}: {e['event']} -> {who.get(e['holder'], e['holder'][:8])}"
            )

    emit(o, data, render)


def _set_status(family: str, ident, community, status: str) -> None:
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = _find(b, family, ident, cid)
    op = b.publish(
        cid, f"{family}.status", {"id": oid(rec["id"]), "status": status}, deps=[rec["id"]]
    )
    emit(
        o,
        {"id": rec["id"], "op_id": op["op_id"], "status": status},
        lambda c, d: c.print(f"{family.title()} {rec['id'][:12]} is now {status}."),
    )


def list_options(f):
    f = click.option(
        "--within", type=click.IntRange(0), help="With --near: at most this many metres."
    )(f)
    f = click.option("--near", help="Sort by distance from this geohash.")(f)
    f = click.option("--text", help="Only those whose title, description or tags contain TEXT.")(f)
    f = click.option("--category", help="Only this category (or below it).")(f)
    f = click.option("--status", type=click.Choice(STATUSES), help="Default: active.")(f)
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
def offer_list(community, status, category, text, near, within) -> None:
    """List offers (active ones by default)."""
    _list("offer", community, status, category, text, near, within)


@offer.command("show")
@click.argument("id")
@community_option
def offer_show(id, community) -> None:
    """Show one offer, its reservations and who holds it."""
    _show("offer", id, community)


@offer.command("edit")
@click.argument("id")
@click.option("--title")
@click.option("--description")
@click.option("--quantity", type=click.IntRange(1))
@click.option("--expires", help=f"New expiry: {DATE_HELP}.")
@click.option("--pause/--resume", "paused", default=None, help="Pause or resume the offer.")
@click.option("--fulfilled", is_flag=True, help="Mark it fulfilled (final).")
@community_option
def offer_edit(id, title, description, quantity, expires, paused, fulfilled, community) -> None:
    """Change your offer (only its author may)."""
    changes = {}
    if title is not None:
        changes["title"] = title
    if description is not None:
        changes["description"] = description
    if expires is not None:
        changes["expires"] = parse_when(expires)
    if not changes and quantity is None and paused is None and not fulfilled:
        raise bad_value(
            "nothing to change",
            "give --title, --description, --quantity, --expires, --pause/--resume or --fulfilled",
        )
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = _find(b, "offer", id, cid)
    if quantity is not None:
        changes["quantity"] = {
            "amount": quantity,
            "unit": (rec.get("quantity") or {}).get("unit", "item"),
        }
    ops = []
    if changes:
        ops.append(
            b.publish(cid, "offer.update", {"id": oid(rec["id"]), "set": changes}, deps=[rec["id"]])
        )
    status = "fulfilled" if fulfilled else {True: "paused", False: "active"}.get(paused)
    if status:
        ops.append(
            b.publish(
                cid, "offer.status", {"id": oid(rec["id"]), "status": status}, deps=[rec["id"]]
            )
        )
    emit(
        o,
        {"id": rec["id"], "op_ids": [x["op_id"] for x in ops], "set": changes, "status": status},
        lambda c, d: c.print(f"Updated offer {rec['id'][:12]}."),
    )


@offer.command("withdraw")
@click.argument("id")
@community_option
def offer_withdraw(id, community) -> None:
    """Withdraw your offer (final)."""
    _set_status("offer", id, community, "withdrawn")


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
def need_list(community, status, category, text, near, within) -> None:
    """List needs (active ones by default)."""
    _list("need", community, status, category, text, near, within)


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
    """Withdraw your need (final)."""
    _set_status("need", id, community, "withdrawn")


@command("match")
@click.argument("id", required=False)
@click.option("--limit", type=click.IntRange(1), default=10, show_default=True)
@community_option
def match(id, limit, community) -> None:
    """Offers that fit a need, or needs that fit an offer (default: all your active needs).
    Matching only suggests: nothing is committed until you `we reserve`."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    offers = b.query("offers", community=cid, status=None) or []
    needs = b.query("needs", community=cid, status=None) or []
    args = {"community": cid, "limit": limit}
    if id:
        full = resolve(id, [r["id"] for r in offers + needs], "offer or need")
        args["need" if full in {r["id"] for r in needs} else "offer"] = full
    rows = list(b.query("matches", **args) or [])
    titles = {r["id"]: r["title"] for r in offers + needs}
    short = Shortener(list(titles))

    def render(c, d):
        c.print(
            table(
                f"{len(d)} match(es)",
                ["need", "offer", "points", "why"],
                [
                    [
                        f"{short(r['need'])} {titles.get(r['need'], '')}",
                        f"{short(r['offer'])} {titles.get(r['offer'], '')}",
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
    rec = _find(b, "offer", offer_id, cid)
    body = {"offer": oid(rec["id"]), "window": [s, e], "quantity": quantity}
    if note:
        body["note"] = note
    op = b.publish(cid, "reservation.request", body, deps=[rec["id"]])
    rid = op["op_id"]
    emit(
        o,
        {"id": rid, "offer": rec["id"], "window": [s, e], "quantity": quantity},
        lambda c, d: c.print(f"Requested reservation {rid[:12]} of {rec.get('title')}"),
    )


@group("reservation", help="Reservations: accept, decline, hand over, return, cancel.")
def reservation() -> None:
    pass


@reservation.command("list")
@click.option("--all", "all_", is_flag=True, help="Every reservation in the community.")
@click.option("--offer", "offer_id", help="Only reservations of this offer.")
@community_option
def reservation_list(all_, offer_id, community) -> None:
    """Your reservations (as borrower or owner)."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    args = {"community": cid}
    if offer_id:
        args["offer"] = _find(b, "offer", offer_id, cid)["id"]
    elif not all_:
        args["member"] = me(b)["public_key"]
    rows = list(b.query("reservations", **args) or [])
    short = Shortener([r["id"] for r in rows] + [r.get("offer", "") for r in rows])
    who = names(b, cid) if rows and not o.json else {}
    titles = (
        {r["id"]: r["title"] for r in b.query("offers", community=cid, status=None) or []}
        if rows
        else {}
    )

    def render(c, d):
        c.print(
            table(
                f"{len(d)} reservation(s)",
                ["id", "offer", "borrower", "owner", "from", "until", "status"],
                [
                    [
                        short(r["id"]),
                        titles.get(r["offer"], short(r["offer"])),
                        who.get(r["requester"], r["requester"][:8]),
                        who.get(r["owner"], r["owner"][:8]),
                        rel_time(r["window"][0]),
                        rel_time(r["window"][1]),
                        r["status"],
                    ]
                    for r in d
                ],
            )
        )

    emit(o, rows, render)


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
        o = obj()
        b = o.backend()
        cid = pick_community(b, community)
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
