"""`we match`: offers that fit needs (and needs that fit offers), ranked, with reasons."""

from __future__ import annotations

import click

from ..context import command
from ..output import Shortener, emit_table, resolve, safe_markup
from ._common import community_option, in_community, me


@command("match")
@click.argument("id", required=False)
@click.option("--limit", type=click.IntRange(1), default=10, show_default=True)
@click.option("--all", "everyone", is_flag=True, help="Every member's needs, not only yours.")
@community_option
def match(id, limit, everyone, community) -> None:
    """Offers that fit a need, or needs that fit an offer (default: your active needs).
    Matching only suggests: nothing is committed until you `we reserve`."""
    o, b, cid = in_community(community)
    args = {"community": cid, "limit": limit}
    if id:
        family, full = _find_listing(b, cid, id)
        args[family] = full
    elif not everyone:
        args["author"] = me(b)["public_key"]
    rows = list(b.query("matches", **args) or [])
    short = Shortener([r["need"] for r in rows] + [r["offer"] for r in rows])

    emit_table(
        o,
        rows,
        ["need", "offer", "points", "why"],
        lambda r: [
            f"{short(r['need'])} {safe_markup(r.get('need_title', ''))}",
            f"{short(r['offer'])} {safe_markup(r.get('offer_title', ''))}",
            r.get("score"),
            "; ".join(r.get("reasons", [])),
        ],
        title="{n} match(es)",
    )


def _find_listing(b, cid: str, prefix: str) -> tuple[str, str]:
    """("need" | "offer", full id) of the one listing whose id starts with ``prefix``: asked of
    the listings view with ``id_prefix`` (a page of two is enough to see an ambiguity), so
    a community with 100,000 listings is not sent over the socket."""
    if not all(c in "0123456789abcdefABCDEF" for c in prefix):
        rows = []
    else:
        rows = [
            (family, r["id"])
            for family in ("offer", "need")
            for r in b.query(f"{family}s", community=cid, status=None, id_prefix=prefix, limit=2)
            or []
        ]
    full = resolve(prefix, [i for _, i in rows], "offer or need")
    return next((f, i) for f, i in rows if i == full)
