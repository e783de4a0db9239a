"""Pure read-only views over State for the node API, the CLI and governance: communities,
membership, projects, contributions and attestations (listings and reservations:
``listing_views``).

Time-dependent answers (expiry, scores) take ``now`` in ms as an argument; nothing here reads
a clock. Results are plain dicts/lists in a deterministic order, so two nodes with the same
ops print the same thing.
"""

from __future__ import annotations

from ..state import CHAIN_CUTS, Context, State, group, ranked
from . import score
from .common import (
    ATTESTATION,
    COMMUNITY,
    MEMBER,
    PROFILE,
    PROJECT,
    MemberRef,
    as_key,
    charter_in_clock,
    member_key,
    membership_periods,
    timeline,
    vouch_count,
    vouches_needed,
)
from .community import CHARTER_DEFAULTS, PROPOSAL_KINDS, voting_rule
from .devices import devices_of, standing
from .projects import runners
from .score import confirmations_needed, contribution_view


# ---------------------------------------------------------------------- community
def charter(state: State, community: bytes, clock=None) -> dict | None:
    """The community's charter with every amendment (or those inside ``clock``)."""
    com = state.get(COMMUNITY, community)
    return None if com is None else charter_in_clock(com, clock)


def community_info(state: State, community: bytes) -> dict | None:
    com = state.get(COMMUNITY, community)
    if com is None:
        return None
    charter = {**CHARTER_DEFAULTS, **charter_in_clock(com, None)}  # older charters: defaults
    return {
        "id": community,
        "founder": com["founder"],
        "created_ts": com["ts"],
        "charter": charter,
        # Every floor in force, defaults filled (specs/governance.md §1.7): what a proposal
        # of each kind must at least ask for.
        "voting": {kind: voting_rule(charter, kind) for kind in PROPOSAL_KINDS},
        "amendments": len(com["amendments"]),
        "members": sum(1 for m in members(state, community) if m["status"] == "member"),
    }


def _member_status(row: dict, rule: dict) -> str:
    if row["removed"]:
        return "removed"
    if row["join"] is None:
        return "invited" if row["vouchers"] else "none"
    if row["left"] is not None:
        return "left"
    if row["since"] is not None or rule["rule"] == "open":
        return "member"
    # Queries see the whole state: admitted once enough vouches exist at all.
    need = rule["vouches"]
    return "member" if vouch_count(row["vouchers"], need, lambda _: True) >= need else "candidate"


def members(state: State, community: bytes, include_pending: bool = True) -> list[dict]:
    """Every member row of the community with a derived status (member, candidate, left,
    removed, invited), sorted by member key; only admitted members when not
    ``include_pending``."""
    com = state.get(COMMUNITY, community)
    if com is None:
        return []
    rule = charter_in_clock(com, None)["membership"]
    out = []
    for row in state.rows(MEMBER, community):
        if row["c"] != community:
            continue
        out.append(
            {
                "member": row["member"],
                "status": _member_status(row, rule),
                "joined_ts": row["join_ts"],
                "vouched_by": [v[0] for v in row["vouchers"]],
                "profile": state.get(PROFILE, member_key(community, row["member"])),
            }
        )
    if not include_pending:
        out = [m for m in out if m["status"] == "member"]
    return sorted(out, key=lambda m: m["member"])


def members_in_cut(state: State, causal, community: bytes, clock) -> set[bytes]:
    """The members of ``community`` within a cut given as a vector clock (author -> seq), by
    the same rule as ``require_member``: inside the cut the member is in a membership period
    (joined, and not left since), no removal is inside the cut, and they are admitted (open
    rule, a member op of that period already inside the cut, or enough vouches inside the
    cut). For governance: eligibility at a proposal's cut. Every period is kept, so a cut
    inside an earlier period of a member who left and joined again is judged exactly."""
    com = state.get(COMMUNITY, community)
    if com is None:
        return set()
    ctx = Context(state, causal)

    def inside(op_id: bytes) -> bool:
        m = causal.meta(op_id)
        return clock.get(m.author, 0) >= m.seq

    rule = charter_in_clock(com, clock)["membership"]
    need_now = 0 if rule["rule"] == "open" else rule["vouches"]
    out = set()
    for row in state.rows(MEMBER, community):
        if row["c"] != community or row["join"] is None:
            continue
        have = clock.get(row["member"], 0)
        period = next(
            (p for p in membership_periods(row) if p[0] <= have and (p[2] is None or have < p[2])),
            None,
        )
        if period is None or any(inside(r) for r in row["removed"]):
            continue
        _join, join_id, _left, since, *_ = period
        if since is not None and since <= have:
            out.add(row["member"])
            continue
        need = need_now
        if need and com["amendments"]:
            need = min(need, vouches_needed(com, ctx, causal.meta(join_id)))
        if vouch_count(row["vouchers"], need, lambda v: inside(v[1])) >= need:
            out.add(row["member"])
    return out


def devices(state: State, community: bytes, member: MemberRef | None = None) -> list[dict]:
    """Linked devices (of ``member``, or of every member), oldest link first: ``{device,
    member, by, link, ts, status (active | revoked), cut}`` (``devices.py``)."""
    return devices_of(state, community, None if member is None else as_key(member))


def key_cut(state: State, community: bytes, member: MemberRef) -> int | None:
    """The seq above which the ops of key ``member`` (a member's key or a device's) in the
    community are void (revoked, removed, recovered away), or None."""
    return state.get(CHAIN_CUTS, community + as_key(member))


def key_standing(state: State, community: bytes, member: MemberRef) -> dict | None:
    """Why what key ``member`` (a member's key or a device's) signs next in the community
    counts nowhere: ``{state (revoked | replaced | removed), member, cut}``, or None while it
    counts (``devices.standing``)."""
    return standing(state, community, as_key(member))


def vouches(state: State, community: bytes) -> list[dict]:
    out = []
    for row in state.rows(MEMBER, community):
        if row["c"] == community:
            for voucher, op_id, ts, *founding in row["vouchers"]:
                out.append(
                    {
                        "voucher": voucher,
                        "member": row["member"],
                        "op": op_id,
                        "ts": ts,
                        "founding": bool(founding and founding[0]),
                    }
                )
    return sorted(out, key=lambda v: (v["member"], v["voucher"]))


def profile(state: State, community: bytes, member: MemberRef) -> dict | None:
    return state.get(PROFILE, member_key(community, as_key(member)))


# ------------------------------------------------------ projects and contributions
def projects(
    state: State,
    community: bytes,
    *,
    newest: int | None = None,
    runner: MemberRef | None = None,
) -> list[dict]:
    """Projects of a community, oldest first (by the time started, then id). ``newest``: the
    latest that many, latest first, read from the community's time line
    (``projects.by_runner``); ``runner``: only those the member runs (creator or maintainer),
    read from their group."""
    if runner is not None:
        who = as_key(runner)
        rows = state.rows_in(PROJECT, group(community, who))
    else:
        rows = state.rows_in(PROJECT, timeline(community))
    out = []
    for r in rows:
        if r["c"] != community or (runner is not None and who not in runners(r)):
            continue  # (two groups may share a key)
        out.append(
            {
                "id": r["id"],
                "creator": r["creator"],
                "maintainers": r["maintainers"],
                "ts": r["ts"],
                **r["fields"],
            }
        )
        if newest is not None and runner is None and len(out) >= newest:
            return out  # the time line's order: latest first
    out.sort(key=lambda p: (ranked(p["ts"]), p["id"]))
    return out if newest is None else out[::-1][:newest]


def contributions(
    state: State,
    community: bytes,
    *,
    member: MemberRef | None = None,
    project: bytes | None = None,
    clock=None,
    newest: int | None = None,
) -> list[dict]:
    """Contributions (as views with attestation counts and ``counts``), filtered by
    contributor and/or project, sorted by the time of the work then id. With ``newest``:
    the latest that many by the time of the work, latest first, read from the community's
    time line (``contributions.by_contributor``) until that many pass the filters."""
    member = None if member is None else as_key(member)
    com = state.get(COMMUNITY, community)
    if com is None:
        return []
    ch = charter_in_clock(com, clock)
    need = confirmations_needed(state, community, ch, clock)
    out = []
    rows = score.contribution_rows(state, community, member, project, newest is not None)
    for row, atts in rows:
        if newest is not None and len(out) >= newest:
            return out  # the time line's order: latest work first
        view = contribution_view(row, ch, clock, atts, need)
        if view is not None:
            out.append(view)
    if newest is not None:
        return out
    return sorted(out, key=lambda v: (v["fields"]["at"], v["id"]))


def attestations(state: State, community: bytes, contribution: bytes | None = None) -> list[dict]:
    """Every attestation entry (including superseded ones, marked ``latest: False``); with
    ``contribution``, that contribution's only (its attestations' keys start with its id)."""
    out = []
    for att in state.rows(ATTESTATION, contribution):
        if att["c"] != community:
            continue
        entries = att["entries"]
        for i, (verdict, version, seq, op_id, *_) in enumerate(entries):
            out.append(
                {
                    "id": op_id,
                    "contribution": att["contribution"],
                    "attester": att["attester"],
                    "verdict": verdict,
                    "version": version,
                    "seq": seq,
                    "latest": i == len(entries) - 1,
                }
            )
    return sorted(out, key=lambda a: (a["contribution"], a["attester"], a["seq"]))
