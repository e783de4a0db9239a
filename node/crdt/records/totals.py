"""The contribution score's day weights, and each member's counted work kept summed as it
changes: the score table reads one small row per member, not one per contribution.

The rule (``specs/records.md`` §8) weighs a member's bounded minutes of each UTC day ``d``
by ``W(d) / W(today)``, ``W(d)`` being ``2^(d / H)`` in fixed point (``day_weight``, H the
half-life in days). A sum of integers times ``W(d)`` does not depend on ``today``, so it can
be kept as work is counted and uncounted (``S`` of a member), and a score is one division:
``S * 2^62 // W(today)``. What is kept, per community, under the rules it was kept for:

* ``score.rules``: community -> ``[need, max_disputes, max_minutes, max_minutes_per_day,
  half_life_days]``: the whole state's rules (``rules_of``);
* ``score.days``: community ‖ member ‖ 64-day chunk -> {day: minutes}: the member's counted
  minutes per day (each record bounded by ``max_minutes``, the day not yet bounded);
* ``score.total``: community ‖ member -> ``[S, counted, last day]``: ``S`` = the sum over
  their days of ``min(max_minutes_per_day, minutes) * W(day)``, ``counted`` = their counted
  contributions (with or without minutes), ``last day`` = the latest day with minutes counted
  (-1: none; a day after ``today`` counts unweighted, so a read subtracts it).

They are rows of the state, derived from the contributions' summaries by keepers
(``state.kept_by``): a contribution row's write moves its member's counted work from where it
was to where it is now; a write of the community (a charter amended) or of a member (joined,
first acting, removed: the confirmations needed) that changes the rules rebuilds the
community's totals from the summaries. So after every op the totals are a function of the
contributions and the rules alone: every node holds the same rows, in any order of ops.
Within a cut, or under other rules (a tally reads the charter of its cut), the score module
reads the summaries or the rows instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from math import isqrt
from typing import Any

from ..state import State, kept_by
from .common import COMMUNITY, CONTRIBUTION, DAY_MS, MEMBER, Clock, charter_in_clock, within
from .contributions import contribution_summary

SCALE_BITS = 62  # fractional bits of a day weight
FRAC_BITS = 20  # bits of the fraction of an exponent
ONE = 1 << SCALE_BITS
# Days after this one count as this one (the year 2328): a claimed time far in the future
# cannot ask for a weight of billions of bits.
FAR_DAY = 1 << 17
CHUNK_BITS = 6  # 64 days a ``score.days`` row

RULES, TOTALS, DAYS = "score.rules", "score.total", "score.days"


def _roots() -> tuple[int, ...]:
    roots = [ONE << 1]  # 2^1
    for _ in range(FRAC_BITS):
        roots.append(isqrt(roots[-1] << SCALE_BITS))
    return tuple(roots)


ROOTS = _roots()  # ROOTS[i] = floor(2^62 * 2^(1/2^i)), each the integer square root of the last

# (bit of the exponent's fraction, its root), most significant first: the order of the
# truncating multiplications the rule fixes
STEPS = tuple((1 << (FRAC_BITS - i), ROOTS[i]) for i in range(1, FRAC_BITS + 1))


@lru_cache(maxsize=8192)
def day_weight(day: int, half_life_days: int) -> int:
    """``W(day) = 2^(day / H)`` scaled by 2^62: ``2^w`` exactly for the whole half-lives ``w``,
    times the fraction's weight, whose exponent is floored to 20 bits and multiplied up
    from the roots, truncating after each step (``specs/records.md`` §8)."""
    whole, rest = divmod(day, half_life_days)
    q = (rest << FRAC_BITS) // half_life_days
    f = ONE
    for bit, root in STEPS:
        if q & bit:
            f = f * root >> SCALE_BITS
    return f << whole


def day_of(at_ms: int) -> int:
    """The UTC day of a time (ms), at most ``FAR_DAY``."""
    return min(max(at_ms, 0) // DAY_MS, FAR_DAY)


def weighed(past: int, today: int, half_life_days: int) -> int:
    """``past`` (a sum of minutes x ``W(day)``, days up to ``today``) weighed at ``today``, as
    an integer scaled by 2^62: ``floor(past * 2^62 / W(today))``."""
    return (past << SCALE_BITS) // day_weight(today, half_life_days)


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
            if within(clock, row["member"], row["since"]):
                n += 1
                if n > want:
                    break
    return max(1, min(want, n - 1))


def rules_for(charter: Mapping, need: int) -> list:
    """What decides which work counts and how much, besides the contributions themselves."""
    bounds = charter.get("contribution") or {}
    return [
        need,
        charter["attestation"]["max_disputes"],
        bounds.get("max_minutes"),
        bounds.get("max_minutes_per_day"),
        charter["half_life_days"],
    ]


def rules_of(state: State, community: bytes) -> list | None:
    """The whole state's rules for ``community`` (None: no such community)."""
    com = state.get(COMMUNITY, community)
    if com is None:
        return None
    charter = charter_in_clock(com, None)
    return rules_for(charter, confirmations_needed(state, community, charter, None))


def counted(summary: list, rules: list) -> tuple[bytes, int, int] | None:
    """(member, day, minutes bounded per record) of a contribution that counts under
    ``rules``, from its summary (``contributions.contribution_summary``); None if it does
    not count."""
    contributor, at, minutes, _version, retracted, confirms, disputes = summary
    need, most, per_record = rules[0], rules[1], rules[2]
    if retracted or confirms < need or disputes > most:
        return None
    if per_record is not None and minutes > per_record:
        minutes = per_record
    return contributor, day_of(at), minutes


def _chunk_key(community: bytes, member: bytes, day: int) -> bytes:
    return community + member + (day >> CHUNK_BITS).to_bytes(2, "big")


def _add(state: State, community: bytes, rules: list, item: tuple, sign: int) -> None:
    """Count (``sign`` 1) or uncount (-1) one contribution's ``counted`` item."""
    member, day, minutes = item
    key = community + member
    total, n, last = state.get(TOTALS, key) or (0, 0, -1)
    n += sign
    if minutes:
        chunk_key = _chunk_key(community, member, day)
        chunk = dict(state.get(DAYS, chunk_key) or {})
        was = chunk.get(day, 0)
        now = was + sign * minutes
        per_day = rules[3]
        if per_day is not None:
            total += (min(now, per_day) - min(was, per_day)) * day_weight(day, rules[4])
        else:
            total += sign * minutes * day_weight(day, rules[4])
        if now:
            chunk[day] = now
        else:
            del chunk[day]
        if chunk:
            state.put(DAYS, chunk_key, dict(sorted(chunk.items())))  # the same bytes anywhere
        else:
            state.delete(DAYS, chunk_key)
        if now:
            last = max(last, day)
        elif day == last:  # the latest day emptied: the latest left (not a bound that stays
            # high: a verdict that came and went would leave rows that differ between nodes)
            last = max((d for _, c in state.scan(DAYS, key) for d in c), default=-1)
    if n:
        state.put(TOTALS, key, [total, n, last])
    else:  # nothing counts: every day is back to 0, so is the sum
        state.delete(TOTALS, key)


def rebuild(state: State, community: bytes) -> None:
    """Keep the community's totals anew, under its rules now, from the contributions'
    summaries (a new community, new rules, a store that did not keep them)."""
    for table in (TOTALS, DAYS):
        for key in [k for k, _ in state.scan(table, community)]:
            state.delete(table, key)
    rules = rules_of(state, community)
    if rules is None:
        return
    state.put(RULES, community, rules)
    for _key, summary in state.summaries(CONTRIBUTION, community):
        item = counted(summary, rules)
        if item is not None:
            _add(state, community, rules, item, 1)


def _contribution_kept(state: State, key: bytes, old: Any, new: Any) -> None:
    community = new["c"]
    rules = state.get(RULES, community)
    if rules is None:  # rows from before totals were kept: keep them from now on
        rebuild(state, community)
        return
    was = None if old is None else counted(contribution_summary(key, old)[1], rules)
    now = counted(contribution_summary(key, new)[1], rules)
    if was != now:
        if was is not None:
            _add(state, community, rules, was, -1)
        if now is not None:
            _add(state, community, rules, now, 1)


def _check_rules(state: State, community: bytes) -> None:
    if rules_of(state, community) != state.get(RULES, community):
        rebuild(state, community)


def _community_kept(state: State, key: bytes, old: Any, new: Any) -> None:
    _check_rules(state, key)


def _member_kept(state: State, key: bytes, old: Any, new: Any) -> None:
    # only who counts as a member (first acting, removed) changes the confirmations needed
    if old is None or old["since"] != new["since"] or old["removed"] != new["removed"]:
        if state.get(COMMUNITY, new["c"]) is not None:
            _check_rules(state, new["c"])


kept_by(CONTRIBUTION, _contribution_kept)
kept_by(COMMUNITY, _community_kept)
kept_by(MEMBER, _member_kept)


Item = tuple[bytes, int, int]  # (member, day, minutes bounded per record): ``counted``


def kept(
    state: State,
    community: bytes,
    rules: list,
    today: int,
    member: bytes | None = None,
    moves: Iterable[tuple[Item | None, Item | None]] = (),
) -> Iterator[tuple[bytes, int, int, int]] | None:
    """(member, Σ of their days up to ``today`` of the day's bounded minutes x ``W(day)``,
    their bounded minutes of later days, counted contributions) of every member with counted
    work (or of ``member`` alone), from the kept totals; None when they were not kept under
    ``rules``. ``moves``: contributions counted otherwise than the totals count them (a cut,
    which some later ops are not in), each as (how the totals count it, how it counts):
    their members' days are read and summed again with those moved."""
    if state.get(RULES, community) != rules:
        return None
    days: dict[bytes, dict[int, int]] = {}  # member -> day -> minutes moved
    counts: dict[bytes, int] = {}
    for was, now in moves:
        for item, sign in ((was, -1), (now, 1)):
            if item is not None:
                who, day, minutes = item
                counts[who] = counts.get(who, 0) + sign
                moved = days.setdefault(who, {})
                moved[day] = moved.get(day, 0) + sign * minutes
    return _kept(state, community, rules, today, member, days, counts)


def _kept(state, community, rules, today, member, days, counts):
    prefix = community if member is None else community + member
    for key, (total, n, last) in state.scan(TOTALS, prefix):
        who = key[len(community) :]
        moved = days.pop(who, None)
        n += counts.pop(who, 0)
        later = 0
        if moved or last > today:  # days after today count unweighted: sum the days again
            total, later = _summed_again(state, key, rules, today, moved or {})
        if n:
            yield who, total, later, n
    for who, n in counts.items():  # work counted in a cut that nothing counts now
        if n and (member is None or who == member):
            total, later = _summed_again(state, community + who, rules, today, days.get(who, {}))
            yield who, total, later, n


def _summed_again(state, key, rules, today, moved: dict[int, int]) -> tuple[int, int]:
    """``days_weighed`` of the member of ``key`` (community ‖ member) from their
    ``score.days`` rows, with ``moved`` added."""
    minutes_on: dict[int, int] = {}
    for _, chunk in state.scan(DAYS, key):
        minutes_on.update(chunk)
    for day, minutes in moved.items():
        minutes_on[day] = minutes_on.get(day, 0) + minutes
    return days_weighed(minutes_on, rules, today)


def days_weighed(minutes_on: Mapping[int, int], rules: list, today: int) -> tuple[int, int]:
    """(Σ over the days up to ``today`` of the day's minutes, bounded per day, x ``W(day)``;
    the bounded minutes of later days) of one member's counted minutes per day."""
    per_day, half_life = rules[3], rules[4]
    past = later = 0
    for day, minutes in minutes_on.items():
        if per_day is not None:
            minutes = min(minutes, per_day)
        if day <= today:
            past += minutes * day_weight(day, half_life)
        else:
            later += minutes
    return past, later
