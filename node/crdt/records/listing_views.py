"""Read-only views of listings (offers and needs) and of the reservations and custody of the
things offered, for the node API, the CLI and the web app (the control API serves them, as it
does ``queries``': ``node/service/control.py``).

Time-dependent answers (a listing's expiry) take ``now`` in ms as an argument; nothing here
reads a clock. Results are plain dicts/lists in a deterministic order, so two nodes with the
same ops print the same thing.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

from ..state import State, group
from .common import NEED, OFFER, RESERVATION, MemberRef, as_key, timeline
from .geo import decode, distance_m
from .listings import effective_status
from .reservations import latest_step


# ----------------------------------------------------------------- offers and needs
def listing_view(row: dict, now_ms: int) -> dict:
    return {
        "id": row["id"],
        "family": row["family"],
        "author": row["author"],
        "ts": row["ts"],
        "status": effective_status(row, now_ms),
        **row["fields"],
    }


def _category_matches(have: str, want: str) -> bool:
    return have == want or have.startswith(want + "/")


def listings(
    state: State,
    community: bytes,
    family: str,
    now_ms: int,
    *,
    category: str | None = None,
    status: str | Iterable[str] | None = "active",
    text: str | None = None,
    near: str | None = None,
    within_m: int | None = None,
    author: MemberRef | None = None,
    id_prefix: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict]:
    """Offers (``family="offer"``) or needs filtered by category (the category or anything
    below it), effective status (a name, several, or None / "any" for all), case-insensitive text in
    title/description/tags, ``author``, an id starting with the hex ``id_prefix``, and distance from the geohash ``near`` (``within_m``: only
    listings at most that far, or remote ones). With ``near``, each result carries
    ``distance_m`` and results are sorted nearest first; otherwise newest first.
    ``offset``/``limit`` page through that order: only the page's rows are shaped as views,
    and newest first, reading stops when the page is full (filters that keep few rows read
    further)."""
    if status == "any":
        status = None
    statuses = {status} if isinstance(status, str) else (set(status) if status else None)
    needle = text.casefold() if text else None
    origin = decode(near) if near else None
    who = None if author is None else as_key(author)
    prefix = id_prefix.lower() if id_prefix else None
    cut = len(prefix or "") // 2 + 1
    # Without ``near`` the rows come newest first from the state's order (an index in a
    # store), so a page stops reading once it is full: the first 50 of 100,000 listings read
    # about 50 rows, not 100,000. With ``near`` every listing is measured and sorted.
    ordered = origin is None
    want = None if limit is None else max(0, offset) + max(0, limit)
    if prefix is not None and len(prefix) >= 2:  # keys are ids: a range of the table
        ordered = False
        try:
            rows = state.rows(family, bytes.fromhex(prefix[: len(prefix) // 2 * 2]))
        except ValueError:  # not hex: no id starts so
            rows = iter(())
    elif ordered:
        whose = group(community) if who is None else group(community, who)
        rows = (v for _, v in state.ordered(family, whose))
    else:
        rows = state.rows(family)
    kept: list = []
    for row in rows:
        if row["c"] != community:
            continue
        if who is not None and row["author"] != who:
            continue
        if prefix is not None and not row["id"][:cut].hex().startswith(prefix):
            continue
        f = row["fields"]
        if category and not _category_matches(f["category"], category):
            continue
        if statuses is not None and effective_status(row, now_ms) not in statuses:
            continue
        if needle is not None:
            hay = " ".join([f["title"], f["description"], *f["tags"]]).casefold()
            if needle not in hay:
                continue
        if origin is not None:
            dist = distance_m(origin, decode(f["geohash"])) if "geohash" in f else None
            if within_m is not None and not f["remote"] and (dist is None or dist > within_m):
                continue
            kept.append(((dist is None, dist or 0, row["id"]), row, dist))
        else:
            kept.append(row)
            if want is not None and len(kept) >= want:
                break
    offset = max(0, offset)
    if ordered:
        page = kept[offset:]
    elif origin is None:  # an id prefix: newest first, as the state's order runs
        kept.sort(key=lambda r: (r["ts"], r["id"]), reverse=True)
        page = kept[offset:] if limit is None else kept[offset : offset + max(0, limit)]
    elif limit is None:
        kept.sort(key=_first)
        page = kept[offset:]
    else:  # only the rows up to the page's end are ordered: O(n log k), not a full sort
        page = heapq.nsmallest(offset + max(0, limit), kept, key=_first)[offset:]
    out = []
    for item in page:
        if origin is None:
            out.append(listing_view(item, now_ms))
        else:
            view = listing_view(item[1], now_ms)
            view["distance_m"] = item[2]
            out.append(view)
    return out


def _first(item: tuple) -> Any:
    return item[0]


def offers(state: State, community: bytes, now_ms: int, **filters) -> list[dict]:
    return listings(state, community, OFFER, now_ms, **filters)


def needs(state: State, community: bytes, now_ms: int, **filters) -> list[dict]:
    return listings(state, community, NEED, now_ms, **filters)


def listing(state: State, listing_id: bytes, now_ms: int) -> dict | None:
    row = state.get(OFFER, listing_id) or state.get(NEED, listing_id)
    return None if row is None else listing_view(row, now_ms)


# ------------------------------------------------------------------- reservations
def _reservation_view(row: dict) -> dict:
    return {k: row[k] for k in ("id", "offer", "owner", "requester", "window", "quantity")} | {
        "status": row["status"],
        "steps": [{"status": s[1], "op": s[2], "by": s[3], "ts": s[4]} for s in row["steps"]],
    }


def reservations(
    state: State,
    community: bytes,
    *,
    member: MemberRef | None = None,
    offer: bytes | None = None,
    newest: int | None = None,
) -> list[dict]:
    """Reservations where ``member`` is owner or requester, and/or on ``offer``; by ts. Each
    carries ``conflicts_with``: overlapping accepted reservations (single-unit offers).
    With either, only that offer's rows, or the member's requests and the rows of their
    offers, are read (``reservations.by_offer_and_requester``). Else with ``newest``, only
    the community's ``newest`` reservations whose latest step is latest (its time line)."""
    member = None if member is None else as_key(member)
    out = []
    if offer is not None:
        rows = state.rows_in(RESERVATION, group(offer))
    elif member is not None:
        rows = _member_reservations(state, community, member)
    elif newest is not None:
        rows = _latest_reservations(
            state.rows_in(RESERVATION, timeline(community)), community, newest
        )
    else:
        rows = state.rows(RESERVATION)
    for row in rows:
        if row["c"] != community:
            continue
        if member is not None and member not in (row["owner"], row["requester"]):
            continue
        if offer is not None and row["offer"] != offer:
            continue
        out.append((row["ts"], row["id"], _reservation_view(row)))
    views = [v for _, _, v in sorted(out)]
    flags: dict[bytes, list[bytes]] = {}
    for offer_id in {v["offer"] for v in views}:
        for pair in reservation_conflicts(state, offer_id):
            a, b = pair["reservations"]
            flags.setdefault(a, []).append(b)
            flags.setdefault(b, []).append(a)
    for v in views:
        v["conflicts_with"] = sorted(flags.get(v["id"], []))
    return views


TIES = 100  # rows read past a page's end while they tie with its last (times are claims)


def _latest_reservations(timeline: Iterator[dict], community: bytes, n: int) -> Iterator[dict]:
    """The first ``n`` reservations of the community in its time line (latest step first),
    and those after them whose latest step ties with the last, ``TIES`` at most: a list
    merged from several by time (their steps) is then cut at the same place whatever order
    ties came in. Bounded, because times are claims: a key that gives many rows one time
    cannot make every page read them all."""
    last, extra = None, TIES
    for row in timeline:
        if row["c"] != community:
            continue
        step = latest_step(row)
        if n <= 0:
            if step != last or extra <= 0:
                return
            extra -= 1
        yield row
        n, last = n - 1, step


def _member_reservations(state: State, community: bytes, member: bytes) -> Iterator[dict]:
    """What ``member`` asked of others, then what others asked of the member's offers (each
    row once, should two groups share a key)."""
    seen: set[bytes] = set()
    mine = (
        state.rows_in(RESERVATION, group(listing["id"]))
        for listing in state.rows_in(OFFER, group(community, member))  # their offers
        if listing["c"] == community and listing["author"] == member
    )
    for rows in (state.rows_in(RESERVATION, group(community, member)), *mine):
        for row in rows:
            if row["id"] not in seen:
                seen.add(row["id"])
                yield row


HOLDING = frozenset({"accepted", "handed_over", "returned"})


def reservation_conflicts(state: State, offer_id: bytes) -> list[dict]:
    """Pairs of accepted (or later) reservations that overlap in time while the quantity held
    at some instant of their overlap is above the offer's amount: on a single-unit offer,
    any two overlapping ones. Each pair is reported once, ordered by reservation id;
    ``yields`` names the one whose accept came later in op order (lamport, author, id), a
    deterministic hint for who should step back. Nothing is dropped: the owner resolves it."""
    offer = state.get(OFFER, offer_id)
    if offer is None:
        return []
    amount = offer["fields"]["quantity"]["amount"]
    held = []
    for row in state.rows_in(RESERVATION, group(offer_id)):
        if row["offer"] == offer_id and row["status"] in HOLDING:
            accept = next(s for s in row["steps"] if s[1] == "accepted")
            held.append((row["id"], row["window"], accept, row["quantity"]))
    held.sort()

    def over(start: int, end: int) -> bool:
        # The load is piecewise constant and rises only at window starts, so its maximum
        # over [start, end) is reached at ``start`` or at a window start inside it.
        points = [start, *(w[0] for _, w, _, _ in held if start < w[0] < end)]
        return any(sum(q for _, w, _, q in held if w[0] <= t < w[1]) > amount for t in points)

    out = []
    for i, (a_id, a_win, a_acc, _) in enumerate(held):
        for b_id, b_win, b_acc, _ in held[i + 1 :]:
            start, end = max(a_win[0], b_win[0]), min(a_win[1], b_win[1])
            if start < end and over(start, end):
                later = (
                    a_id
                    if (a_acc[0], a_acc[3], a_acc[2]) > (b_acc[0], b_acc[3], b_acc[2])
                    else b_id
                )
                out.append({"reservations": [a_id, b_id], "yields": later})
    return out


def custody_history(state: State, offer_id: bytes) -> list[dict]:
    """Who held the offered resource when: handovers move custody to the requester, returns
    move it back to the owner. Sorted by ts, then op id."""
    events = []
    for row in state.rows_in(RESERVATION, group(offer_id)):
        if row["offer"] != offer_id:
            continue
        for _rank, status, op_id, _by, ts in row["steps"]:
            if status == "handed_over":
                events.append((ts, op_id, row["id"], "handover", row["requester"]))
            elif status == "returned":
                events.append((ts, op_id, row["id"], "return", row["owner"]))
    events.sort()
    return [
        {"ts": ts, "op": op, "reservation": r, "event": ev, "holder": h}
        for ts, op, r, ev, h in events
    ]
