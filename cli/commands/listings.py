"""Offers and needs (what people can share and what they look for), and matching."""

from __future__ import annotations

import click

from node.crdt.text import counted
from node.service.parse import DATE_HELP, parse_category, parse_expiry, parse_geohash, parse_window

from ..context import group
from ..errors import bad_value
from ..output import Shortener, emit, emit_table, more_line, rel_time, safe_markup
from ._common import (
    community_option,
    in_community,
    me,
    member_key,
    member_label,
    member_with_id,
    names,
    oid,
    page_args,
    page_options,
    paginate,
    pick_member,
    pick_record,
)

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
        "category": parse_category(category),
        "action": action,
        "tags": list(tags),
        "quantity": {"amount": quantity, "unit": unit},
        "windows": [parse_window(w) for w in windows],
        "expires": parse_expiry(expires),
    }
    if remote:
        body["remote"] = True
    if geohash:
        body["geohash"] = parse_geohash(geohash, "--geohash")
        body["radius_m"] = radius or 0
    if audience:
        body["audience"] = audience
    return body


def _add(family: str, title, community, **kw) -> None:
    body = build_body(title, **kw)  # bad input is reported before the node is opened
    o, b, cid = in_community(community)
    op = b.publish(cid, f"{family}.create", body)
    emit(
        o,
        {"id": op["op_id"], "community": cid, **body},
        lambda c, d: c.print(f"Published {family} {d['id'][:12]}: {d['title']}"),
    )


def _status_arg(status: str | None):
    if status == "any":
        return None
    return status or "active"


def _list(
    family: str, community, status, category, text, near, within, mine, by, limit, page
) -> None:
    # An option that only narrows another one must not be dropped without a word: the list
    # would look filtered while it is not.
    if within is not None and not near:
        raise bad_value(
            "--within needs --near: it is a distance from the place --near names",
            f"add --near GEOHASH, e.g. `we {family} list --near u0vu1 --within {within}`",
        )
    if mine and by:
        raise bad_value(
            "--mine and --by both say whose to list: give one of them",
            f"`we {family} list --mine` for yours, `--by MEMBER` for another member's",
        )
    o, b, cid = in_community(community)
    args = {"community": cid, "status": _status_arg(status), **page_args(limit, page)}
    if mine:
        args["author"] = me(b)["public_key"]
    elif by:
        args["author"] = member_key(pick_member(b, by, cid)).hex()
    if category:
        args["category"] = parse_category(category)
    if text:
        args["text"] = text
    if near:
        args["near"] = parse_geohash(near, "--near")
        if within is not None:
            args["within_m"] = within
    rows, more = paginate(list(b.query(f"{family}s", **args) or []), limit, page, sliced=True)
    short = Shortener(r["id"] for r in rows)
    who = names(b, cid) if rows and not o.json else {}

    cols = ["id", "title", "category", "action", "qty", "status", "by", "expires"]
    if near:
        cols.append("distance")

    def cells(r):
        row = [
            short(r["id"]),
            r.get("title"),
            r.get("category"),
            r.get("action"),
            _qty(r.get("quantity")),
            r.get("status"),
            member_label(who, r.get("author")),
            rel_time(r.get("expires")),
        ]
        if near:
            row.append("remote" if r.get("remote") else _km(r.get("distance_m")))
        return row

    emit_table(
        o, rows, cols, cells, title=lambda n: counted(n, family), more=more_line(more, limit, page)
    )


def _km(m) -> str:
    if m is None:
        return "?"
    return f"{m} m" if m < 1000 else f"{m // 1000}.{(m % 1000) // 100} km"


def _qty(q) -> str:
    if not isinstance(q, dict):
        return ""
    if q.get("unit") == "item" and isinstance(q.get("amount"), int):
        return counted(q["amount"], "item")  # the default unit: "2 items", not "2 item"
    return f"{q.get('amount')} {q.get('unit')}"  # a unit the member typed is shown as typed


def find_listing(b, family: str, ident: str, cid: str) -> dict:
    """The one offer or need whose id starts with ``ident`` (the view filters by prefix, so
    this never fetches a whole community's listings)."""
    text = ident.strip().lower()
    if text and all(ch in "0123456789abcdef" for ch in text):
        return pick_record(
            b, f"{family}s", family, text, community=cid, status=None, id_prefix=text, limit=2
        )
    return pick_record(b, f"{family}s", family, ident, community=cid, status=None, limit=0)


def _show(family: str, ident, community) -> None:
    o, b, cid = in_community(community)
    rec = find_listing(b, family, ident, cid)
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
                v = member_with_id(who, v)
            elif k in ("expires", "ts") and isinstance(v, int):
                v = f"{rel_time(v)}"
            elif k == "windows":
                v = "; ".join(f"{rel_time(a)} .. {rel_time(z)}" for a, z in v) or "any time"
            elif k == "description" and "\n" in rec[k]:  # paragraphs, as the author wrote them
                first, *more = (safe_markup(line) for line in rec[k].split("\n"))
                c.print(f"[bold]{k:12}[/bold] {first}")
                for line in more:
                    c.print(f"{'':12} {line}")
                continue
            c.print(f"[bold]{k:12}[/bold] {v}")
        if d.get("reservations"):
            c.print(f"[bold]{'reservations':12}[/bold] {len(d['reservations'])}")
        for e in d.get("custody", []):
            c.print(f"  {rel_time(e['ts'])}: {e['event']} -> {member_label(who, e['holder'])}")

    emit(o, data, render)


def _set_status(family: str, ident, community, status: str) -> None:
    o, b, cid = in_community(community)
    rec = find_listing(b, family, ident, cid)
    op = b.publish(
        cid, f"{family}.status", {"id": oid(rec["id"]), "status": status}, deps=[rec["id"]]
    )
    emit(
        o,
        {"id": rec["id"], "op_id": op["op_id"], "status": status},
        lambda c, d: c.print(f"{family.title()} {rec['id'][:12]} is now {status}."),
    )


def list_options(f):
    f = page_options(f)
    f = click.option("--by", metavar="MEMBER", help="Only those of this member (name or id).")(f)
    f = click.option("--mine", is_flag=True, help="Only your own (not with --by).")(f)
    f = click.option(
        "--within", type=click.IntRange(0), help="Needs --near: at most this many metres from it."
    )(f)
    f = click.option("--near", help="Sort by distance from this geohash.")(f)
    f = click.option("--text", help="Only those whose title, description or tags contain TEXT.")(f)
    f = click.option("--category", help="Only this category (or below it).")(f)
    f = click.option("--status", type=click.Choice(STATUSES), help="Default: active.")(f)
    return community_option(f)


def listing_group(family: str, help: str, show_doc: str):
    """The ``we offer`` / ``we need`` group: add, list, show and withdraw (the same for both)."""

    grp = group(family, help=help)

    @grp.command("add")
    @click.argument("title")
    @record_options
    @community_option
    def add(title, community, **kw) -> None:
        _add(family, title, community, **kw)

    @grp.command("list")
    @list_options
    def list_(community, status, category, text, near, within, mine, by, limit, page) -> None:
        _list(family, community, status, category, text, near, within, mine, by, limit, page)

    @grp.command("show")
    @click.argument("id")
    @community_option
    def show(id, community) -> None:
        _show(family, id, community)

    @grp.command("withdraw")
    @click.argument("id")
    @community_option
    def withdraw(id, community) -> None:
        _set_status(family, id, community, "withdrawn")

    add.help = f"Publish {'an' if family == 'offer' else 'a'} {family}."
    list_.help = f"List {family}s (active ones by default)."
    show.help = show_doc
    withdraw.help = f"Withdraw your {family} (final)."
    return grp


offer = listing_group(
    "offer",
    "What you can lend, give, share or do.",
    "Show one offer, its reservations and who holds it.",
)
need = listing_group("need", "What you are looking for.", "Show one need.")


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
        changes["expires"] = parse_expiry(expires)
    if not changes and quantity is None and paused is None and not fulfilled:
        raise bad_value(
            "nothing to change",
            "give --title, --description, --quantity, --expires, --pause/--resume or --fulfilled",
        )
    o, b, cid = in_community(community)
    rec = find_listing(b, "offer", id, cid)
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
