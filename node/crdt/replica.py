"""The replica: the pure ingest engine that turns a set of ops into state.

It decides, for each authentic op, whether it can be applied now (its whole causal past is
present), must wait (a ``prev`` or a dep is missing), is a duplicate, proves a fork, or breaks a
chain rule; it applies ops in causal order through the kind handlers; and it reports every change
so that a persistent store can write exactly that. It does no I/O: the store wraps it.

Rules decided here (normative text in ``specs/ops.md``):
- ``lamport`` must equal ``max(lamport of prev and deps) + 1`` (1 for an op with no parents);
  prev is the author's op at ``seq - 1``; deps belong to the same community.
- A non-genesis op at ``seq`` 1 must name at least one dep, so that every op's causal past
  reaches its community's genesis.
- Two authentic ops at one (community, author, seq) are a fork; two that name one ``prev``
  are a *split*. The author's ops in that community are *void* from the split's seq on, and
  from seq 1 once there are splits at two seqs (``chain.Forked``; the founder's genesis
  excepted): so they turn void at most twice, whatever the proofs. Void ops have no effect,
  but every branch is logged as soon as its parents are known, so that an honest op that
  names a branch op as a dep applies once that op is *known* (whatever its status): one
  author's misbehaviour never holds back another's op. ``positions`` keeps the first op
  logged at each chain position (and, apart, the others: splits are found against every
  op there); below the seq an author is void from there is only one.
- A fork proof costs work in proportion to the forked author's ops: proofs about an author
  with no logged op in the community are not kept; a proof rebuilds state only when it voids
  ops that had applied, and then only the state of that community, once per batch
  (:meth:`settle`).
- A handler may *cut* an author's chain (a removal does, ``state.cut_chain``): the author's ops
  in the community above the cut are void, as after a fork. Cuts come from state, so they
  are judged like state: a cut that voids ops that had applied, or a cutting op whose causal
  past holds ops a cut voided (its verdict may rest on them), rebuilds the community; a
  rebuild restarts with a cut known from the start when the cut voids an op the pass had
  already applied. Cuts only accumulate within a rebuild, so the state is one function of
  the set of ops whatever the order they came in (``specs/ops.md`` §8).
- Honest writers never name as a dep an op that did not apply (rejected or void), nor the head
  of a forked or cut author.
- The pending area is bounded in bytes, with a quota per author, and ops of authors a
  community does not know yet (strangers) share a fixed part of it, so they can never push out
  or stall known authors' ops. Which op goes when a bound is hit is set out in
  ``specs/ops.md`` §9; sync fetches dropped ops again (by id: :meth:`missing`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import nacl.signing

from .causal import CausalIndex, OpMeta
from .chain import Forked, ForkProof
from .op import GENESIS_KIND, MAX_DEPS, NO_COMMUNITY, Op, OpError, sign_op
from .pending import PendingArea
from .state import CHAIN_CUTS, Context, HandlerMap, Rejected, State

log = logging.getLogger(__name__)

APPLIED, REJECTED, VOID = "applied", "rejected", "void"
PENDING, DUPLICATE, FORK, INVALID, DROPPED = "pending", "duplicate", "fork", "invalid", "dropped"
IGNORED = "ignored"  # a fork proof about an author with no logged op in the community
LOGGED = (APPLIED, REJECTED, VOID)  # statuses of ops that entered the log

ChainKey = tuple[bytes, bytes]  # (community, author)
_NO_HEADS: dict = {}


@dataclass(frozen=True, slots=True)
class Outcome:
    op_id: bytes
    status: str
    reason: str = ""
    # Human-readable words about the reason (a handler's ``Rejected.detail``: which field is
    # wrong and why). Not persisted and not part of any verdict: only ``reason`` is.
    detail: str = ""


_OUTCOME_SETTERS = tuple(
    Outcome.__dict__[f].__set__ for f in ("op_id", "status", "reason", "detail")
)


def _prev_of(meta: OpMeta) -> bytes | None:
    return meta.parents[0] if meta.seq > 1 else None


def _applied(op_id: bytes) -> Outcome:
    """``Outcome(op_id, APPLIED)`` without the frozen dataclass's ``__init__`` (a third of the
    cost; made for every op applied)."""
    out = object.__new__(Outcome)
    s0, s1, s2, s3 = _OUTCOME_SETTERS
    s0(out, op_id)
    s1(out, APPLIED)
    s2(out, "")
    s3(out, "")
    return out


@dataclass
class Changes:
    """What happened since the last :meth:`Replica.take_changes`; the store persists it."""

    logged: list[tuple[Op, Outcome]] = field(default_factory=list)
    pending_added: list[Op] = field(default_factory=list)
    pending_removed: list[bytes] = field(default_factory=list)
    forks: list[ForkProof] = field(default_factory=list)
    # ops whose status a fork proof or a rebuild changed: (op id, status, reason)
    restatus: list[tuple[bytes, str, str]] = field(default_factory=list)
    rebuilt: bool = False  # the whole state was rebuilt: every row and status anew


class Positions:
    """(community, author, seq) -> the first op id logged at that chain position. One list
    per chain, indexed by seq: a chain's logged ops are contiguous from seq 1 (an op is
    logged only after its ``prev``), and a tuple key per op cost ~150 B of memory. The other
    ops logged at a position (fork branches: rare) are kept apart, for :meth:`all`."""

    __slots__ = ("_chains", "_twins")

    def __init__(self) -> None:
        self._chains: dict[ChainKey, list[bytes | None]] = {}
        self._twins: dict[tuple[bytes, bytes, int], list[bytes]] = {}

    def all(self, key: tuple[bytes, bytes, int]) -> list[bytes]:
        """Every op logged at the position, the first one first."""
        first = self.get(key)
        return [] if first is None else [first, *self._twins.get(key, ())]

    def get(self, key: tuple[bytes, bytes, int], default: bytes | None = None) -> bytes | None:
        ids = self._chains.get((key[0], key[1]))
        seq = key[2]
        if ids is None or not 0 < seq <= len(ids):
            return default
        oid = ids[seq - 1]
        return default if oid is None else oid

    def __contains__(self, key: tuple[bytes, bytes, int]) -> bool:
        return self.get(key) is not None

    def setdefault(self, key: tuple[bytes, bytes, int], oid: bytes) -> bytes:
        ids = self._chains.get((key[0], key[1]))
        if ids is None:
            ids = self._chains[(key[0], key[1])] = []
        seq = key[2]
        if seq > len(ids):
            ids.extend([None] * (seq - len(ids)))
        old = ids[seq - 1]
        if old is None:
            ids[seq - 1] = oid
            return oid
        if old != oid:
            self._twins.setdefault(key, []).append(oid)
        return old

    def add(self, key: tuple[bytes, bytes, int], oid: bytes) -> None:
        """A position above the chain's head (nobody holds it yet)."""
        self.setdefault(key, oid)

    def __delitem__(self, key: tuple[bytes, bytes, int]) -> None:
        chain = (key[0], key[1])
        ids = self._chains[chain]
        if self.get(key) is None:
            raise KeyError(key)
        ids[key[2] - 1] = None
        while ids and ids[-1] is None:
            ids.pop()
        if not ids:
            del self._chains[chain]


class Head(NamedTuple):
    """The newest logged op of a chain (a tuple: one is made for every op applied)."""

    seq: int
    id: bytes
    lamport: int


class Replica:
    def __init__(
        self,
        handlers: HandlerMap | None = None,
        *,
        pending_bytes: int = 64 * 2**20,
        log_source: Callable[[bytes | None], Iterable[Op]] | None = None,
        op_lookup: Callable[[bytes], Op | None] | None = None,
        index: Any = None,
    ):
        """``log_source(community)`` yields every logged op of a community (of all: ``None``)
        in (lamport, author, seq) order (used only to rebuild state after a fork);
        ``op_lookup`` finds a logged op by id (used to build fork proofs). Without them the
        replica keeps logged ops in memory itself.

        ``index``: where the log's metadata lives, an object with ``metas`` (op id ->
        :class:`OpMeta`), ``positions`` (as :class:`Positions`) and ``rejections`` (op id ->
        reason, with ``in_community``), all as mappings (a store's reads its file:
        ``node/store/log.py``). Without one, plain in-memory maps."""
        self.handlers = handlers or {}
        self.state = State()
        if index is None:
            self.metas: Any = {}
            self.positions: Any = Positions()
            self.rejections: Any = {}
        else:
            self.metas, self.positions, self.rejections = (
                index.metas,
                index.positions,
                index.rejections,
            )
        # Without handlers nothing asks causal questions while ingesting: no anchors to keep.
        self.causal = CausalIndex(self.metas.get, anchors=bool(self.handlers))
        self.heads: dict[bytes, dict[bytes, Head]] = {}
        # the splits known: (community, author) -> their ops there from ``Forked.seq`` on are
        # void (a community's genesis excepted: it is the community, see _void_reason)
        self.forks: dict[ChainKey, Forked] = {}
        self.cuts: dict[ChainKey, int] = {}  # (community, author) -> their ops above are void
        # Kinds whose handlers may cut a chain: their ops are checked against the cuts.
        self._cutting = frozenset(
            k for k, h in self.handlers.items() if getattr(h, "cuts_chains", False)
        )
        self._pass: tuple | None = None  # during a rebuild pass: the sort key of the op run
        self._restart = False  # a rebuild pass must start again (see :meth:`rebuild`)
        self.fork_changes = 0
        self._pending = PendingArea(pending_bytes)
        self._memory: dict[bytes, Op] | None = None
        self._own_clocks: dict[ChainKey, tuple[bytes, dict[bytes, int]]] = {}
        if log_source is None or op_lookup is None:
            self._memory = {}
            log_source = lambda c: sorted(  # noqa: E731
                (o for o in self._memory.values() if c is None or o.community_id == c),
                key=lambda o: (o.lamport, o.author, o.seq),
            )
            op_lookup = self._memory.get
        self._log_source = log_source
        self._op_lookup = op_lookup
        self._changes = Changes()
        # Communities whose state a fork proof made stale; rebuilt once by :meth:`settle`.
        self._stale: set[bytes] = set()
        # False: every ingest settles at once. The store sets it True and settles once per
        # transaction, so a batch with many proofs rebuilds each community once.
        self.defer_settle = False

    # ----------------------------------------------------------------- restore from a store
    def restore(
        self,
        heads: Iterable[tuple[bytes, bytes, Head]],
        state: State,
        pending: Iterable[Op] = (),
        forks: Iterable[ForkProof] = (),
    ) -> None:
        """Load persisted data without replaying history: the head of each chain
        (community, author, head), the state, the pending ops and fork proofs. The log itself
        stays where the replica's ``index`` reads it."""
        for community, author, head in heads:
            self.heads.setdefault(community, {})[author] = head
        self.state = state
        self.cuts = self._cuts_in_state(None)
        by_chain: dict[ChainKey, list[ForkProof]] = {}
        for proof in forks:
            by_chain.setdefault((proof.community, proof.author), []).append(proof)
        for proofs in by_chain.values():
            forked = Forked.of(proofs)
            if forked is not None:
                self._note_fork(forked)
        self._changes = Changes()
        # Through the same rules as at ingest, with each author's class as of now (known
        # first, then by lamport): what was parked under other bounds, or became applicable
        # (its parents logged while it sat in the file), is dropped or applied, and the store
        # is told (``pending_removed``) so the file holds what the rules allow now.
        heads = self.heads
        for op in sorted(
            pending, key=lambda o: (o.author not in heads.get(o.community_id, ()), o.lamport, o.id)
        ):
            if op.id in self.metas:
                self._changes.pending_removed.append(op.id)
                continue
            outcome = self.ingest(op)
            if outcome.status != PENDING:
                self._changes.pending_removed.append(op.id)

    # ----------------------------------------------------------------------- queries
    def meta(self, op_id: bytes) -> OpMeta | None:
        return self.metas.get(op_id)

    def has(self, op_id: bytes) -> bool:
        return op_id in self.metas or op_id in self._pending

    def heights(self, community: bytes) -> dict[bytes, Head]:
        """author -> head of the author's chain. For a forked author: the head of the prefix
        below the seq it is void from (the part every branch shares), or nothing at seq 1;
        its ops from the fork seq on travel in fork proofs and by id (``specs/sync.md``)."""
        heads = dict(self.heads.get(community, {}))
        if self.forks:
            for (c, author), forked in self.forks.items():
                seq = forked.seq
                head = heads.get(author)
                if c != community or head is None or head.seq < seq:
                    continue  # below the fork seq a chain is one branch: its head stands
                below = self.positions.get((c, author, seq - 1))
                if below is None:
                    del heads[author]
                else:
                    m = self.metas[below]
                    heads[author] = Head(m.seq, m.id, m.lamport)
        return heads

    def communities(self) -> list[bytes]:
        return list(self.heads)

    def pending_count(self) -> int:
        return len(self._pending)

    def missing(self, community: bytes, limit: int = 1024) -> list[bytes]:
        """Ids that pending ops of ``community`` wait for (not known here): what sync asks
        peers for by id."""
        metas = self.metas
        return [m for m in self._pending.missing(community, limit) if m not in metas]

    def is_void(self, meta: OpMeta) -> bool:
        return self._void_reason(meta) is not None

    def _void_reason(self, meta: OpMeta) -> str | None:
        key = (meta.community, meta.author)
        forked = self.forks.get(key)
        if forked is not None and meta.seq >= forked.seq and meta.id != meta.community:
            return "author forked"  # (never the genesis: voiding it would void the community)
        cut = self.cuts.get(key)
        if cut is not None and meta.seq > cut:
            return "author removed"
        return None

    def applied(self, op_id: bytes) -> bool:
        """True when the op is logged and had its effect (neither rejected nor void)."""
        meta = self.metas.get(op_id)
        return meta is not None and op_id not in self.rejections and not self.is_void(meta)

    def next_fields(
        self, community: bytes, author: bytes, deps: Iterable[bytes] = ()
    ) -> tuple[int, bytes | None, int, list[bytes]]:
        """(seq, prev, lamport, deps) for a new local op: the caller's explicit deps first,
        then the newest heads of other authors that the author's own chain does not already
        name (so a quiet community does not get the same 16 deps on every op), up to the
        deps bound. Raises ``OpError`` for an unknown community or a bad explicit dep."""
        heads = self.heads.get(community)
        if heads is None:
            raise OpError("unknown_community", community.hex()[:16])
        metas = self.metas
        chosen = list(dict.fromkeys(deps))
        if len(chosen) > MAX_DEPS:
            raise OpError("bad_deps", f"more than {MAX_DEPS} explicit deps")
        covered = self.own_clock(community, author)
        for d in chosen:
            m = metas.get(d)
            if m is None or m.community != community:
                raise OpError("bad_deps", f"dep {d.hex()[:16]} is not a known op of the community")
            if covered.get(m.author, 0) < m.seq:
                covered[m.author] = m.seq
        forks, cuts = self.forks, self.cuts
        fresh = sorted(
            (
                h
                for a, h in heads.items()
                if a != author and (community, a) not in forks and (community, a) not in cuts
                for h in (self._latest_applied(community, a, h),)
                if h is not None and covered.get(a, 0) < h.seq
            ),
            key=lambda h: (h.lamport, h.id),
            reverse=True,
        )
        for h in fresh[: max(0, MAX_DEPS - len(chosen))]:
            chosen.append(h.id)
        own = heads.get(author)
        prev = own.id if own is not None else None
        chosen = [d for d in chosen if d != prev]
        if prev is None and not chosen and community in metas:
            chosen = [community]  # a first op names a dep: the genesis always qualifies
        parents = [prev, *chosen] if prev is not None else chosen
        lamport = max((metas[p].lamport for p in parents), default=0) + 1
        return (own.seq + 1 if own is not None else 1), prev, lamport, sorted(chosen)

    def _latest_applied(self, community: bytes, author: bytes, head: Head) -> Head | None:
        """The newest op of the author's chain that applied, looking back a few ops from its
        head: an honest writer never vouches, by naming it, for an op the rules rejected (a
        stranger's, say). None when there is none nearby (a stranger has none at all)."""
        if head.id not in self.rejections:
            return head
        for seq in range(head.seq - 1, max(0, head.seq - 16), -1):
            oid = self.positions.get((community, author, seq))
            if oid is not None and oid not in self.rejections:
                m = self.metas[oid]
                return Head(m.seq, m.id, m.lamport)
        return None

    def own_clock(self, community: bytes, author: bytes) -> dict[bytes, int]:
        """A lower bound of the causal past of ``author``'s head: for each other author, the
        highest seq that the author's own logged ops name directly (prev/deps). Heads at or
        below it are already covered and need not be named again. Cached per chain and
        extended op by op; recomputed from the in-memory index when the head moved further."""
        head = self.heads.get(community, {}).get(author)
        if head is None:
            return {}
        key = (community, author)
        metas = self.metas
        cached = self._own_clocks.get(key)
        if cached is not None and cached[0] == head.id:
            return dict(cached[1])
        meta = metas[head.id]
        if cached is not None and meta.parents and meta.parents[0] == cached[0]:
            clock, new = cached[1], (meta,)  # the usual case: one local op since last time
        else:
            positions = self.positions
            clock, new = {}, []
            for seq in range(1, head.seq + 1):
                oid = positions.get((community, author, seq))
                if oid is not None:
                    new.append(metas[oid])
        for m in new:
            for p in m.parents:
                pm = metas.get(p)
                if pm is not None and pm.author != author and clock.get(pm.author, 0) < pm.seq:
                    clock[pm.author] = pm.seq
        self._own_clocks[key] = (head.id, clock)
        return dict(clock)

    def compose(
        self,
        key: nacl.signing.SigningKey,
        community: bytes,
        kind: str,
        body: Mapping[str, Any],
        *,
        deps: Iterable[bytes] = (),
        ts: int = 0,
    ) -> Op:
        """Build and sign the next op of ``key``'s chain (not ingested yet)."""
        if kind == GENESIS_KIND:  # a genesis names no community and starts a new chain
            community, (seq, prev, lamport, chosen) = NO_COMMUNITY, (1, None, 1, [])
        else:
            seq, prev, lamport, chosen = self.next_fields(community, bytes(key.verify_key), deps)
        return sign_op(
            key,
            community=community,
            seq=seq,
            prev=prev,
            deps=chosen,
            lamport=lamport,
            ts=ts,
            kind=kind,
            body=body,
        )

    # ------------------------------------------------------------------------ ingest
    def ingest(self, op: Op) -> Outcome:
        """Take one authentic op (signature or chain already checked by the caller)."""
        # This is the hot path of every ingest: plain local lookups, no helper calls unless
        # something is unusual (a duplicate, a fork, a missing parent, a waiting op).
        oid = op.id
        metas = self.metas
        if oid in metas:
            return Outcome(oid, DUPLICATE)
        if oid in self._pending:
            return Outcome(oid, PENDING, "already waiting")
        community = oid if op.kind == GENESIS_KIND else op.community
        fork = None
        # a chain's logged ops run from seq 1 to its head: above it no position is held
        head = self.heads.get(community, _NO_HEADS).get(op.author)
        other = (
            None
            if head is None or head.seq < op.seq
            else self.positions.get((community, op.author, op.seq))
        )
        if other is not None:
            fork = self._fork(op, other)
            if fork.status == INVALID:
                return fork
        parents = self._parents(op)
        if parents is None:
            outcome = self._park(op, self._missing(op))
        else:
            outcome = self._apply(op, community, parents)
            if self._pending.has_waiters():
                self._release(oid)
        if self._stale and not self.defer_settle:
            self.settle()
        # A fork is reported as such (the op itself is logged void, or waits for its parents).
        return fork if fork is not None and outcome.status != INVALID else outcome

    def ingest_many(self, ops: Iterable[Op]) -> list[Outcome]:
        deferred, self.defer_settle = self.defer_settle, True
        try:
            outcomes = [self.ingest(op) for op in ops]
        finally:
            self.defer_settle = deferred
        if not deferred:
            self.settle()
        return outcomes

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def unwritten(self) -> list[Op]:
        """The ops logged since the last :meth:`take_changes` (a store writes them when it
        takes the changes: they are in its rows already, not yet in its log)."""
        return [op for op, _ in self._changes.logged]

    def retract(self, op: Op) -> None:
        """Forget ``op``, the last op ingested, which a handler rejected: a local op that its
        author will not publish after all (the store's ``append``). A rejected op changed no
        state and nothing can depend on an op nobody else has seen, so only the indexes and
        the pending report need undoing."""
        meta = self.metas[op.id]
        if self.rejections.get(op.id) is None:
            raise ValueError("only a just-rejected op can be retracted")
        del self.metas[op.id]
        del self.positions[(meta.community, meta.author, meta.seq)]
        heads = self.heads[meta.community]
        if op.prev is None:
            del heads[meta.author]
            if not heads:
                del self.heads[meta.community]
        else:
            prev = self.metas[op.prev]
            heads[meta.author] = Head(prev.seq, prev.id, prev.lamport)
        del self.rejections[op.id]
        self._changes.logged = [(o, out) for o, out in self._changes.logged if o.id != op.id]
        if self._memory is not None:
            self._memory.pop(op.id, None)

    # -------------------------------------------------------------------- internals
    def _parents(self, op: Op) -> list[OpMeta] | None:
        """The metadata of ``op``'s prev (if any) then its deps, each looked up once (the op's
        checks and its own metadata use them), or None when one is not logged."""
        get = self.metas.get
        prev = op.prev
        if prev is None:
            parents = []
        else:
            meta = get(prev)
            if meta is None:
                return None
            parents = [meta]
        for d in op.deps:  # a plain loop: this runs for every op (no generator per op)
            meta = get(d)
            if meta is None:
                return None
            parents.append(meta)
        return parents

    def _missing(self, op: Op) -> set[bytes]:
        parents = (op.prev, *op.deps) if op.prev is not None else op.deps
        return {p for p in parents if p not in self.metas}

    def _park(self, op: Op, missing: set[bytes]) -> Outcome:
        known = op.author in self.heads.get(op.community_id, ())
        kept, evicted = self._pending.park(op, missing, known)
        self._changes.pending_removed.extend(evicted)
        if not kept:
            return Outcome(op.id, DROPPED, "pending area full")
        self._changes.pending_added.append(op)
        return Outcome(op.id, PENDING, "waiting for " + ", ".join(m.hex()[:16] for m in missing))

    def _release(self, applied_id: bytes) -> None:
        """Apply, in causal order, every pending op that was only waiting for ``applied_id``."""
        work = [applied_id]
        while work:
            for waiter_id in self._pending.take_waiters(work.pop()):
                waiter = self._pending.get(waiter_id)
                parents = None if waiter is None else self._parents(waiter)
                if parents is None:
                    continue
                self._pending.remove(waiter_id)
                self._changes.pending_removed.append(waiter_id)
                position = (waiter.community_id, waiter.author, waiter.seq)
                other = self.positions.get(position)
                if other is not None and self._fork(waiter, other).status == INVALID:
                    continue
                if self._apply(waiter, waiter.community_id, parents).status != INVALID:
                    work.append(waiter_id)

    def _check_causal(self, op: Op, community: bytes, parents: list[OpMeta]) -> None:
        """``parents``: the metadata of the op's prev (if any), then of its deps."""
        if op.prev is not None:
            prev = parents[0]
            if prev.author != op.author or prev.community != community or prev.seq != op.seq - 1:
                raise OpError("chain_broken", "prev is not the author's op at seq - 1")
        elif op.seq != 1:
            raise OpError("chain_broken", "missing prev")
        elif op.kind != GENESIS_KIND and not parents:
            raise OpError("bad_deps", "a first op in a community must name a dep")
        highest = 0  # the highest lamport among the parents
        for parent in parents:  # (a prev got here only if in this community)
            if parent.community != community:
                raise OpError("bad_deps", "a dep belongs to another community")
            if parent.lamport > highest:
                highest = parent.lamport
        if op.lamport != highest + 1:
            raise OpError("bad_lamport", f"lamport {op.lamport}, expected {highest + 1}")

    def _apply(self, op: Op, community: bytes, parents: list[OpMeta]) -> Outcome:
        """Check and log ``op``, whose parents (``_parents``) are all logged."""
        try:
            self._check_causal(op, community, parents)
        except OpError as exc:
            return Outcome(op.id, INVALID, exc.reason)
        # The parents' own id objects, not the op's copies: metas outlive ops (~230 B an op).
        ids = tuple([meta.id for meta in parents])
        meta = OpMeta(op.id, op.author, op.seq, op.lamport, ids, community)  # = OpMeta.of
        self._index(meta)
        self.causal.note(meta)  # anchors that bound every later causal walk (causal.py)
        if self._memory is not None:
            self._memory[op.id] = op
        outcome = self._run_handler(op, meta)
        self._changes.logged.append((op, outcome))
        return outcome

    def _index(self, meta: OpMeta) -> None:
        self.metas[meta.id] = meta
        heads = self.heads.get(meta.community)
        if heads is None:
            heads = self.heads[meta.community] = {}
        head = heads.get(meta.author)
        position = (meta.community, meta.author, meta.seq)
        if head is None or head.seq < meta.seq:
            self.positions.add(position, meta.id)  # above the head: a position nobody holds
            heads[meta.author] = Head(meta.seq, meta.id, meta.lamport)
        else:
            self.positions.setdefault(position, meta.id)

    def _run_handler(self, op: Op, meta: OpMeta) -> Outcome:
        if self.forks or self.cuts:
            reason = self._void_reason(meta)
            if reason is not None:
                return Outcome(op.id, VOID, reason)
        if not self.handlers:
            return _applied(op.id)
        if op.kind in self._cutting:
            suspect = self._past_has_cut(meta)
            outcome = self._call_handler(op)
            self._take_cuts(meta, suspect)
            # A handler may cut its own op's chain (a device link whose signer was revoked
            # concurrently: ``records/devices.py``); it then writes nothing else, and the op
            # is void like the link that arrived before the revocation and was cut by it.
            reason = self._void_reason(meta)
            if reason is not None:
                self.rejections.pop(op.id, None)
                return Outcome(op.id, VOID, reason)
            return outcome
        return self._call_handler(op)

    def _call_handler(self, op: Op) -> Outcome:
        handler = self.handlers.get(op.kind)
        try:
            if handler is None:
                raise Rejected("unknown_kind", op.kind)
            handler(op, Context(self.state, self.causal))
        except Rejected as exc:
            self.rejections[op.id] = exc.reason
            return Outcome(op.id, REJECTED, exc.reason, exc.detail)
        except Exception as exc:  # a handler bug must not take the node down
            log.exception("handler for %s failed on op %s", op.kind, op.id.hex())
            self.rejections[op.id] = "internal_error"
            return Outcome(op.id, REJECTED, f"internal_error: {exc.__class__.__name__}", str(exc))
        return _applied(op.id)

    # -------------------------------------------------------------------- chain cuts
    def _cuts_in_state(self, community: bytes | None) -> dict[ChainKey, int]:
        return {
            (k[:32], k[32:]): seq
            for k, seq in self.state.scan(CHAIN_CUTS)
            if community is None or k[:32] == community
        }

    def _past_has_cut(self, meta: OpMeta) -> bool:
        """True when ``meta``'s causal past holds an op that a cut voided: its handler then
        judges without ops that a node which had not seen the cut yet would count."""
        cuts = [(a, seq) for (c, a), seq in self.cuts.items() if c == meta.community]
        if not cuts:
            return False
        clock = self.causal.vector_clock(meta)
        return any(clock.get(a, 0) > seq for a, seq in cuts)

    def _take_cuts(self, meta: OpMeta, suspect: bool) -> None:
        """After a cutting op's handler: adopt the cuts it wrote, void what they reach."""
        community = meta.community
        for key, seq in self._cuts_in_state(community).items():
            old = self.cuts.get(key)
            if old is not None and old <= seq:
                continue
            self.cuts[key] = seq
            reached = [oid for oid in self._applied_above(key, seq, old) if oid != meta.id]
            if self._pass is not None:  # rebuilding: only ops this pass already ran matter
                if any(
                    (m.lamport, m.author, m.seq) < self._pass for m in map(self.metas.get, reached)
                ):
                    self._restart = True
            elif reached:
                self._stale.add(community)
            else:
                for oid in self._logged_above(key, seq, old):
                    if oid == meta.id:
                        continue  # the cutting op itself: its own outcome says void
                    self.rejections.pop(oid, None)
                    self._changes.restatus.append((oid, VOID, "author removed"))
        if suspect and self._pass is None:
            self._stale.add(community)

    def _logged_above(self, key: ChainKey, seq: int, old: int | None) -> list[bytes]:
        """The author's logged ops above ``seq`` (up to an older cut) and below a fork seq."""
        community, author = key
        head = self.heads.get(community, {}).get(author)
        if head is None:
            return []
        top = head.seq if old is None else old
        forked = self.forks.get(key)
        if forked is not None:
            top = min(top, forked.seq - 1)
        positions = self.positions
        return [
            oid for s in range(seq + 1, top + 1) if (oid := positions.get((*key, s))) is not None
        ]

    def _applied_above(self, key: ChainKey, seq: int, old: int | None) -> list[bytes]:
        rejections = self.rejections
        return [oid for oid in self._logged_above(key, seq, old) if oid not in rejections]

    def _fork(self, op: Op, other_id: bytes) -> Outcome:
        """``op`` is authentic and another op holds its chain position: a fork. It is a split
        at this seq when it names the same ``prev`` as an op logged here: then a proof is
        built, if the split is news. Otherwise ``op`` continues a split further down (its
        prev is one of two ops at ``seq - 1``: logged, they made that split known), or waits
        for its prev (this runs again when it is released). Every op logged at the position
        is looked at, so the splits found are the same whatever order the ops came in."""
        community = self.metas[other_id].community
        known = self.forks.get((community, op.author))
        if known is not None and known.knows(op.seq):
            return Outcome(op.id, FORK, "already known")
        metas, prev = self.metas, op.prev
        twin_id = next(
            (
                oid
                for oid in self.positions.all((community, op.author, op.seq))
                if oid != op.id and _prev_of(metas[oid]) == prev
            ),
            None,
        )
        if twin_id is None:
            return Outcome(op.id, FORK, "a branch of a split further down")
        twin = self._op_lookup(twin_id)
        if twin is None:
            return Outcome(op.id, INVALID, "fork partner is not in the log")
        try:
            proof = ForkProof.of(twin, op)
        except OpError as exc:
            return Outcome(op.id, INVALID, exc.reason)
        outcome = self.add_fork_proof(proof)
        return Outcome(op.id, FORK, outcome.reason)

    def add_fork_proof(self, proof: ForkProof) -> Outcome:
        """Accept a (checked) fork proof, from our own detection or from a peer.

        Only a split is kept (``ForkProof.split``): twins that name different prevs say that
        the chain split further down, and their ops, once logged, show where. What turns
        void is a function of the splits known (``chain.Forked``): from the split's seq, or
        from seq 1 once there are two, so however the proofs come, one author's make this
        node rebuild a community at most twice.

        Its cost is bounded by the author's ops in the community: a proof about an author
        with no logged op there is not kept (nothing of theirs can be voided; if their ops
        arrive later, the fork shows again, or a peer sends the proof again); a proof that
        voids only ops that had no effect (rejected ones) changes statuses, not state; only a
        proof that voids applied ops marks the community's state stale (:meth:`settle`)."""
        community, author = proof.community, proof.author
        key = (community, author)
        if not proof.split:
            return Outcome(proof.b.id, IGNORED, "not a split: its ops name different prevs")
        known = self.forks.get(key)
        forked = Forked((proof,)) if known is None else known.plus(proof)
        if forked is None:
            return Outcome(proof.b.id, FORK, "already known")
        if (community, author, 1) not in self.positions:
            return Outcome(proof.b.id, IGNORED, "no logged op of this author")
        upto = known.seq if known is not None else self.heads[community][author].seq + 1
        self._note_fork(forked)
        newly_void = [
            oid
            for seq in range(forked.seq, upto)
            if (oid := self.positions.get((community, author, seq))) is not None
        ]
        self._changes.forks.append(proof)
        if any(oid not in self.rejections for oid in newly_void):
            self._stale.add(community)
        else:  # nothing had an effect: only the statuses change
            for oid in newly_void:
                self.rejections.pop(oid, None)
                self._changes.restatus.append((oid, VOID, "author forked"))
        return Outcome(proof.b.id, FORK, f"author forked: void from seq {forked.seq}")

    def _note_fork(self, forked: Forked) -> None:
        self.forks[(forked.community, forked.author)] = forked
        self.causal.fork(forked.community, forked.author, forked.seq)  # its chain branches
        self.fork_changes += 1  # lets a watcher (the service) see news without a scan

    @property
    def stale(self) -> frozenset[bytes]:
        """Communities whose state waits for :meth:`settle`."""
        return frozenset(self._stale)

    def mark_stale(self, communities: Iterable[bytes]) -> None:
        """Communities to rebuild at the next :meth:`settle` (a store's rebuilds put off)."""
        self._stale.update(communities)

    def settle(self) -> None:
        """Rebuild the state of every community a fork proof made stale (see
        :meth:`add_fork_proof`)."""
        while self._stale:
            self.rebuild(self._stale.pop())

    def rebuild(self, community: bytes | None = None) -> None:
        """Recompute the state of ``community`` (every community: ``None``) from its logged
        ops in causal (lamport) order, skipping void ops, and report each op whose status
        changed. A community's rows are those whose key starts with the id of one of its ops
        (records and governance key rows by op id, or by community/op id + member); if some
        row does not follow that rule, everything is rebuilt.

        Cuts are found again from nothing: a cut takes effect for the ops after its cutting
        op in the pass; when it voids an op the pass already applied, the pass starts over
        with that cut known from the start. Cuts only accumulate, so this ends, after at most
        one more pass per cut (removals are rare)."""
        if community is not None and len(self.heads) == 1:
            community = None  # the only community: the same work, and no rows to sort out
        if community is not None and not self._drop_rows(community):
            community = None
        before = self._rejected_in(community)
        mine = (lambda key: True) if community is None else (lambda key: key[0] == community)
        seeds: dict[ChainKey, int] = {}
        while True:
            if community is None:
                self.state.clear()
            for oid in before:
                self.rejections.pop(oid, None)
            self.cuts = {k: v for k, v in self.cuts.items() if not mine(k)} | seeds
            # the log is read afresh by each pass, op by op: a rebuild holds no history
            report = self._rebuild_pass(self._log_source(community), before, community is None)
            if report is not None:
                break
            seeds = {k: v for k, v in self.cuts.items() if mine(k)}
            if community is not None:
                self._drop_rows(community)
        for (c, author), seq in seeds.items():  # a cut found in an earlier pass stays
            key = c + author
            if self.state.get(CHAIN_CUTS, key, seq + 1) > seq:
                self.state.put(CHAIN_CUTS, key, seq)
        self._changes.restatus.extend(report)
        if community is None:
            self._changes.rebuilt = True

    def _rebuild_pass(
        self, ops: Iterable[Op], before: dict[bytes, str], whole: bool
    ) -> list[tuple[bytes, str, str]] | None:
        """Run every op's handler in order; None when a cut asks for a new pass. Otherwise
        the ops whose status to report: those whose verdict changed from ``before``, every
        void one, and (``whole``: every community rebuilt, the store then sets all others
        applied) every one that did not apply."""
        metas, rejections, report = self.metas, self.rejections, []
        self._restart = False
        try:
            for op in ops:
                rejections.pop(op.id, None)  # this pass's verdict, not the last state's
                self._pass = (op.lamport, op.author, op.seq)
                out = self._run_handler(op, metas[op.id])
                if self._restart:
                    return None
                was = before.get(op.id)
                now = out.reason if out.status == REJECTED else None
                if out.status == VOID or now != was or (whole and now is not None):
                    report.append((op.id, out.status, now or out.reason))
        finally:
            self._pass = None
        return report

    def _rejected_in(self, community: bytes | None) -> dict[bytes, str]:
        """The rejected ops of ``community`` (of all: ``None``) -> reason."""
        if isinstance(self.rejections, dict):
            metas = self.metas
            return {
                oid: reason
                for oid, reason in self.rejections.items()
                if community is None or metas[oid].community == community
            }
        return self.rejections.in_community(community)

    def _drop_rows(self, community: bytes) -> bool:
        """Delete (through the state, so the store sees it) every row of ``community``;
        False, deleting nothing, if some row's key cannot be attributed to a community."""
        metas, doomed = self.metas, []
        for table, key in self.state.keys():
            owner = metas.get(key[:32]) if isinstance(key, bytes) else None
            if owner is None:
                return False
            if owner.community == community:
                doomed.append((table, key))
        self.state.forget()
        for table, key in doomed:
            self.state.delete(table, key)
        return True
