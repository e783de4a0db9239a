"""Which contributions count, and the contribution score: bit-exact on every machine.

A contribution *counts* (within a cut, or in the whole state) when it is not retracted and,
among the latest attestation of each member on its current version, at least
``charter.attestation.confirmations`` confirm and at most ``charter.attestation.max_disputes``
dispute.

Score of a member = min(cap, sum over their counted contributions of
``effort_minutes * decay(now - at)``), where ``decay(age) = 2^(-age / H)`` and H is the
charter's half-life in ms. No floats, no libm: decay is computed in fixed point with
``SCALE_BITS`` = 62 fractional bits. The age is floored to a multiple of H / 2^FRAC_BITS
(FRAC_BITS = 20), q = floor(age * 2^20 / H); whole = q >> 20 halvings and the fraction
f = q & (2^20 - 1) uses the constants R_i = floor(2^62 * 2^(-1/2^i)), each computed exactly
as an integer square root of the one before (R_0 = 2^61; R_i = isqrt(R_{i-1} * 2^62)):

    D = 2^62;  for i in 1..20: if bit (20 - i) of f is set: D = (D * R_i) >> 62
    D = D >> whole;  decay = D / 2^62

The result is a Fraction with denominator 2^62 (times minutes). Error: the age quantisation
overestimates decay by at most a factor 2^(2^-20) (about 6.6e-7 relative), and each of at
most 20 truncations loses under 2^-62.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from fractions import Fraction
from math import isqrt

from ..state import State, group
from .common import (
    ATTESTATION,
    COMMUNITY,
    CONTRIBUTION,
    DAY_MS,
    MEMBER,
    charter_in_clock,
    timeline,
)
from .contributions import of_project, project_rank

SCALE_BITS = 62
FRAC_BITS = 20
ONE = 1 << SCALE_BITS


def _roots() -> tuple[int, ...]:
    roots = [ONE >> 1]  # 2^-1
    for _ in range(FRAC_BITS):
        roots.append(isqrt(roots[-1] << SCALE_BITS))
    return tuple(roots)


ROOTS = _roots()  # ROOTS[i] = floor(2^62 * 2^(-1/2^i))


# (bit of the exponent's fraction, its root), most significant first: the order of the
# truncating multiplications the rule fixes
STEPS = tuple((1 << (FRAC_BITS - i), ROOTS[i]) for i in range(1, FRAC_BITS + 1))


def decay_fixed(age_ms: int, half_life_ms: int) -> int:
    """2^(-age/half_life) as an integer scaled by 2^62 (see module doc). The score table
    computes one per counted contribution: a plain loop over the fraction's bits."""
    if age_ms <= 0:
        return ONE
    q = (age_ms << FRAC_BITS) // half_life_ms
    whole = q >> FRAC_BITS
    if whole >= SCALE_BITS:
        return 0
    d = ONE
    for bit, root in STEPS:
        if q & bit:
            d = d * root >> SCALE_BITS
    return d >> whole


def decay(age_ms: int, half_life_ms: int) -> Fraction:
    return Fraction(decay_fixed(age_ms, half_life_ms), ONE)


Clock = Mapping[bytes, int] | None


def _within(clock: Clock, author: bytes, seq: int) -> bool:
    return clock is None or clock.get(author, 0) >= seq


def contribution_rows(
    state: State,
    community: bytes,
    member: bytes | None = None,
    project: bytes | None = None,
    latest_first: bool = False,
) -> Iterator[tuple[Mapping, list[dict]]]:
    """(contribution row, its attestation rows) of a community, or of one member or one
    project of it. For a member or a project only its rows are read (the contribution order,
    ``contributions.by_contributor``) and each one's attestations by key prefix; for the
    community, every attestation in one pass. ``latest_first``: the community's time line,
    the latest work first (lazily: a caller that needs a few reads only those)."""
    if member is not None or project is not None or latest_first:
        if latest_first:
            rows = state.rows_in(CONTRIBUTION, timeline(community))
        elif member is not None:
            ranks = None if project is None else (project_rank(project),)
            rows = state.rows_in(CONTRIBUTION, group(community, member), ranks)
        else:
            rows = state.rows_in(CONTRIBUTION, of_project(community, project))
        for row in rows:
            if row["c"] != community:
                continue
            if member is not None and row["contributor"] != member:
                continue
            if project is not None and row["project"] != project:
                continue
            yield row, list(state.rows(ATTESTATION, row["id"]))
        return
    index: dict[bytes, list[dict]] = {}  # contribution id -> its attestation rows
    for att in state.rows(ATTESTATION):
        if att["c"] == community:
            index.setdefault(att["contribution"], []).append(att)
    for row in state.rows(CONTRIBUTION):
        if row["c"] == community:
            yield row, index.get(row["id"], [])


def confirmations_needed(state: State, community: bytes, charter: Mapping, clock: Clock) -> int:
    """The charter's ``attestation.confirmations``, lowered while the community is too small to
    give that many: at most the number of other members (at least 1 when the charter asks
    for any). Members are counted as those seen acting as members within the cut (member
    rows with ``since`` inside it, not removed), so the number is the same on every node."""
    want = charter["attestation"]["confirmations"]
    if want <= 1:
        return want
    n = 0
    for row in state.rows(MEMBER, community):
        if row["c"] == community and row["since"] is not None and not row["removed"]:
            if _within(clock, row["member"], row["since"]):
                n += 1
                if n > want:
                    break
    return max(1, min(want, n - 1))


def contribution_view(
    row: Mapping,
    charter: Mapping,
    clock: Clock = None,
    attestations: list[dict] = (),
    need: int | None = None,
) -> dict | None:
    """The contribution as seen in a cut: its fields, version, attestation counts and whether
    it counts. ``attestations``: its rows from ``contribution_rows``; ``need``: the
    confirmations it needs (``confirmations_needed``; default the charter's). ``None`` when
    the contribution itself is outside the cut."""
    contributor = row["contributor"]
    by = row.get("by", contributor)  # the signing key: the clock counts keys' chains
    if not _within(clock, by, row["seq"]):
        return None
    fields = dict(row["base"])
    version, retracted = 0, False
    for seq, _id, changes, retract in row["corrections"]:
        if _within(clock, by, seq):
            fields.update(changes)
            version += 1
            retracted = retracted or retract
    confirms = disputes = 0
    for att in attestations:
        latest = None
        attester = att["attester"]
        for entry in att["entries"]:  # in order: the last one inside the cut wins
            if _within(clock, entry[4] if len(entry) > 4 else attester, entry[2]):
                latest = entry
        if latest is not None and latest[1] == version:
            if latest[0] == "confirm":
                confirms += 1
            else:
                disputes += 1
    rule = charter["attestation"]
    need = rule["confirmations"] if need is None else need
    counts = not retracted and confirms >= need and disputes <= rule["max_disputes"]
    return {
        "id": row["id"],
        "contributor": contributor,
        "project": row["project"],
        "fields": fields,
        "version": version,
        "retracted": retracted,
        "confirmations": confirms,
        "disputes": disputes,
        "counts": counts,
    }


def contribution_scores(
    state: State, community: bytes, clock: Clock, now_ms: int, member: bytes | None = None
) -> dict[bytes, Fraction]:
    """Score per member (members without counted effort are absent, i.e. 0). ``clock``
    (author -> seq, e.g. ``CausalIndex.vector_clock`` of a proposal) restricts every input to
    that cut: contributions, corrections, attestations and charter amendments. ``member``:
    that member's score alone, from their rows alone (a score depends on nobody else's)."""
    return scores_and_counts(state, community, clock, now_ms, member)[0]


def scores_and_counts(
    state: State, community: bytes, clock: Clock, now_ms: int, member: bytes | None = None
) -> tuple[dict[bytes, Fraction], dict[bytes, int]]:
    """:func:`contribution_scores`, and the number of counted contributions per member (with
    or without minutes), from the same single pass over the rows: the score table shows
    both, and at a million ops each pass over every contribution takes seconds."""
    com = state.get(COMMUNITY, community)
    if com is None:
        return {}, {}
    charter = charter_in_clock(com, clock)
    need = confirmations_needed(state, community, charter, clock)
    if clock is None:  # the whole state: any new op may change it
        return _scores_and_counts(state, community, charter, need, clock, now_ms, member)
    # Within a cut the answer is fixed (see ``memo_key``): a tally asks it again for every
    # view of the proposal and every ``decision.enact`` of it, which any member may sign
    # again and again, and each answer reads every contribution in the cut.
    key = memo_key(community, charter, need, clock, now_ms, member)
    known = state.recall(key)
    if known is None:
        known = _scores_and_counts(state, community, charter, need, clock, now_ms, member)
        state.remember(key, known)
    scores, counts = known
    return dict(scores), dict(counts)


def memo_key(community, charter, need, clock, now_ms, member) -> tuple:
    """What a score within a cut depends on besides the rows inside the cut, which no later
    write changes: contributions and attestations only ever gain entries (corrections,
    verdicts) signed outside the cut, which ``contribution_view`` leaves out by ``clock``, and
    every op inside the cut was applied before any op that has the cut in its past. Only a
    rebuild deletes rows, and a deletion forgets every memo (``State.remember``). What the
    cut does not fix is in the key: the confirmations needed (``removed`` members are not
    counted, whenever removed) and the charter's rules as read within the cut."""
    rule, bounds = charter["attestation"], charter.get("contribution") or {}
    return (
        "scores",
        community,
        frozenset(clock.items()),
        now_ms,
        member,
        need,
        rule["max_disputes"],
        charter["half_life_days"],
        bounds.get("max_minutes"),
        bounds.get("max_minutes_per_day"),
        charter.get("score_cap"),
    )


def _scores_and_counts(state, community, charter, need, clock, now_ms, member):
    half_life = charter["half_life_days"] * DAY_MS
    bounds = charter.get("contribution") or {}
    per_record = bounds.get("max_minutes")
    per_day = bounds.get("max_minutes_per_day")
    counted: list[tuple[bytes, int, bytes, int]] = []  # (member, at, id, minutes)
    counts: dict[bytes, int] = {}
    if member is not None:  # their rows alone
        found = _counted(state, community, charter, need, clock, member)
    elif clock is None:
        found = _counted_now(state, community, charter, need)
    elif (changed := state.beyond(community, clock)) is not None:
        found = _counted_in_cut(state, community, charter, need, clock, changed)
    else:  # no log at hand: every row within the cut
        found = _counted(state, community, charter, need, clock, None)
    for contributor, at, cid, minutes in found:
        counts[contributor] = counts.get(contributor, 0) + 1
        if minutes:
            if per_record is not None:
                minutes = min(minutes, per_record)
            counted.append((contributor, at, cid, minutes))
    totals: dict[bytes, int] = {}
    day_used: dict[tuple[bytes, int], int] = {}
    for member, at, _id, minutes in sorted(counted):  # a day's cap is taken in (at, id) order
        if per_day is not None:
            day = (member, at // DAY_MS)
            minutes = min(minutes, per_day - day_used.get(day, 0))
            day_used[day] = day_used.get(day, 0) + minutes
        if minutes > 0:
            weighted = minutes * decay_fixed(now_ms - at, half_life)
            totals[member] = totals.get(member, 0) + weighted
    cap = charter.get("score_cap")
    scores = {}
    for member, total in totals.items():
        score = Fraction(total, ONE)
        scores[member] = min(score, Fraction(cap)) if cap is not None else score
    return scores, counts


Counted = Iterator[tuple[bytes, int, bytes, int]]  # (contributor, at, id, effort minutes or 0)


def _counted(state, community, charter, need, clock, member) -> Counted:
    """The counted contributions of the community (or of ``member``) within ``clock``, from
    their rows and their attestations' rows (``contribution_view``)."""
    for row, atts in contribution_rows(state, community, member):
        view = contribution_view(row, charter, clock, atts, need)
        if view is not None and view["counts"]:
            fields = view["fields"]
            yield view["contributor"], fields["at"], view["id"], fields.get("effort_minutes", 0)


def _counted_now(state, community, charter, need, skip: Collection[bytes] = ()) -> Counted:
    """:func:`_counted` of the whole state, from the contributions' summaries (``contributions.
    contribution_summary``: the latest version and the verdicts on it, as
    ``contribution_view`` finds them in the rows): one small record a contribution instead of
    its row and its attestations' rows decoded whole. Without the contributions in ``skip``."""
    most = charter["attestation"]["max_disputes"]
    for key, summary in state.summaries(CONTRIBUTION, community):
        contributor, at, minutes, _version, retracted, confirms, disputes = summary
        if not retracted and confirms >= need and disputes <= most and key not in skip:
            yield contributor, at, key, minutes


def _counted_in_cut(state, community, charter, need, clock, changed) -> Counted:
    """:func:`_counted` within ``clock``, knowing the ops logged past it (``changed``,
    ``State.beyond``). A contribution that none of them recorded, corrected or attested is
    seen inside the cut as it is now (every op that made its row is inside the cut): its
    summary decides, with the cut's charter and ``need``. The others are read from their rows
    within the cut. A tally then reads what changed since its proposal opened, not all history."""
    touched: set[bytes] = set()
    for oid, kind, body in changed:  # logged: applied, rejected or void alike
        if kind == "contribution.record":
            touched.add(oid)
        elif kind in ("contribution.correct", "attestation.set") and isinstance(body, dict):
            ref = body.get("id" if kind == "contribution.correct" else "contribution")
            if isinstance(ref, bytes):
                touched.add(ref)
    yield from _counted_now(state, community, charter, need, skip=touched)
    for key in touched:
        row = state.get(CONTRIBUTION, key)
        if row is None or row["c"] != community:
            continue
        view = contribution_view(row, charter, clock, list(state.rows(ATTESTATION, key)), need)
        if view is not None and view["counts"]:
            fields = view["fields"]
            yield view["contributor"], fields["at"], key, fields.get("effort_minutes", 0)
