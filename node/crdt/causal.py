"""Causal-past queries over the op graph.

Every permission rule is judged against an op's causal past (the ops reachable through
``prev`` and ``deps``), never against whatever else a node happens to hold, so that every
node reaches the same verdict whatever order ops arrive in.

Within one community an author's chain is linear below the seq its forks void it from, so the
causal past of an op that is not void is downward-closed per author and can be written as a
vector clock: author -> highest seq. (An author's ops from that seq on are void: they have no
effect, so no query is asked *about* them or *from* them; they may still lie in some op's
past.)

What a query costs, and why (an op's checks must cost a bounded amount whatever the log's size,
or any key could make a node slow by pointing at old ops):

* Clocks are memoized per op id, in one LRU bounded by the total number of entries
  (``CLOCK_BUDGET``: about 70 bytes an entry, so ~17 MB at most, e.g. 500 clocks of a
  500-member community; not one clock per op, which would cost members x ops). A memoized
  clock is the exact past of that op whatever forks there are: it never needs forgetting.
* Every walk goes back through the graph in descending lamport order and stops at any op whose
  clock is memoized (an *anchor*): it takes that clock whole, and skips every op the anchors met
  so far cover (all of them have a smaller lamport, so they come later in the walk). A walk
  therefore touches only the ops of x's past that the nearest anchors do not cover: in an
  honest community (each op names the newest heads) that is the ops applied since the newest
  anchor in x's past, plus the few it had not yet seen.
* Skipping what an anchor's clock covers is exact only where the author's chain is linear: an
  op of a forked author at or after its fork seq is skipped only if it is in the anchor's past
  for certain, which a clock cannot say. So the index must hear of every fork
  (:meth:`CausalIndex.fork`); skipping is on once the replica calls :meth:`CausalIndex.note`
  (the two hooks are wired together). Without them every query is still exact, and as costly
  as a plain walk.
* Anchors come from ``vector_clock`` (proposals' cuts, seals, an enacting op's scope), from
  long ``in_past`` searches (the searched op's clock is then computed and kept, so the next op
  of that chain, or any op that names it, stops there) and from ``note``: every
  ``ANCHOR_EVERY``-th applied op becomes an anchor (an amortized walk of about
  ``ANCHOR_EVERY`` ops plus a clock copy), unless anchors already cover its past but a few ops
  (``NEAR``): a clock has one entry per member, so anchoring each 64th of 100,000 concurrent
  ballots on one proposal would copy members x ballots / 64 entries for nothing. In a community
  whose clocks are larger than ``ANCHOR_EVERY`` x ``ANCHOR_SPREAD`` entries, anchors are spaced
  by len(clock) / ``ANCHOR_SPREAD`` ops instead, so that their copies cost each op at most
  ``ANCHOR_SPREAD`` entries (else every op of a 100,000-member community would pay ~1,600).
  So the cost of a query is bounded by the ops applied since the newest anchor in its past
  (and by its community's size), not by the log.
* A clock walk that expands more than ``SEARCH_LIMIT`` ops keeps the clock of the op's newest
  parent as well as the op's: its siblings (the next ballots on a proposal whose clock the LRU
  let go) then stop there instead of walking the whole past again, each one. The LRU keeps the
  newest ``KEEP`` clocks whatever the budget, since one clock of a large community can be
  larger than the budget.
* ``in_past(a, x)`` first tries the cheap answers (same author, lamport, x's memoized clock),
  then searches from x and stops at the first proof either way: an op of a's author at a's seq
  or later (True), an anchor (its clock decides, or prunes everything it covers), an op not
  newer than ``a`` (pruned), or an op already known to hold or lack ``a`` (a small per-target
  memo by op id, so the next ballot of a chain on the same proposal is one step; at most
  ``TARGETS`` x 2 x ``TARGET_IDS`` ids, ~20 MB in the worst case). A search that expands more
  than ``SEARCH_LIMIT`` ops computes x's clock instead (an anchor for later).

The per-target memo is kept by op id, not by author: an answer about one op of a chain says
nothing about another branch of a forked chain, and memos must never change a verdict.

Limits: after a node opens its store there is no anchor yet, so the first walk goes through the
whole past once (then it is an anchor). An op whose past holds many ops that no anchor covers
(a long chain whose author never named the heads) pays for them once; its clock is then kept.

Hooks (``node/crdt/replica.py``): ``Replica._apply`` calls ``self.causal.note(meta)`` right after
``self._index(meta)`` (not ``restore``: anchors for all history would slow the opening), and
``Replica._note_fork`` calls ``self.causal.fork(proof.community, proof.author, proof.seq)``.
"""

from __future__ import annotations

import heapq
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NamedTuple


class OpMeta(NamedTuple):
    """The parts of an op that causal queries need (kept small so a node can hold many)."""

    id: bytes
    author: bytes
    seq: int
    lamport: int
    parents: tuple[bytes, ...]  # prev (if any) followed by deps
    community: bytes = b""

    @classmethod
    def of(cls, op) -> OpMeta:
        parents = (op.prev, *op.deps) if op.prev is not None else op.deps
        return cls(op.id, op.author, op.seq, op.lamport, tuple(parents), op.community_id)


VectorClock = dict[bytes, int]

ANCHOR_EVERY = 64  # note(): every 64th applied op's clock is kept (unless it is _near)
ANCHOR_MAX = 256  # ... or every n-th, n the ops the last anchor's walks expanded, up to this
ANCHOR_SPREAD = 64  # clock entries an op pays for anchors, amortized (see note)
NEAR = 16  # ops a walk from that op may expand before it meets anchors, for it to need none
CLOCK_BUDGET = 250_000  # entries over all memoized clocks (LRU)
SEARCH_LIMIT = 256  # ops an in_past search expands before it computes x's clock instead
KEEP = 3  # the newest clocks the LRU keeps even above CLOCK_BUDGET (see _keep)
TARGETS = 256  # per-target memos kept (LRU)
TARGET_IDS = 1024  # op ids remembered per target and answer (ids are shared with the metas)


class CausalIndex:
    """Answers "is A in the causal past of X" using a lookup from op id to :class:`OpMeta`.

    The lookup must know every op in the past of the ops it is asked about; the store only
    applies an op once its whole past is present, so this holds for applied ops.
    """

    def __init__(self, lookup: Callable[[bytes], OpMeta | None], *, anchors: bool = True):
        """``anchors=False``: :meth:`note` keeps no anchor clocks (for a log whose ingest asks
        no causal question, e.g. a store without handlers: an anchor there costs ~10 us an op
        of bulk ingest and serves nobody). Queries stay exact; the first walk then goes
        through the whole past once, as after an open, and its clock becomes an anchor."""
        self._lookup = lookup
        self._anchors = anchors
        self._clocks: OrderedDict[bytes, VectorClock] = OrderedDict()
        self._entries = 0  # sum of len() of the memoized clocks
        self._targets: OrderedDict[bytes, tuple[set[bytes], set[bytes]]] = OrderedDict()
        self._noted = 0  # ops noted; skipping covered ops is on once this is > 0
        self._since = 0  # ops noted since note() last considered an anchor
        self._span = 0  # entries in the clock of note()'s last anchor
        self._walked = 0  # ops that the walks for note()'s last anchor expanded
        self._expanded = 0  # ops every walk (:meth:`_walk`) expanded, in all
        self._forks: dict[tuple[bytes, bytes], int] = {}  # (community, author) -> fork seq
        # The op of note()'s newest anchor, until the store takes it (``take_anchor``): a store
        # keeps a few recent anchors in its file so that a walk after an open stops near them.
        self._fresh: OpMeta | None = None

    def meta(self, op_id: bytes) -> OpMeta:
        m = self._lookup(op_id)
        if m is None:
            raise KeyError(f"op {op_id.hex()[:16]} is not known")
        return m

    def note(self, meta: OpMeta) -> None:
        """The replica applied the op ``meta`` (call it once per applied op, after the op's
        metadata is indexed and before its handler runs). Keeps an anchor every
        ``ANCHOR_EVERY`` ops, so that no later walk has to go further back than that; in a
        community so large that the last anchor's clock has more than ``ANCHOR_EVERY`` x
        ``ANCHOR_SPREAD`` entries, every len(clock) / ``ANCHOR_SPREAD`` ops: copying a clock is
        then the dearer part, and spread so it costs at most ``ANCHOR_SPREAD`` entries an op,
        while the longer walk it allows (a step costs some 20 entries' copy) stays under the
        copy that every clock query pays anyway. Likewise every n-th op when the last anchor's
        walks expanded n ops (up to ``ANCHOR_MAX``): where ops name few parents, an op's past
        lacks hundreds of recent ops that no anchor covers, whatever the anchors' spacing, so
        each anchor costs that many steps however close the last one is (records bench: 660
        a walk); spaced so, an anchor costs about one step an op, and a later walk goes at most
        ``ANCHOR_MAX`` ops further back."""
        self._noted += 1
        if not self._anchors:
            return
        self._since += 1
        every = max(ANCHOR_EVERY, self._span // ANCHOR_SPREAD, min(self._walked, ANCHOR_MAX))
        if self._since >= every:
            self._since = 0
            if not self._near(meta):
                before = self._expanded
                self._span = len(self.vector_clock(meta))
                self._walked = self._expanded - before
                self._fresh = meta

    def take_anchor(self) -> tuple[OpMeta, VectorClock] | None:
        """note()'s newest anchor since the last call, with its clock (for a store to keep)."""
        meta, self._fresh = self._fresh, None
        if meta is None:
            return None
        clock = self._clocks.get(meta.id)
        return None if clock is None else (meta, clock)

    def load(self, anchors: Iterable[tuple[bytes, VectorClock]]) -> None:
        """Anchors a store kept (op id, its clock), oldest first. Call after every fork is
        known (:meth:`fork`): skipping covered ops is on from here."""
        for op_id, clock in anchors:
            self._keep(op_id, clock)
        self._noted = max(self._noted, 1)

    def fork(self, community: bytes, author: bytes, seq: int) -> None:
        """The author forked its chain in ``community`` at ``seq`` (the replica calls this for
        every fork proof it holds, on restore too): from there on its chain is not linear, and
        walks stop trusting a clock's word about that author's ops."""
        key = (community, author)
        known = self._forks.get(key)
        if known is None or seq < known:
            self._forks[key] = seq

    def _covered(self, m: OpMeta, clock: VectorClock) -> bool:
        """``m`` is certainly in the past of the op whose clock is ``clock``."""
        if clock.get(m.author, 0) < m.seq or not self._noted:
            return False
        fork = self._forks.get((m.community, m.author)) if self._forks else None
        return fork is None or m.seq < fork

    def memory(self) -> dict[str, int]:
        """What the memos hold (entries, not bytes): for benchmarks and tests."""
        return {
            "clocks": len(self._clocks),
            "clock_entries": self._entries,
            # dict tables plus one int object per entry (authors' keys are shared with metas)
            "clock_bytes": sum(sys.getsizeof(c) for c in self._clocks.values())
            + 28 * self._entries,
            "targets": len(self._targets),
            "target_ids": sum(len(p) + len(n) for p, n in self._targets.values()),
        }

    # ------------------------------------------------------------------------- queries
    def in_past(self, a: OpMeta, x: OpMeta) -> bool:
        """True when ``a`` is ``x`` or happened before it (``a`` and ``x`` not void)."""
        if a.author == x.author:
            return a.seq <= x.seq
        if a.lamport >= x.lamport:
            return False
        clock = self._clock(x.id)
        if clock is not None:
            return clock.get(a.author, 0) >= a.seq
        memo = self._targets.get(a.id)
        if memo is None:
            memo = self._targets[a.id] = (set(), set())
            if len(self._targets) > TARGETS:
                self._targets.popitem(last=False)
        else:
            self._targets.move_to_end(a.id)
        holds, lacks = memo
        if x.id in holds:
            return True
        if x.id in lacks:
            return False
        found = self._search(a, x, holds, lacks)
        if found is None:  # too far: compute x's clock once (an anchor for later queries)
            found = self.vector_clock(x).get(a.author, 0) >= a.seq
        remember = holds if found else lacks
        if len(remember) < TARGET_IDS:
            remember.add(x.id)
        return found

    def vector_clock(self, x: OpMeta) -> VectorClock:
        """The full causal past of ``x`` (including ``x``) as author -> highest seq.
        Memoized (do not change the returned dict).

        A walk that expands more than ``SEARCH_LIMIT`` ops found no anchor near x, so x's
        siblings (ops naming the same newest parent: concurrent ballots on one proposal, whose
        clock the LRU let go) would each walk that far again. It starts over from x's newest
        parent: that parent's clock is kept too, and x's is that clock plus the rest."""
        clock = self._clock(x.id)
        if clock is not None:
            return clock
        clock = self._walk(x, SEARCH_LIMIT)
        if clock is None:
            top = max(map(self.meta, x.parents), key=lambda m: (m.lamport, m.id))
            seed = self._clock(top.id) or self._keep(top.id, self._walk(top))
            clock = self._walk(x, seed=(top.id, seed))
        return self._keep(x.id, clock)

    def _keep(self, op_id: bytes, clock: VectorClock) -> VectorClock:
        self._clocks[op_id] = clock
        self._entries += len(clock)
        # The newest KEEP clocks stay whatever their size: a clock holds every member of a
        # community, and a budget under two of them would evict the parent kept just above.
        while self._entries > CLOCK_BUDGET and len(self._clocks) > KEEP:
            self._entries -= len(self._clocks.popitem(last=False)[1])
        return clock

    # ----------------------------------------------------------------------- internals
    def _clock(self, op_id: bytes) -> VectorClock | None:
        clock = self._clocks.get(op_id)
        if clock is not None:
            self._clocks.move_to_end(op_id)
        return clock

    def _search(self, a: OpMeta, x: OpMeta, holds: set[bytes], lacks: set[bytes]) -> bool | None:
        """Whether ``a`` is in x's past, by a walk from x that stops at the first proof; None
        when it expanded ``SEARCH_LIMIT`` ops without an answer."""
        author, seq, floor = a.author, a.seq, a.lamport
        meta = self.meta
        covered: list[VectorClock] = []  # anchors met that lack a: what they cover lacks it too
        heap: list[tuple[int, bytes, OpMeta]] = []
        seen: set[bytes] = set()
        expanded = 0
        y = x
        while True:
            for p in y.parents:
                if p in seen:
                    continue
                seen.add(p)
                if p in holds:
                    return True
                m = meta(p)
                if m.author == author:
                    if m.seq >= seq:
                        return True
                    continue  # before a in a's own chain: its past cannot hold a
                if m.lamport > floor and p not in lacks:  # not newer than a: cannot hold it
                    heapq.heappush(heap, (-m.lamport, p, m))
            met = len(covered)
            y = self._next_uncovered(heap, covered)
            # an anchor met holds a; the others lack it, and so does all that they cover
            if any(c.get(author, 0) >= seq for c in covered[met:]):
                return True
            if y is None:
                return False
            expanded += 1
            if expanded > SEARCH_LIMIT and self._noted:  # unwired: no cheaper way than on
                return None

    def _next_uncovered(
        self, heap: list[tuple[int, bytes, OpMeta]], covered: list[VectorClock]
    ) -> OpMeta | None:
        """Pop ``heap`` (newest first) down to the first op that no anchor met so far covers,
        and return it; None when the heap runs dry. Anchors popped on the way are added to
        ``covered`` (their clocks are taken whole: what they cover is never expanded). The
        step that :meth:`_search` and :meth:`_near` share."""
        clocks = self._clocks
        while heap:
            _, p, y = heapq.heappop(heap)
            clock = clocks.get(p)
            if clock is not None:
                clocks.move_to_end(p)
                covered.append(clock)
                continue
            if covered and any(self._covered(y, c) for c in covered):
                continue
            return y
        return None

    def _near(self, x: OpMeta) -> bool:
        """A walk from x meets anchors that cover all of x's past but fewer than ``NEAR`` ops:
        an anchor at x would spare later walks almost nothing, and copying its clock (one
        entry per member) is the dearest part of an anchor. Concurrent ops that each name an
        anchored op (ballots on one proposal) are all near; a chain since the last anchor is
        not. Only clocks met are read, none is copied (as in :meth:`_search`)."""
        meta = self.meta
        covered: list[VectorClock] = []  # anchors met
        heap: list[tuple[int, bytes, OpMeta]] = []
        seen: set[bytes] = set()
        expanded = 0
        y: OpMeta | None = x
        while True:
            for p in y.parents:
                if p not in seen:
                    seen.add(p)
                    m = meta(p)
                    heapq.heappush(heap, (-m.lamport, p, m))
            y = self._next_uncovered(heap, covered)
            if y is None:
                return True
            expanded += 1
            if expanded >= NEAR:
                return False

    def _walk(
        self,
        x: OpMeta,
        limit: int | None = None,
        seed: tuple[bytes, VectorClock] | None = None,
    ) -> VectorClock | None:
        """x's clock: a walk back in descending lamport order that takes the memoized clocks
        it meets whole and skips what they cover. None when it expanded more than ``limit``
        ops. ``seed``: (a parent of x, its clock), taken as an anchor already met."""
        clocks, meta = self._clocks, self.meta
        base: VectorClock = dict(seed[1]) if seed else {}  # union of the anchors met
        own: VectorClock = {x.author: x.seq}  # the ops walked
        heap: list[tuple[int, bytes, OpMeta]] = []
        seen: set[bytes] = {seed[0]} if seed else set()
        expanded = 0
        y = x
        while True:
            for p in y.parents:
                if p not in seen:
                    seen.add(p)
                    m = meta(p)
                    if not (base and self._covered(m, base)):
                        heapq.heappush(heap, (-m.lamport, p, m))
            y = None
            while heap:
                _, p, m = heapq.heappop(heap)
                if base and self._covered(m, base):
                    continue  # in the past of an anchor already taken: so is all it saw
                clock = clocks.get(p)
                if clock is not None:
                    clocks.move_to_end(p)
                    if not base:
                        base.update(clock)
                        continue
                    for author, s in clock.items():
                        if base.get(author, 0) < s:
                            base[author] = s
                    continue
                y = m
                break
            if y is None:
                break
            expanded += 1
            self._expanded += 1
            if limit is not None and expanded > limit:
                return None
            if own.get(y.author, 0) < y.seq:
                own[y.author] = y.seq
        for author, s in own.items():
            if base.get(author, 0) < s:
                base[author] = s
        return base


def clock_contains(clock: VectorClock, author: bytes, seq: int) -> bool:
    return clock.get(author, 0) >= seq
