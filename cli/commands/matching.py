"""`we match`: offers that fit needs (and needs that fit offers), ranked, with reasons."""

from __future__ import annotations

import click

from ..context import command
from ..output import Shortener, emit_table, resolve, safe_markup
from ._common import community_option, in_community


@command("match")
@click.argument("id", required=False)
@click.option("--limit", type=click.IntRange(1), default=10, show_default=True)
@community_option
def match(id, limit, community) -> None:
    """Offers that fit a need, or needs that fit an offer (default: all your active needs).
    Matching only suggests: nothing is committed until you `we reserve`."""
    o, b, cid = in_community(community)
    offers = b.query("offers", community=cid, status=None) or []
    needs = b.query("needs", community=cid, status=None) or []
    args = {"community": cid, "limit": limit}
    if id:
        full = resolve(id, [r["id"] for r in offers + needs], "offer or need")
        args["need" if full in {r["id"] for r in needs} else "offer"] = full
    rows = list(b.query("matches", **args) or [])
    titles = {r["id"]: safe_markup(r["title"]) for r in offers + needs}
    short = Shortener(list(titles))

    emit_table(
        o,
        rows,
        ["need", "offer", "points", "why"],
        lambda r: [
            f"{short(r['need'])} {titles.get(r['need'], '')}",
            f"{short(r['offer'])} {titles.get(r['offer'], '')}",
            r.get("score"),
            "; ".join(r.get("reasons", [])),
        ],
        title="{n} match(es)",
    )
