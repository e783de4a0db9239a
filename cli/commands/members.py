"""Members of a community (and vouching for newcomers), and member profiles."""

from __future__ import annotations

import click

from ..context import group
from ..errors import bad_value
from ..output import Shortener, emit, emit_table, more_line, rel_time
from ._common import (
    community_option,
    in_community,
    me,
    member_key,
    member_rows,
    mid,
    names,
    page_options,
    paginate,
    pick_member,
    shown_name,
)

member = group("member", help="Members of a community, and vouching for newcomers.")


@member.command("list")
@community_option
@page_options
def member_list(community, limit, page) -> None:
    """Members, and people asking to join (candidates)."""
    o, b, cid = in_community(community)
    rows, more = paginate(member_rows(b, cid), limit, page)
    short = Shortener(r["member_id"] for r in rows)
    who = names(b, cid) if not o.json else {}

    def vouchers(r):
        return ", ".join(who.get(v) or short(mid(v)) for v in r.get("vouched_by", []))

    emit_table(
        o,
        rows,
        ["member", "name", "status", "vouched by", "joined"],
        lambda r: [
            short(r["member_id"]),
            shown_name(r["name"]),  # the member's real id is in the row's first column
            r["status"],
            vouchers(r),
            rel_time(r.get("joined_ts")),
        ],
        more=more_line(more, limit, page),
    )


@member.command("vouch")
@click.argument("who")
@click.option("--note", default="")
@community_option
def vouch(who, note, community) -> None:
    """Vouch for WHO (member id, unique prefix, or name) so they may join."""
    o, b, cid = in_community(community)
    target = pick_member(b, who, cid)
    body = {"member": member_key(target)}
    if note:
        body["note"] = note
    op = b.publish(cid, "member.vouch", body)
    emit(
        o,
        {"op_id": op["op_id"], "member_id": target},
        lambda c, d: c.print(f"Vouched for {target}"),
    )


PROFILE_FIELDS = ("display_name", "bio", "skills", "geohash", "addrs")
profile = group("profile", help="Your member profile: name, skills, rough location, addresses.")


@profile.command("set")
@click.option("--name", help="Display name.")
@click.option("--bio", help="A few words about you.")
@click.option("--skill", "skills", multiple=True, help="A skill tag, lowercase (repeatable).")
@click.option("--geohash", help="Coarse location: a geohash of at most 6 characters (e.g. u0vu1).")
@click.option("--addr", "addrs", multiple=True, help="A multiaddr where your node listens.")
@community_option
def profile_set(name, bio, skills, geohash, addrs, community) -> None:
    """Set parts of your profile in a community (what you do not give stays as it was)."""
    from node.identity import holds_member_id
    from node.service.parse import parse_geohash, parse_skill

    from ..config import check_addrs

    changes = {}
    if name is not None:
        changes["display_name"] = name
    if bio is not None:
        changes["bio"] = bio
    if skills:
        changes["skills"] = list(dict.fromkeys(parse_skill(s) for s in skills))
    if geohash is not None:
        changes["geohash"] = parse_geohash(geohash, "--geohash", max_len=6)
    if addrs:
        changes["addrs"] = check_addrs(addrs, "--addr")
    if not changes:
        raise bad_value("nothing to set", "give --name, --bio, --skill, --geohash or --addr")
    o, b, cid = in_community(community)
    you = me(b)
    if name is not None and holds_member_id(name):
        raise bad_value(
            f"a display name may not look like a member id ({name!r})",
            "choose a name people know you by; commands read 12D3KooW... as a member id, "
            "and your own id is shown beside your name where it matters",
        )
    if name is not None and name.strip():
        taken = [
            r
            for r in member_rows(b, cid)
            if r["name"].casefold() == name.casefold() and r["member"] != you["public_key"]
        ]
        if taken:
            raise bad_value(
                f"{name!r} is already the name of {taken[0]['member_id']} in this community",
                "choose a name others can tell apart (e.g. add an initial)",
            )
    # profile.set replaces the whole profile: start from the current one, so that setting
    # --addr does not wipe the name and skills
    current = b.query("profile", community=cid, member=you["public_key"]) or {}
    body = {k: current[k] for k in PROFILE_FIELDS if current.get(k) not in (None, "", [])}
    body.update(changes)
    op = b.publish(cid, "profile.set", body)
    emit(o, {"op_id": op["op_id"], **body}, lambda c, d: c.print("Profile updated."))


@profile.command("show")
@click.argument("who", required=False)
@community_option
def profile_show(who, community) -> None:
    """Show a profile (yours by default)."""
    o, b, cid = in_community(community)
    target = pick_member(b, who, cid) if who else me(b)["member_id"]
    data = b.query("profile", community=cid, member=member_key(target).hex()) or {}
    data = {"member_id": target, **{k: v for k, v in data.items() if k not in ("c", "member")}}

    def render(c, d):
        for k in ("member_id", "display_name", "bio", "skills", "geohash", "addrs"):
            if d.get(k):
                v = d[k]
                c.print(f"[bold]{k:13}[/bold] {', '.join(v) if isinstance(v, list) else v}")
        if d.get("ts"):
            c.print(f"[bold]{'updated':13}[/bold] {rel_time(d['ts'])}")

    emit(o, data, render)
