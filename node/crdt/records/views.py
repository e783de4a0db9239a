"""Query views shaped for the control API and the CLI (JSON-friendly rows): scores, matches,
export. Pure, like every query: ``now`` is an argument."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from ..state import State, group
from .common import (
    ATTESTATION,
    COMMUNITY,
    CONTRIBUTION,
    MEMBER,
    NEED,
    OFFER,
    PROFILE,
    PROJECT,
    MemberRef,
    as_key,
    charter_in_clock,
    member_key,
    membership_periods,
)
from .contributions import of_project, project_rank, using_skill
from .export import to_csv, to_jsonld
from .matching import by_category, match_listing, needs_for_offer, offers_for_need
from .projects import runners
from .score import confirmations_needed, contribution_view, scores_and_counts


def _decimal(x: Fraction, places: int = 2) -> str:
    """Exact decimal text of a non-negative fraction, rounded half up (display only)."""
    scaled = (x.numerator * 10**places * 2 + x.denominator) // (2 * x.denominator)
    whole, frac = divmod(scaled, 10**places)
    return f"{whole}.{frac:0{places}d}"


def scores(
    state: State,
    community: bytes,
    now: int,
    member: MemberRef | None = None,
    clock=None,
    done_by_now: bool = False,
) -> list[dict]:
    """Contribution scores at ``now`` (ms), highest first: ``score`` as exact ``[num, den]``,
    ``score_text`` as a 2-decimal string (minutes), ``confirmed`` = counted contributions.
    ``done_by_now``: from the work of days up to ``now`` only (the rule counts later work
    whole): a past point of a curve of scores."""
    who = None if member is None else as_key(member)
    values, counted = scores_and_counts(state, community, clock, now, who, done_by_now)
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
    author: MemberRef | None = None,
    limit: int = 20,
) -> list[dict]:
    """Ranked matches for one need, one offer, or (neither given) every active need of the
    community (``author``: only that member's needs), best first, with both titles. Never
    commits anyone. The candidates come from the categories' lists of open listings
    (``listings.open_in``): a match costs the live listings whose category fits, not every
    listing ever made; every member's needs at once read each family's open listings once."""
    if need is not None:
        found = offers_for_need(state, need, now_ms, limit=limit)
    elif offer is not None:
        found = needs_for_offer(state, offer, now_ms, limit=limit)
    else:
        who = None if author is None else as_key(author)
        if who is None:  # every active need, against every active offer read once
            index = by_category(state, OFFER, community, now_ms)
            mine = [
                r for rows in by_category(state, NEED, community, now_ms).values() for r in rows
            ]
        else:  # the member's needs, each against the active offers of its categories
            index = None
            mine = [r for r in state.rows_in(NEED, group(community, who)) if r["author"] == who]
        found, geo = [], {}
        for row in mine:
            if row["c"] == community:
                found += match_listing(state, NEED, row["id"], now_ms, limit, index, geo)
        found.sort(key=lambda m: (-m.score, m.need, m.offer))
        found = found[:limit]
    title = {}
    for m in found:
        for table, key in ((NEED, m.need), (OFFER, m.offer)):
            if key not in title:
                title[key] = state.get(table, key)["fields"]["title"]
    return [
        {
            "need": m.need,
            "offer": m.offer,
            "score": m.score,
            "reasons": list(m.reasons),
            "distance_m": m.distance_m,
            "need_title": title[m.need],
            "offer_title": title[m.offer],
        }
        for m in found
    ]


def export(
    state: State, community: bytes, now_ms: int, format: str = "jsonld", what: str = "all"
) -> dict | str:
    """ValueFlows JSON-LD (a document) or CSV (text; with ``what="all"`` the four tables
    one after the other, each after a ``# name`` line)."""
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


def attestations_asked(state: State, community: bytes, member: MemberRef) -> list[dict]:
    """The contributions whose attestation is asked of ``member`` (specs/cli.md §9), each
    with ``why``: not counted yet, not retracted, by another member, not attested by
    ``member`` in its current version, and ``member`` is one of its **attesters**: the
    creator and maintainers of its project; else (a contribution to the community, or to a
    project the contributor alone runs) the members who vouched for the contributor and the
    members whose profile lists the contribution's skill; and when that names nobody, every
    member. Oldest work first.

    Read from what concerns ``member``, not from the community's history (the contribution
    and project orders): the work on the projects they run, the own work (``_own_work``) of
    the members they vouched for and of the members nobody vouched for, and the work that
    uses a skill their profile lists. Each of those is then judged by the rule above."""
    me = as_key(member)
    com = state.get(COMMUNITY, community)
    if com is None or state.get(MEMBER, member_key(community, me)) is None:
        return []
    holders: dict[str, set[bytes]] = {}  # skill -> members whose profile lists it
    for prof in state.rows(PROFILE, community):
        if prof["c"] == community:
            for sk in prof.get("skills") or []:
                holders.setdefault(sk, set()).add(prof["member"])
    vouchers: dict[bytes, set[bytes]] = {}  # who -> who vouched for them
    worked: set[bytes] = set()  # members ever admitted: only they can have recorded work
    for row in state.rows(MEMBER, community):
        if row["c"] == community:
            vouchers[row["member"]] = {v[0] for v in row.get("vouchers", [])} - {row["member"]}
            if any(period[3] is not None for period in membership_periods(row)):
                worked.add(row["member"])
    found: dict[bytes, dict] = {}
    for project in state.rows_in(PROJECT, group(community, me)):
        if project["c"] == community and me in runners(project):
            for row in state.rows_in(CONTRIBUTION, of_project(community, project["id"])):
                found.setdefault(row["id"], row)
    for who, theirs in vouchers.items():
        # a candidate never admitted has no work: strangers' joins cost no index reads
        if who != me and who in worked and (me in theirs or not theirs):
            for row in _own_work(state, community, who):
                found.setdefault(row["id"], row)
    for sk, members in holders.items():
        if me in members:
            for row in state.rows_in(CONTRIBUTION, using_skill(community, sk)):
                found.setdefault(row["id"], row)

    charter = charter_in_clock(com, None)
    need = confirmations_needed(state, community, charter, None)
    out = []
    for row in found.values():
        who = row["contributor"]
        if row["c"] != community or who == me:
            continue
        atts = list(state.rows(ATTESTATION, row["id"]))
        c = contribution_view(row, charter, None, atts, need)
        if c is None or c["counts"] or c["retracted"]:
            continue
        mine = (a for a in atts if a["attester"] == me)
        if any(entry[1] == c["version"] for a in mine for entry in a["entries"]):
            continue  # attested by ``member`` in its current version
        project = state.get(PROJECT, row["project"]) if row["project"] else None
        team = set() if project is None else runners(project)
        if team - {who}:
            why = "you run its project" if me in team else None
        else:
            theirs = vouchers.get(who, set())
            skill = c["fields"].get("skill")
            skilled = holders.get(skill, set()) - {who} if skill else set()
            if me in theirs:
                why = "you vouched for its author"
            elif me in skilled:
                why = f"it uses your skill {skill}"
            elif not theirs and not skilled:
                why = "any member may attest it (no project team, voucher or skill holder)"
            else:
                why = None
        if why is not None:
            out.append({**c, "why": why})
    return sorted(out, key=lambda v: (v["fields"]["at"], v["id"]))


def _own_work(state: State, community: bytes, member: bytes) -> Iterator[dict]:
    """``member``'s contributions to the community itself or to projects they alone run:
    those whose attesters are named by the member's vouchers and skills, or are everyone.
    Read from the indexes: the projects of rank 1 in the member's project group (a team of
    one), then the contributions of those projects' ranks in the member's contribution
    group; not every contribution of theirs."""
    alone = {None, *state.keys_in(PROJECT, group(community, member), ranks=(1,))}
    ranks = {project_rank(p) for p in alone}
    for row in state.rows_in(CONTRIBUTION, group(community, member), ranks):
        if row["c"] == community and row["contributor"] == member and row["project"] in alone:
            yield row
