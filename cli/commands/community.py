"""Communities, members and profiles."""

from __future__ import annotations

import click

from ..context import group, obj
from ..errors import bad_value
from ..output import Shortener, emit, rel_time, table
from ._common import community_option, member_key, pick_community, pick_member


@group("community", help="Create, list, share and join communities.")
def community() -> None:
    pass


@community.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the community is for.")
@click.option(
    "--vouches",
    type=click.IntRange(0, 100),
    default=1,
    show_default=True,
    help="Distinct members who must vouch for a newcomer (0 = open community).",
)
@click.option(
    "--attestations",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Confirmations a contribution needs to count.",
)
@click.option(
    "--half-life",
    "half_life",
    type=click.IntRange(1),
    default=180,
    show_default=True,
    help="Contribution score half-life in days.",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="Member id of a witness who seals votes (repeatable; default: you).",
)
def create(name, description, vouches, attestations, half_life, witnesses) -> None:
    """Create a community with you as its first member."""
    o = obj()
    b = o.backend()
    charter = {
        "name": name,
        "description": description,
        "membership": {"rule": "open"} if vouches == 0 else {"rule": "vouched", "vouches": vouches},
        "attestation": {"confirmations": attestations, "max_disputes": 0},
        "half_life_days": half_life,
    }
    if witnesses:
        charter["witnesses"] = [member_key(w) for w in witnesses]
    result = b.call("create_community", {"charter": charter})
    cid = result["id"] if isinstance(result, dict) else result
    emit(
        o,
        {"id": cid, "name": name},
        lambda c, d: (
            c.print(f"Created community [bold]{name}[/bold] {d['id']}"),
            c.print("Share it with `we community info`; others join with `we community join`."),
        ),
    )


@community.command("list")
def list_() -> None:
    """Communities this node holds."""
    o = obj()
    rows = list(o.backend().query("communities") or [])
    short = Shortener(r["id"] for r in rows)
    emit(
        o,
        rows,
        lambda c, d: c.print(
            table(
                None,
                ["id", "name", "members", "created"],
                [
                    [short(r["id"]), r.get("name"), r.get("members"), rel_time(r.get("created"))]
                    for r in d
                ],
            )
        ),
    )


@community.command("info")
@community_option
def info(community) -> None:
    """One line another person pastes into `we community join`."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    st = b.call("status")
    addrs = [a for a in st.get("listen_addrs", []) if "/p2p/" in a] or [
        f"{a}/p2p/{st['member_id']}" for a in st.get("listen_addrs", [])
    ]
    line = join_line(cid, addrs)
    emit(o, {"id": cid, "addrs": addrs, "line": line}, lambda c, d: print(d["line"]))


def join_line(cid: str, addrs: list[str]) -> str:
    return f"we:{cid}" + ("@" + ",".join(addrs) if addrs else "")


def parse_join_line(line: str) -> tuple[str, list[str]]:
    text = line.strip()
    if not text.startswith("we:"):
        raise bad_value(
            f"{line!r} is not a join line", "copy the whole line printed by `we community info`"
        )
    cid, _, rest = text[3:].partition("@")
    try:
        if len(bytes.fromhex(cid)) != 32:
            raise ValueError
    except ValueError:
        raise bad_value(
            f"{cid!r} is not a community id", "copy the whole line printed by `we community info`"
        ) from None
    addrs = [a for a in rest.split(",") if a]
    bad = [a for a in addrs if not a.startswith("/")]
    if bad:
        raise bad_value(f"{bad[0]!r} is not a multiaddr")
    return cid, addrs


@community.command("join")
@click.argument("line")
@click.option("--note", default="", help="A word to the members who will vouch for you.")
@click.option(
    "--timeout",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Seconds to wait for the community to sync.",
)
def join(line, note, timeout) -> None:
    """Join a community from the line `we community info` printed (needs the daemon)."""
    from ..backend import open_backend

    o = obj()
    cid, addrs = parse_join_line(line)
    b = open_backend(o.data_dir, require_daemon=True)
    try:
        result = b.call(
            "join", {"community": cid, "addrs": addrs, "note": note, "timeout": timeout}
        )
    finally:
        b.close()
    _remember_bootstrap(o.data_dir, addrs)
    emit(
        o,
        result,
        lambda c, d: (
            c.print(f"Asked to join community {cid[:12]}."),
            c.print("A member admits you with `we member vouch YOUR_ID` (`we id` shows it)."),
        ),
    )


def _remember_bootstrap(data_dir, addrs) -> None:
    from ..config import load_config, save_config

    cfg = load_config(data_dir)
    new = [a for a in addrs if a not in cfg.bootstrap]
    if new and data_dir.exists():
        cfg.bootstrap += new
        save_config(data_dir, cfg)


@group("member", help="Members of a community, and vouching for newcomers.")
def member() -> None:
    pass


@member.command("list")
@community_option
def member_list(community) -> None:
    """Members and people asking to join."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rows = list(b.query("members", community=cid, include_pending=True) or [])
    short = Shortener(r["member_id"] for r in rows)
    emit(
        o,
        rows,
        lambda c, d: c.print(
            table(
                None,
                ["member", "name", "status", "vouched by", "since"],
                [
                    [
                        short(r["member_id"]),
                        r.get("name"),
                        r.get("status"),
                        ", ".join(short(v) for v in r.get("vouchers", [])),
                        rel_time(r.get("since")),
                    ]
                    for r in d
                ],
            )
        ),
    )


@member.command("vouch")
@click.argument("who")
@community_option
def vouch(who, community) -> None:
    """Vouch for WHO (member id prefix or name) so they may join."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    mid = pick_member(b, who, cid)
    op = b.publish(cid, "member.vouch", {"member": member_key(mid)})
    emit(o, {"op": op, "member_id": mid}, lambda c, d: c.print(f"Vouched for {mid}"))


@group("profile", help="Your member profile: name, skills, rough location, addresses.")
def profile() -> None:
    pass


@profile.command("set")
@click.option("--name", help="Display name.")
@click.option("--skill", "skills", multiple=True, help="A skill tag (repeatable).")
@click.option("--geohash", help="Coarse location as a geohash prefix (e.g. u0vu).")
@community_option
def profile_set(name, skills, geohash, community) -> None:
    """Set your profile in a community."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    body = {}
    if name is not None:
        body["display_name"] = name
    if skills:
        body["skills"] = list(skills)
    if geohash is not None:
        body["geohash"] = geohash
    if not body:
        raise bad_value("nothing to set", "give --name, --skill or --geohash")
    op = b.publish(cid, "profile.set", body)
    emit(o, {"op": op, **body}, lambda c, d: c.print("Profile updated."))


@profile.command("show")
@click.argument("who", required=False)
@community_option
def profile_show(who, community) -> None:
    """Show a profile (yours by default)."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    mid = pick_member(b, who, cid) if who else b.call("status")["member_id"]
    data = b.query("profile", community=cid, member=mid) or {"member_id": mid}

    def render(c, d):
        for k in ("member_id", "name", "skills", "geohash", "addrs"):
            if d.get(k):
                v = d[k]
                c.print(f"{k:10} {', '.join(v) if isinstance(v, list) else v}")

    emit(o, data, render)
