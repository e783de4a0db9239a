"""Range-based set reconciliation of height entries (``specs/sync.md``, "Reconciliation").

After A. Meyer, "Range-Based Set Reconciliation" (2023), as in Negentropy. Each side holds one
:class:`~node.protocol.wire.Entry` per author (height, head prefix, forked flag), sorted by
author. The key space of authors is cut into ranges; a side sends, per range, either a
fingerprint (FP) of its entries there, or the entries themselves (ITEMS, when few). The other
side compares: a matching fingerprint is done (SKIP); a differing one is split in 16 by the
answering side's own entries (so every split shrinks that side's count 16 times), or answered
with ITEMS when either side holds few entries there; ITEMS are answered with the answering side's
entries (REPLY), after which both sides know both entry lists of that range.

A *round* is one side's answer to all the other side's questions (FP and ITEMS ranges): a
contiguous cover of the key space, possibly over several frames, ending with a range whose
bound is the end of the key space. A round without questions ends reconciliation. Rounds are
checked against the previous round (each range lies inside one of ours and answers it in a
legal way), so a peer can neither make us work on ranges we did not ask about nor loop.

The result is, for the authors whose entries differ, both sides' entries: exactly what the push
planner needs (:func:`node.protocol.plan.make_plan`). In sync with 100,000 authors costs one
SUMMARY; a few differing authors cost a few kilobytes and ~2 log16(n / 32) half round trips.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass

from . import wire
from .syncerror import SyncError
from .wire import FP, ITEMS, REPLY, SKIP, Entry, Range

OPEN_ITEMS = 8  # an initiator with at most this many entries sends them with its SUMMARY
SPLIT = 16  # a differing range is cut into this many parts
ITEMS_BELOW = 32  # a range where a side holds at most this many entries is sent as ITEMS
CHUNK = 2048  # entries in one ITEMS/REPLY range (a longer list becomes several ranges)
MAX_ROUNDS = 64  # rounds a session accepts (honest: ~2 log16(n / 32) + 2; 64 covers 2^100)
MAX_SESSION_ENTRIES = 1 << 21  # entries + ranges received in one session


@dataclass(frozen=True, slots=True)
class Span:
    """A range of the previous round with its lower bound (``hi`` None = end of key space)."""

    lo: bytes
    hi: bytes | None
    mode: int


def _hi(b: bytes) -> bytes | None:
    return None if b == b"" else b


def _wire_hi(hi: bytes | None) -> bytes:
    return b"" if hi is None else hi


class Reconciler:
    """One side's reconciliation state. ``entries``: this side's entries, sorted by author."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self.authors = [e.author for e in entries]
        self.hashes = [wire.entry_hash(e) for e in entries]
        self.theirs: dict[bytes, Entry] = {}  # the peer's entries, for authors that differ
        self.differ: set[bytes] = set()  # authors whose entries differ (either may lack one)
        self.asked: list[Span] = []  # our last round: what the peer's next round answers
        self.rounds = 0
        self.received = 0
        self.done = False
        self._lo = b""  # lower bound of the next range of the round being received
        self._k = 0  # index into ``asked`` while a round is being received
        self._answer: list[Range] = []
        self._questions_in = False

    def digest(self) -> bytes:
        return hashlib.sha256(b"".join(self.hashes)).digest()  # = wire.digest_of(entries)

    # ---- the two openings ---------------------------------------------------------------
    def opened(self) -> list[Range]:
        """Initiator: our SUMMARY is an FP question over the whole key space. With at most
        OPEN_ITEMS entries we send them along (an ITEMS round): the responder then answers
        with REPLY and pushes at once, so a small catch-up takes one round trip."""
        if len(self.entries) <= OPEN_ITEMS:
            self.asked = [Span(b"", None, ITEMS)]
            return [Range(b"", ITEMS, entries=tuple(self.entries))]
        self.asked = [Span(b"", None, FP)]
        return []

    def await_opening(self) -> None:
        """Responder: a SUMMARY of at most OPEN_ITEMS entries is followed by their ITEMS round,
        which we read as the answer to an FP question over the whole key space."""
        self.asked = [Span(b"", None, FP)]

    def first_round(self, peer_count: int) -> list[Range]:
        """Responder: the SUMMARY's digest differs from ours; answer it as a differing FP."""
        self.rounds += 1
        out: list[Range] = []
        self._differing(b"", None, peer_count, out)
        return self._finish_round(out)

    # ---- receiving a round ----------------------------------------------------------------
    def receive(self, ranges: tuple[Range, ...]) -> list[Range] | None:
        """Take one RANGES frame. Returns our answer round when the peer's round is complete
        and asked questions, [] when it is complete without questions (we are done), None
        while the round goes on in further frames."""
        if self.done or not self.asked:
            raise SyncError("unexpected", "RANGES when no round is due")
        self.received += len(ranges) + sum(len(r.entries) for r in ranges)
        if self.received > MAX_SESSION_ENTRIES:
            raise SyncError("limit_entries", "reconciliation larger than one session", blame=False)
        for r in ranges:
            self._take(r)
        if ranges[-1].hi != b"":
            return None
        self.rounds += 1
        if self.rounds > MAX_ROUNDS:
            raise SyncError("limit_rounds", "reconciliation took too many rounds", blame=False)
        answer, questions = self._answer, self._questions_in
        self._lo, self._k, self._answer, self._questions_in = b"", 0, [], False
        if not questions:
            self.asked, self.done = [], True
            return []
        return self._finish_round(answer)

    def _take(self, r: Range) -> None:
        lo, hi = self._lo, _hi(r.hi)
        if hi is not None and hi <= lo:
            raise SyncError("bad_range", "range bounds do not ascend across frames")
        asked = self.asked
        while asked[self._k].hi is not None and asked[self._k].hi <= lo:
            self._k += 1
        mine = asked[self._k]
        if r.mode == SKIP:  # may span several of our ranges (merged): none may be ITEMS
            k = self._k
            while True:
                if asked[k].mode == ITEMS:
                    raise SyncError("bad_range", "SKIP does not answer ITEMS")
                if asked[k].hi is None or (hi is not None and hi <= asked[k].hi):
                    break
                k += 1
        elif not (mine.hi is None or (hi is not None and hi <= mine.hi)):
            raise SyncError("bad_range", "range straddles a range of our round")
        elif r.mode not in {FP: (FP, ITEMS), ITEMS: (REPLY,)}.get(mine.mode, ()):
            raise SyncError("bad_range", f"mode {r.mode} does not answer mode {mine.mode}")
        for e in r.entries:
            if e.author < lo or (hi is not None and e.author >= hi):
                raise SyncError("bad_range", "entry outside its range")
        out = self._answer
        if r.mode == FP:
            self._questions_in = True
            i, j = self._span(lo, hi)
            if wire.fingerprint(b"".join(self.hashes[i:j])) == r.fp:
                out.append(Range(r.hi, SKIP))
            else:
                self._differing(lo, hi, r.count, out)
        elif r.mode == ITEMS:
            self._questions_in = True
            self._compare(lo, hi, r.entries)
            self._items(lo, hi, REPLY, out)
        else:
            if r.mode == REPLY:
                self._compare(lo, hi, r.entries)
            out.append(Range(r.hi, SKIP))
        self._lo = b"" if hi is None else hi

    # ---- answering ---------------------------------------------------------------------------
    def _span(self, lo: bytes, hi: bytes | None) -> tuple[int, int]:
        i = bisect_left(self.authors, lo)
        j = len(self.authors) if hi is None else bisect_left(self.authors, hi)
        return i, j

    def _differing(self, lo: bytes, hi: bytes | None, peer_count: int, out: list[Range]) -> None:
        i, j = self._span(lo, hi)
        if j - i <= ITEMS_BELOW or peer_count <= ITEMS_BELOW:
            self._items(lo, hi, ITEMS, out)
            return
        n = j - i
        cuts = [i + (n * k) // SPLIT for k in range(1, SPLIT)]
        bounds = [self.authors[c] for c in cuts] + [hi]
        start = i
        for c, b in zip(cuts + [j], bounds, strict=True):
            fp = wire.fingerprint(b"".join(self.hashes[start:c]))
            out.append(Range(_wire_hi(b), FP, fp, c - start))
            start = c

    def _items(self, lo: bytes, hi: bytes | None, mode: int, out: list[Range]) -> None:
        """Our entries in [lo, hi) as one or more ``mode`` ranges of at most CHUNK entries."""
        i, j = self._span(lo, hi)
        while j - i > CHUNK:
            cut = i + CHUNK
            out.append(Range(self.authors[cut], mode, entries=tuple(self.entries[i:cut])))
            i = cut
        out.append(Range(_wire_hi(hi), mode, entries=tuple(self.entries[i:j])))

    def _compare(self, lo: bytes, hi: bytes | None, theirs: tuple[Entry, ...]) -> None:
        i, j = self._span(lo, hi)
        mine = {e.author: e for e in self.entries[i:j]}
        for e in theirs:
            if mine.pop(e.author, None) != e:
                self.differ.add(e.author)
                self.theirs[e.author] = e
        self.differ.update(mine)  # ours, which the peer lacks

    def _finish_round(self, out: list[Range]) -> list[Range]:
        """Merge neighbouring SKIPs; remember the round as what the peer answers next."""
        merged: list[Range] = []
        for r in out:
            if merged and r.mode == SKIP and merged[-1].mode == SKIP:
                merged[-1] = r
            else:
                merged.append(r)
        spans, lo = [], b""
        for r in merged:
            spans.append(Span(lo, _hi(r.hi), r.mode))
            lo = r.hi
        self.asked = spans
        if not any(r.mode in (FP, ITEMS) for r in merged):
            self.done = True  # nothing asked: the peer takes this round and stops
            self.asked = []
        return merged


def frames_of(round_: list[Range]) -> list[wire.Ranges]:
    """Cut one round into RANGES messages within the per-frame bounds."""
    out: list[wire.Ranges] = []
    cur: list[Range] = []
    n = 0
    for r in round_:
        k = len(r.entries)
        if cur and (len(cur) >= wire.MAX_RANGES or n + k > wire.MAX_ENTRIES):
            out.append(wire.Ranges(tuple(cur)))
            cur, n = [], 0
        cur.append(r)
        n += k
    out.append(wire.Ranges(tuple(cur)))
    return out
