"""Which contributions count, and the contribution score: bit-exact on every machine.

A contribution *counts* (within a cut, or in the whole state) when it is not retracted and,
among the latest attestation of each member on its current version, at least
``charter.attestation.confirmations`` confirm and at most ``charter.attestation.max_disputes``
dispute.

Score of a member (``specs/records.md`` §8): their counted minutes of each UTC day ``d`` (each
record bounded by ``max_minutes``, the day by ``max_minutes_per_day``) weighed by
``W(d) / W(today)``, where ``W(d) = 2^(d / H)`` in fixed point (``totals.day_weight``, H the
half-life in days): work halves its weight every H days. Days after today count unweighted.
The weighed sum ``floor(Σ minutes x W(d) x 2^62 / W(today)) / 2^62`` is a Fraction, then
capped (``score_cap``). No floats, no libm: every machine computes the same bits, and the sum
over days does not depend on today, so a store keeps it per member as work is counted
(``totals.py``) and the community's table reads one row per member.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from fractions import Fraction
from typing import Any

from ..state import State, group
from .common import (
    ATTESTATION,
    COMMUNITY,
    CONTRIBUTION,
    Clock,
    charter_in_clock,
    timeline,
    within,
)
from .contributions import contribution_summary, of_project, project_rank
from .totals import (
    ONE,
    Item,
    confirmations_needed,
    counted,
    day_of,
    days_weighed,
    kept,
    rules_for,
    weighed,
)


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
    if not within(clock, by, row["seq"]):
        return None
    fields = dict(row["base"])
    version, retracted = 0, False
    for seq, _id, changes, retract in row["corrections"]:
        if within(clock, by, seq):
            fields.update(changes)
            version += 1
            retracted = retracted or retract
    confirms = disputes = 0
    for att in attestations:
        latest = None
        attester = att["attester"]
        for entry in att["entries"]:  # in order: the last one inside the cut wins
            if within(clock, entry[4] if len(entry) > 4 else attester, entry[2]):
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
    state: State,
    community: bytes,
    clock: Clock,
    now_ms: int,
    member: bytes | None = None,
    done_by_now: bool = False,
) -> tuple[dict[bytes, Fraction], dict[bytes, int]]:
    """:func:`contribution_scores`, and the number of counted contributions per member (with
    or without minutes), from the same single pass over the rows: the score table shows
    both, and at a million ops each pass over every contribution takes seconds.
    ``done_by_now``: the work of days after ``now`` left out of the scores (the rule counts it
    whole): a past point of a curve of scores, from the work then done."""
    com = state.get(COMMUNITY, community)
    if com is None:
        return {}, {}
    charter = charter_in_clock(com, clock)
    need = confirmations_needed(state, community, charter, clock)
    if clock is None:  # the whole state: any new op may change it
        return _scores_and_counts(
            state, community, charter, need, clock, now_ms, member, done_by_now
        )
    # Within a cut the answer is fixed (see ``memo_key``): a tally asks it again for every
    # view of the proposal and every ``decision.enact`` of it, which any member may sign
    # again and again, and each answer reads every contribution in the cut.
    key = memo_key(community, charter, need, clock, now_ms, member, done_by_now)
    known = state.recall(key)
    if known is None:
        known = _scores_and_counts(
            state, community, charter, need, clock, now_ms, member, done_by_now
        )
        state.remember(key, known)
    scores, counts = known
    return dict(scores), dict(counts)


def memo_key(community, charter, need, clock, now_ms, member, done_by_now) -> tuple:
    """What a score within a cut depends on besides the rows inside the cut, which no later
    write changes: contributions and attestations only ever gain entries (corrections,
    verdicts) signed outside the cut, which ``contribution_view`` leaves out by ``clock``, and
    every op inside the cut was applied before any op that has the cut in its past. Only a
    rebuild deletes them, and it forgets every memo (``State.forget``). What the
    cut does not fix is in the key: the confirmations needed (``removed`` members are not
    counted, whenever removed) and the charter's rules as read within the cut."""
    return (
        "scores",
        community,
        frozenset(clock.items()),
        now_ms,
        member,
        *rules_for(charter, need),
        charter.get("score_cap"),
        done_by_now,
    )


def _scores_and_counts(state, community, charter, need, clock, now_ms, member, done_by_now):
    rules, cap = rules_for(charter, need), charter.get("score_cap")
    today = day_of(now_ms)
    if clock is None:  # the whole state: its kept totals, if kept under these rules
        totals = kept(state, community, rules, today, member)
        if totals is not None:
            return _scored(totals, rules, today, cap, done_by_now)
    if member is not None:  # their rows alone
        found = _counted(state, community, charter, need, clock, member, rules)
    elif clock is None:
        found = _counted_now(state, community, rules)
    elif (changed := state.beyond(community, clock)) is not None:
        touched = _touched(changed)
        views = _in_cut(state, community, charter, need, clock, touched)
        moves = (
            (counted(contribution_summary(k, r)[1], rules), _item(v, rules)) for k, r, v in views
        )
        totals = kept(state, community, rules, today, moves=moves)
        if totals is not None:  # the totals, with what changed since the cut taken back
            return _scored(totals, rules, today, cap, done_by_now)
        found = _counted_in_cut(state, community, charter, need, clock, touched, rules)
    else:  # no log at hand: every row within the cut
        found = _counted(state, community, charter, need, clock, None, rules)
    return _scored(_summed(found, rules, today), rules, today, cap, done_by_now)


def _summed(found: Counted, rules: list, today: int) -> Iterator[tuple[bytes, int, int, int]]:
    """The rule over counted contributions, member by member, as ``totals.kept`` gives it:
    (member, their days weighed (``totals.days_weighed``), counted contributions)."""
    days: dict[bytes, dict[int, int]] = {}  # member -> day -> minutes, each record bounded
    counts: dict[bytes, int] = {}
    for contributor, day, minutes in found:
        counts[contributor] = counts.get(contributor, 0) + 1
        if minutes:
            mine = days.setdefault(contributor, {})
            mine[day] = mine.get(day, 0) + minutes
    for contributor, n in counts.items():
        yield contributor, *days_weighed(days.get(contributor, {}), rules, today), n


def _scored(totals, rules: list, today: int, cap: int | None, done_by_now: bool):
    """(scores, counts) from (member, past sum, later minutes, counted) of each member:
    scores only of members with minutes counted (``done_by_now``: later days' left out)."""
    scores, counts = {}, {}
    for member, past, later, n in totals:
        counts[member] = n
        if done_by_now:
            later = 0
        if past or later:
            score = Fraction(weighed(past, today, rules[4]) + later * ONE, ONE)
            scores[member] = min(score, Fraction(cap)) if cap is not None else score
    return scores, counts


Counted = Iterator[Item]  # each counted contribution as ``totals.counted`` gives it


def _counted(state, community, charter, need, clock, member, rules) -> Counted:
    """The counted contributions of the community (or of ``member``) within ``clock``, from
    their rows and their attestations' rows (``contribution_view``)."""
    for row, atts in contribution_rows(state, community, member):
        item = _item(contribution_view(row, charter, clock, atts, need), rules)
        if item is not None:
            yield item


def _counted_now(state, community, rules, skip: Collection[bytes] = ()) -> Counted:
    """:func:`_counted` of the whole state, from the contributions' summaries (``contributions.
    contribution_summary``: the latest version and the verdicts on it, as
    ``contribution_view`` finds them in the rows): one small record a contribution instead of
    its row and its attestations' rows decoded whole. Without the contributions in ``skip``."""
    for key, summary in state.summaries(CONTRIBUTION, community):
        if key not in skip:
            item = counted(summary, rules)
            if item is not None:
                yield item


def _touched(changed: Iterable[tuple[bytes, str, Any]]) -> set[bytes]:
    """The contributions that ops past a cut (``State.beyond``) recorded, corrected or
    attested: logged ops, applied, rejected or void alike (bodies checked before use)."""
    touched: set[bytes] = set()
    for oid, kind, body in changed:
        if kind == "contribution.record":
            touched.add(oid)
        elif kind in ("contribution.correct", "attestation.set") and isinstance(body, dict):
            ref = body.get("id" if kind == "contribution.correct" else "contribution")
            if isinstance(ref, bytes):
                touched.add(ref)
    return touched


def _in_cut(state, community, charter, need, clock, touched) -> Iterator[tuple]:
    """(key, row, view within ``clock`` or None) of the ``touched`` contributions of the
    community, read from their rows."""
    for key in touched:
        row = state.get(CONTRIBUTION, key)
        if row is not None and row["c"] == community:
            atts = list(state.rows(ATTESTATION, key))
            yield key, row, contribution_view(row, charter, clock, atts, need)


def _item(view: dict | None, rules: list) -> Item | None:
    """``totals.counted`` of a contribution as a view within a cut sees it."""
    if view is None:
        return None
    fields = view["fields"]
    summary = [view["contributor"], fields["at"], fields.get("effort_minutes", 0)]
    summary += [view["version"], view["retracted"], view["confirmations"], view["disputes"]]
    return counted(summary, rules)


def _counted_in_cut(state, community, charter, need, clock, touched, rules) -> Counted:
    """:func:`_counted` within ``clock``, knowing the contributions that ops past it touched
    (``_touched``). A contribution that none of them recorded, corrected or attested is seen
    inside the cut as it is now (every op that made its row is inside the cut): its summary
    decides, with the cut's charter and ``need``. The others are read from their rows within
    the cut. A tally then reads what changed since its proposal opened, not all history."""
    yield from _counted_now(state, community, rules, skip=touched)
    for _key, _row, view in _in_cut(state, community, charter, need, clock, touched):
        item = _item(view, rules)
        if item is not None:
            yield item
