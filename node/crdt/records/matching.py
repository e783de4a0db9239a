"""Matching offers with needs: a pure ranking that says why each pair matched.

It never commits anyone: the result is shown to the local user, who may then request a
reservation. All scoring is integer arithmetic, ties are broken by listing id, so every node
ranks the same listings the same way.

A pair matches only if all hard conditions hold: both listings are active (not expired) at
``now``, they have different authors, the categories are equal or one contains the other,
the actions fit, the availability windows overlap (no windows: any time), and the places are
within reach (distance <= sum of both radii) unless one side is remote. Points (higher is
better) then rank the matches:

    category   40 same, 30 / 20 / 10 one / two / three+ levels apart
    action     20 exact fit, 15 close substitute, 5 weak substitute
    time       15 windows overlap, 10 either side any time
    place      20 remote; 20 - 20 * d / (reach + 1) by distance d; 0 place unknown
    quantity   10 offer covers the need (same unit), 5 partly, 0 different units
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

from ..state import State
from .common import NEED, OFFER
from .geo import Point, decode, distance_m
from .listings import category_group, effective_status, open_in

# (need action, offer action) -> points
ACTION_FIT = {
    ("lend", "lend"): 20,
    ("lend", "share-use"): 15,
    ("lend", "give"): 15,
    ("share-use", "share-use"): 20,
    ("share-use", "lend"): 15,
    ("share-use", "give"): 15,
    ("give", "give"): 20,
    ("give", "lend"): 5,
    ("service", "service"): 20,
    ("service", "work"): 15,
    ("work", "work"): 20,
    ("work", "service"): 15,
}


class Match(NamedTuple):
    offer: bytes
    need: bytes
    score: int
    reasons: tuple[str, ...]
    distance_m: int | None


def _category_points(a: str, b: str) -> tuple[int, str] | None:
    if a == b:
        return 40, f"same category {a}"
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if not long_.startswith(short + "/"):
        return None
    levels = long_.count("/") - short.count("/")
    return max(10, 40 - 10 * levels), f"category {short} contains {long_}"


def _overlap_ms(a: list, b: list) -> int:
    total = 0
    for s1, e1 in a:
        for s2, e2 in b:
            total += max(0, min(e1, e2) - max(s1, s2))
    return total


def _point(fields: dict, cache: dict) -> Point | None:
    gh = fields.get("geohash")
    if gh is None:
        return None
    p = cache.get(gh)
    if p is None:
        p = cache[gh] = decode(gh)
    return p


def pair_fit(need: dict, offer: dict, *, geo_cache: dict | None = None) -> Match | None:
    """Score one (need row, offer row) pair, or ``None`` if a hard condition fails. Rows are
    state rows (``fields`` inside); status/expiry are checked by the callers."""
    if need["author"] == offer["author"] or need["c"] != offer["c"]:
        return None
    n, o = need["fields"], offer["fields"]
    cat = _category_points(n["category"], o["category"])
    if cat is None:
        return None
    act = ACTION_FIT.get((n["action"], o["action"]))
    if act is None:
        return None
    score, reasons = cat[0] + act, [cat[1], f"action {o['action']} for {n['action']}"]
    if not n["windows"] or not o["windows"]:
        score += 10
        reasons.append("available any time")
    else:
        overlap = _overlap_ms(n["windows"], o["windows"])
        if not overlap:
            return None
        score += 15
        reasons.append(f"windows overlap {overlap // 60000} min")
    dist = None
    if n["remote"] or o["remote"]:
        score += 20
        reasons.append("remote")
    else:
        cache = {} if geo_cache is None else geo_cache
        pn, po = _point(n, cache), _point(o, cache)
        if pn is None or po is None:
            reasons.append("place unknown")
        else:
            dist = distance_m(pn, po)
            reach = n["radius_m"] + o["radius_m"]
            if dist > reach:
                return None
            score += 20 - 20 * dist // (reach + 1)
            reasons.append(f"{dist} m away (reach {reach} m)")
    nq, oq = n["quantity"], o["quantity"]
    if nq["unit"] != oq["unit"]:
        reasons.append(f"units differ ({oq['unit']} vs {nq['unit']})")
    elif oq["amount"] >= nq["amount"]:
        score += 10
        reasons.append(f"quantity {oq['amount']} covers {nq['amount']} {nq['unit']}")
    else:
        score += 5
        reasons.append(f"partial quantity {oq['amount']} of {nq['amount']} {nq['unit']}")
    return Match(offer["id"], need["id"], score, tuple(reasons), dist)


def _active(row: dict, now_ms: int) -> bool:
    return effective_status(row, now_ms) == "active"


def _rank(matches: list[Match], other: str, limit: int | None) -> list[Match]:
    def key(m: Match):
        return (-m.score, getattr(m, other))

    if limit is None:
        return sorted(matches, key=key)
    return heapq.nsmallest(limit, matches, key=key)


def offers_for_need(
    state: State, need_id: bytes, now_ms: int, *, limit: int | None = 20
) -> list[Match]:
    """Active offers that fit an active need, best first (ties by offer id)."""
    return match_listing(state, NEED, need_id, now_ms, limit)


def needs_for_offer(
    state: State, offer_id: bytes, now_ms: int, *, limit: int | None = 20
) -> list[Match]:
    """Active needs that an active offer fits, best first (ties by need id)."""
    return match_listing(state, OFFER, offer_id, now_ms, limit)


def match_listing(
    state: State, family: str, listing_id: bytes, now_ms: int, limit, index=None, geo=None
) -> list[Match]:
    """Active listings of the other family that fit the active listing ``listing_id``.
    ``index``: :func:`by_category` of the other family at ``now_ms``, when several listings
    are matched against it (built once, not once per listing); without it the other
    family's categories with open listings give the groups to read (``State.groups``).
    ``geo``: decoded places (geohash -> point), shared by such calls."""
    other = OFFER if family == NEED else NEED
    row = state.get(family, listing_id)
    if row is None or not _active(row, now_ms):
        return []
    category = row["fields"]["category"]
    if index is None:
        # the other family's categories with open listings, then the active ones of those
        # that fit: a need reads the live offers of its own categories, nothing else
        cands = (
            r
            for cat in categories(state, other, row["c"])
            if fits(cat, category)
            for r in open_in(state, other, row["c"], cat, now_ms)
        )
    else:
        cands = compatible(index, category)
    cache: dict = {} if geo is None else geo
    found = []
    for cand in cands:  # active at now_ms (``open_in``)
        need, offer = (row, cand) if family == NEED else (cand, row)
        m = pair_fit(need, offer, geo_cache=cache)
        if m is not None:
            found.append(m)
    return _rank(found, other, limit)


def fits(cat: str, category: str) -> bool:
    """``cat`` equals ``category``, lies below it, or contains it."""
    n = len(category)
    return (
        cat == category
        or cat.startswith(category + "/")
        or (len(cat) < n and category[len(cat)] == "/" and category.startswith(cat))
    )


def categories(state: State, family: str, community: bytes) -> list[str]:
    """The categories in which ``family`` has open listings (``listings.where_listed``)."""
    prefix = category_group(community, "")
    return [g[len(prefix) :].decode() for g in state.groups(family, prefix)]


def by_category(state: State, family: str, community: bytes, now_ms: int) -> dict[str, list]:
    """The listings of ``family`` in ``community`` active at ``now_ms``, by category: read
    once, after which a listing's candidates are found without looking at the others."""
    return {
        cat: rows
        for cat in categories(state, family, community)
        if (rows := list(open_in(state, family, community, cat, now_ms)))
    }


def compatible(index: dict[str, list], category: str):
    """Listings of ``index`` whose category can match ``category`` (the hard condition of
    :func:`pair_fit`: equal, or one contains the other): its ancestors, itself and what lies
    below it. Each listing once."""
    parts = category.split("/")
    for i in range(1, len(parts) + 1):
        yield from index.get("/".join(parts[:i]), ())
    below = category + "/"
    for cat, rows in index.items():
        if cat.startswith(below):
            yield from rows
