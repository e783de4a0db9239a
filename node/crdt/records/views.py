"""Query views shaped for the control API and the CLI (JSON-friendly rows): scores, matches,
export. Pure, like every query: ``now`` is an argument."""

from __future__ import annotations

from fractions import Fraction

from ..state import State
from .common import NEED
from .score import contribution_scores

MemberRef = bytes | str  # see queries.as_key


def _decimal(x: Fraction, places: int = 2) -> str:
    """Exact decimal text of a non-negative fraction, rounded half up (display only)."""
    scaled = (x.numerator * 10**places * 2 + x.denominator) // (2 * x.denominator)
    whole, frac = divmod(scaled, 10**places)
    return f"{whole}.{frac:0{places}d}"


def scores(
    state: State, community: bytes, now: int, member: MemberRef | None = None, clock=None
) -> list[dict]:
    """Contribution scores at ``now`` (ms), highest first: ``score`` as exact ``[num, den]``,
    ``score_text`` as a 2-decimal string (minutes), ``confirmed`` = counted contributions."""
    from .queries import as_key, contributions

    who = None if member is None else as_key(member)
    values = contribution_scores(state, community, clock, now)
    counted: dict[bytes, int] = {}
    for v in contributions(state, community, clock=clock):
        if v["counts"]:
            counted[v["contributor"]] = counted.get(v["contributor"], 0) + 1
    rows = [
        {
            "member": m,
            "score": [s.numerator, s.denominator],
            "score_text": _decimal(s),
            "confirmed": counted.get(m, 0),
        }
        for m, s in values.items()
        if who is None or m == who
    ]
    if who is not None and not rows:
        rows = [{"member": who, "score": [0, 1], "score_text": "0.00", "confirmed": 0}]
    return sorted(rows, key=lambda r: (-Fraction(*r["score"]), r["member"]))


def matches(
    state: State,
    community: bytes,
    now_ms: int,
    need: bytes | None = None,
    offer: bytes | None = None,
    limit: int = 20,
) -> list[dict]:
    """Ranked matches for one need, one offer, or (neither given) every active need of the
    community, best first. Never commits anyone."""
    from .matching import needs_for_offer, offers_for_need

    if need is not None:
        found = offers_for_need(state, need, now_ms, limit=limit)
    elif offer is not None:
        found = needs_for_offer(state, offer, now_ms, limit=limit)
    else:
        found = []
        for row in state.table(NEED).values():
            if row["c"] == community:
                found += offers_for_need(state, row["id"], now_ms, limit=limit)
        found.sort(key=lambda m: (-m.score, m.need, m.offer))
        found = found[:limit]
    return [
        {
            "need": m.need,
            "offer": m.offer,
            "score": m.score,
            "reasons": list(m.reasons),
            "distance_m": m.distance_m,
        }
        for m in found
    ]


def export(
    state: State, community: bytes, now_ms: int, format: str = "jsonld", what: str = "all"
) -> dict | str:
    """ValueFlows JSON-LD (a document) or CSV (text; with ``what="all"`` the four tables
    one after the other, each after a ``# name`` line)."""
    from .export import to_csv, to_jsonld

    if format == "jsonld":
        doc = to_jsonld(state, community, now_ms)
        if what != "all":
            vf = {"offers": "offer", "needs": "request"}
            types = {"contributions": "vf:EconomicEvent", "attestations": "we:Attestation"}
            doc["@graph"] = [
                n
                for n in doc["@graph"]
                if (what in vf and n.get("vf:purpose") == vf[what])
                or n.get("@type") == types.get(what)
            ]
        return doc
    if format != "csv":
        raise ValueError(f"unknown export format {format!r}")
    tables = ("offers", "needs", "contributions", "attestations") if what == "all" else (what,)
    if len(tables) == 1:
        return to_csv(state, community, tables[0], now_ms)
    return "".join(f"# {t}\n{to_csv(state, community, t, now_ms)}" for t in tables)
