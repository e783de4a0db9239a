"""The node's persistent store: a :class:`Replica` whose reported changes go to SQLite.

The replica decides everything (causal order, pending area, forks, handlers); the store checks
what the replica trusts the caller to check (decoding, signatures, chain links for ranges),
and writes what the replica reports in the same transaction as the ops that caused it. Opening
loads the chains' heads, pending ops and fork proofs: history is neither replayed nor held in
memory (the replica reads op metadata through ``log.LogIndex``, state rows through
``rows.SqlState``, each with a bounded cache).
"""

from __future__ import annotations

import gc
import importlib
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cbor2
import nacl.signing

from node.crdt.causal import CausalIndex
from node.crdt.chain import ForkProof, verify_range
from node.crdt.op import (
    GENESIS_KIND,
    NO_COMMUNITY,
    Op,
    OpError,
    decode_op,
    decode_unverified,
    op_id,
    signing_input_of,
)
from node.crdt.replica import (
    APPLIED,
    DUPLICATE,
    INVALID,
    REJECTED,
    VOID,
    Head,
    Outcome,
    Replica,
)
from node.crdt.state import HandlerMap, Rejected

from . import schema, writer
from .flush import write_changes
from .log import LogIndex
from .queries import Queries
from .rows import SqlState
from .verify import BatchChecks, cores
from .writer import Step

HANDLER_MODULES = ("node.crdt.records", "node.governance")

# A rebuild replays a community's whole log: minutes at 1,000,000 ops. Hostile keys can each
# cause a couple (two splits per key, ``specs/ops.md`` §8; a member can mint device keys),
# so after a rebuild that took T seconds the next one waits REBUILD_PAUSE x (T - REBUILD_FREE):
# rebuilds take at most about a quarter of the node's time, however many keys cause them.
# Meanwhile the community's state still shows what the now-void ops did (``rebuild_pending``),
# and the file says which communities wait (meta ``stale``), so a restart rebuilds them.
REBUILD_FREE = 0.5  # seconds: a rebuild this short (a small community) never delays the next
REBUILD_PAUSE = 3.0

# Inside ``Store.batched()`` (a sync session) transactions share one commit, made once the
# span is SPAN_SECONDS old or holds SPAN_OPS ops, or when the last batched() ends. At a
# million ops each batch's rows land on pages all over the state's b-trees, so committing
# every batch of a catch-up (2,048 ops) wrote each such page again and again: ~80 KB to the
# WAL per op at 300,000 ops, 3 KB with one commit per 50,000 (measured). A crash loses at most
# the span's ops, which peers send again; local ops still commit at once (``append``).
SPAN_SECONDS = 10.0
SPAN_OPS = 50_000


def default_handlers() -> HandlerMap:
    """Records' and governance's handlers, for whichever of those packages exist."""
    merged: HandlerMap = {}
    for name in HANDLER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        merged.update(getattr(module, "HANDLERS", None) or {})
    return merged


def _id_of(item: bytes | Op) -> bytes:
    """The op's id; b"" for an item that is neither an Op nor bytes."""
    if type(item) is Op:
        return item.id
    try:
        return op_id(item)
    except TypeError:
        return b""


class Store(Queries):
    """Open with :meth:`open`. Not thread-safe: one owner (the daemon, or the offline CLI)."""

    def __init__(
        self, db, path: Path, handlers: HandlerMap, pending_bytes: int, lock: int | None = None
    ):
        self._db = db
        # a batch of a span writes its op rows on a writer thread while the next is checked
        # (writer.py): only where a second core can take them
        self._behind = isinstance(db, writer.Connection) and writer.SERIALIZED and cores() > 1
        if self._behind:
            db.on_failure = self._load
        self._lock = lock
        self.path = path
        self.handlers = handlers
        self.pending_bytes = pending_bytes
        self._in_tx = False
        self._batched = 0  # open ``batched()`` contexts
        self._span: tuple[float, int] | None = None  # an uncommitted span: (began, ops)
        self._linger_until = 0.0  # transactions before this share a span too (``linger``)
        self._clock = time.monotonic
        self._rebuild_after = 0.0  # no rebuild starts before this (``_settle``)
        self._load()

    @classmethod
    def open(
        cls,
        path: str | Path,
        handlers: HandlerMap | None = None,
        *,
        pending_bytes: int = 64 * 2**20,
    ) -> Store:
        """Open or create the store file at ``path``. ``handlers`` defaults to
        :func:`default_handlers`; pass ``{}`` for a pure op log (no state)."""
        path = Path(path)
        if handlers is None:
            handlers = default_handlers()
        lock = schema.lock(path)
        try:
            return cls(schema.connect(path), path, handlers, pending_bytes, lock)
        except BaseException:
            schema.unlock(lock)
            raise

    def close(self) -> None:
        if self._span is not None:
            self._commit()
        self._db.close()
        schema.unlock(self._lock)
        self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- loading
    def _load(self) -> None:
        """(Re)build the in-memory replica from what is committed in the file."""
        db = self._db
        self.chains = schema.Chains(db)
        self.log = LogIndex(db, self.chains)
        self.replica = Replica(
            self.handlers,
            pending_bytes=self.pending_bytes,
            log_source=self._log_source,
            op_lookup=self._op_lookup,
            index=self.log,
        )
        self.replica.defer_settle = True  # settled once per transaction (``_transaction``)
        heads = [
            (c, a, Head(s, i, lam))
            for c, a, s, i, lam in db.execute(
                "SELECT community, author, seq, id, lamport FROM heads"
            )
        ]
        pending = [decode_op(raw, verify=False) for (raw,) in db.execute("SELECT raw FROM pending")]
        forks = [ForkProof.decode(p) for (p,) in db.execute("SELECT proof FROM forks")]
        # Restoring re-parks the pending ops under today's rules (``Replica.restore``), which
        # may drop some or apply them: written in one transaction like any other change.
        state = SqlState(db, unwritten=self.replica.unwritten)
        with self._transaction(reload=False):  # a failed open reloads nothing: it fails
            self.replica.restore(heads, state, pending, forks)
            self.replica.causal.load(
                (oid, cbor2.loads(clock))
                for oid, clock in db.execute("SELECT id, clock FROM anchors ORDER BY lamport")
            )
            row = db.execute("SELECT value FROM meta WHERE key = 'stale'").fetchone()
            self._put_off = row is not None  # the file names communities whose rebuild waits
            self.replica.mark_stale(cbor2.loads(row[0]) if row else ())
            self._settle(now=True)  # rebuilds put off before a restart are done now
            if db.execute("SELECT 1 FROM meta WHERE key = 'rebuild_state'").fetchone():
                self.replica.rebuild()  # state rows of an older layout (schema.py migrations)
                db.execute("DELETE FROM meta WHERE key = 'rebuild_state'")

    # ---------------------------------------------------------------------- properties
    @property
    def state(self) -> SqlState:
        """Materialized state (read only: write through ops)."""
        return self.replica.state

    @property
    def causal(self) -> CausalIndex:
        return self.replica.causal

    # ------------------------------------------------------------------------- writing
    def ingest(self, items: Iterable[bytes | Op], *, verified: bool = False) -> list[Outcome]:
        """Ingest remote ops, each with its own signature check, in one transaction.
        Idempotent. An item is the encoded bytes, or an :class:`Op` that :func:`decode_op` /
        :func:`decode_unverified` already produced (strictly checked, so it is not decoded
        again; its signature is still checked, from the bytes it carries, unless
        ``verified``: the caller has already checked the signatures of those Ops, as the gossip
        validator does). Bytes are always checked.

        Decode all, check the signatures, then apply in order; only applying holds the write
        transaction. With a second core, this thread and a worker share the signature checks
        (``verify.py``: PyNaCl lets go of the GIL while it checks), so signatures are checked
        while ops are decoded and applied. An op is applied only after its own chunk's verdict
        is in; the outcomes are the same either way."""
        items = list(items)
        ids = [_id_of(item) for item in items]
        known = self.log.metas.logged([i for i in ids if i])  # one query per 500 ops
        slots: list[Outcome | Op] = []
        checks = BatchChecks()
        for item, oid in zip(items, ids, strict=True):
            if type(item) is Op:
                if oid in known:
                    slots.append(Outcome(oid, DUPLICATE))
                    continue
                if verified:
                    slots.append(item)
                    continue
                op, message = item, signing_input_of(item)
            else:
                if not oid:
                    slots.append(Outcome(b"", INVALID, "malformed"))
                    continue
                if oid in known:  # skip the signature check for what we already hold
                    slots.append(Outcome(oid, DUPLICATE))
                    continue
                try:
                    op, message = decode_unverified(item, oid)
                except OpError as exc:
                    slots.append(Outcome(oid, INVALID, exc.reason))
                    continue
            checks.add(len(slots), op, message)
            slots.append(op)
        for i, reason in checks.close():
            slots[i] = Outcome(slots[i].id, INVALID, reason)
        ingest = self.replica.ingest
        outcomes = []
        with self._transaction():
            for i, x in enumerate(slots):
                for j, reason in checks.verdicts_through(i):  # an op only after its verdict
                    slots[j] = Outcome(slots[j].id, INVALID, reason)
                x = slots[i]
                outcomes.append(ingest(x) if type(x) is Op else x)
        return outcomes

    def ingest_range(self, items: Iterable[bytes | Op]) -> list[Outcome]:
        """Ingest one author's contiguous range (ascending seq) with ONE signature check: the
        last op's, which vouches for the others through the ``prev`` hash links. Items are
        bytes or already decoded :class:`Op` (as in :meth:`ingest`: not decoded again). If
        any op does not decode or the range does not verify, nothing of it is stored and
        every op gets the reason."""
        return self.ingest_ranges([items])[0]

    def ingest_ranges(self, ranges: Iterable[Iterable[bytes | Op]]) -> list[list[Outcome]]:
        """Several ranges (as :meth:`ingest_range`, each checked on its own) in ONE
        transaction: what a sync round delivers. Checking happens before the transaction.

        The ops of all ranges are applied in lamport order (each range's own order kept: its
        lamports grow), a causal order: a sync batch holds one range per author, and an op
        whose deps are in a later range would otherwise wait in the pending area and be
        decoded again on release (a quarter of a catch-up's ops did). Outcomes are the same
        kind either way; they come back range by range, as the ranges were given."""
        checked: list[list[Op] | list[Outcome]] = []
        for items in ranges:
            items = list(items)
            try:
                ops = [x if type(x) is Op else decode_op(x, verify=False) for x in items]
                verify_range(ops)
            except OpError as exc:
                checked.append([Outcome(_id_of(x), INVALID, exc.reason) for x in items])
                continue
            checked.append(ops)
        # which ops are logged already: none of a range above its chain's head (a catch-up's),
        # one query per 500 ops for the others
        heads, metas, ask = self.replica.heads, self.log.metas, []
        for ops in checked:
            if ops and type(ops[0]) is Op:
                head = heads.get(ops[0].community_id, {}).get(ops[0].author)
                if head is None or ops[0].seq > head.seq:
                    metas.absent(op.id for op in ops)
                else:
                    ask += (op.id for op in ops)
        metas.logged(ask)
        ingest = self.replica.ingest
        if len(checked) == 1:
            with self._transaction():
                return [[ingest(x) if type(x) is Op else x for x in checked[0]]]
        todo = [
            (op.lamport, i, j)
            for i, ops in enumerate(checked)
            if ops and type(ops[0]) is Op
            for j, op in enumerate(ops)
        ]
        todo.sort()
        results: list[list[Any]] = [list(x) for x in checked]
        with self._transaction():
            for _, i, j in todo:
                results[i][j] = ingest(checked[i][j])
        return results

    def ingest_fork_proof(self, proof: bytes | ForkProof) -> Outcome:
        """A fork proof forwarded by a peer (checked here: two valid, different ops)."""
        return self.ingest_fork_proofs([proof])[0]

    def ingest_fork_proofs(self, proofs: Iterable[bytes | ForkProof]) -> list[Outcome]:
        """Several fork proofs, each checked (both signatures) before anything is stored, in
        one transaction: a community whose state they make stale is rebuilt once."""
        checked: list[ForkProof | Outcome] = []
        for proof in proofs:
            try:
                if not isinstance(proof, ForkProof):
                    proof = ForkProof.decode(proof)
                else:
                    proof.check()
            except OpError as exc:
                checked.append(Outcome(b"", INVALID, exc.reason))
                continue
            checked.append(proof)
        with self._transaction():
            return [self._add_fork_proof(p) if isinstance(p, ForkProof) else p for p in checked]

    def _add_fork_proof(self, proof: ForkProof) -> Outcome:
        """A checked proof: its two ops are ingested like any authentic op (logged when their
        parents are known, else parked), then the proof is kept if the author has a logged
        op here (``Replica.add_fork_proof``). So every node that can place the proof's ops in
        its log holds the same ops and proofs, and a proof whose ops can never attach (junk)
        costs a place in the strangers' share of the pending area, nothing more."""
        ingest = self.replica.ingest
        for op in (proof.a, proof.b):
            ingest(op)
        return self.replica.add_fork_proof(proof)

    def append(
        self,
        key: nacl.signing.SigningKey,
        community: bytes,
        kind: str,
        body: dict[str, Any],
        deps: Iterable[bytes] = (),
        ts: int | None = None,
    ) -> Op:
        """Write a local op: assign seq, prev, lamport and deps (the caller's explicit deps plus
        up to 16 heads of other authors that the author's chain has not yet covered), sign it,
        apply it and commit it durably. When this returns, the op survives a crash.

        Raises :class:`Rejected` (and stores nothing) if the kind's handler rejects it, and
        :class:`OpError` for an unknown community or bad deps. An op that is stored but void
        (its author's chain is cut or forked) is returned like any other: :meth:`write` says
        which it is."""
        return self.write(key, community, kind, body, deps, ts)[0]

    def write(
        self,
        key: nacl.signing.SigningKey,
        community: bytes,
        kind: str,
        body: dict[str, Any],
        deps: Iterable[bytes] = (),
        ts: int | None = None,
    ) -> tuple[Op, Outcome]:
        """:meth:`append`, with the op's outcome here: ``APPLIED``, or ``VOID`` (stored, and
        counted nowhere) with the reason."""
        if ts is None:
            ts = time.time_ns() // 1_000_000
        op = self.replica.compose(key, community, kind, body, deps=deps, ts=ts)
        # synchronous=FULL for this transaction: the WAL is fsynced before COMMIT returns, so
        # the op survives power loss too. That matters for local ops only: losing one would
        # let this node sign a different op at the same seq later, i.e. fork its own chain.
        with self._transaction(durable=True):
            writes = self.replica.state.writes
            outcome = self.replica.ingest(op)
            if outcome.status == REJECTED:
                if self.replica.state.writes != writes:  # "reject before mutating" broken
                    raise RuntimeError(f"handler for {kind} changed state, then rejected")
                # Not published: undo it in memory (cheap; nothing else happened in this
                # transaction) and commit nothing.
                self.replica.retract(op)
                self.replica.take_changes()
            elif outcome.status not in (APPLIED, VOID):
                raise OpError(outcome.reason or outcome.status, "local op not applicable")
        if outcome.status == REJECTED:
            # The handler's detail (which field is wrong) is what the user needs to read.
            raise Rejected(outcome.reason, outcome.detail or "the op was not stored")
        return op, outcome

    def create_community(self, key: nacl.signing.SigningKey, charter: dict[str, Any]) -> Op:
        """Write a genesis op; the community id is the returned op's id."""
        return self.append(key, NO_COMMUNITY, GENESIS_KIND, charter)

    # ----------------------------------------------------------------- transactions
    @contextmanager
    def batched(self) -> Iterator[None]:
        """Let the transactions made inside share commits (re-entrant; concurrent sync
        sessions each hold one): see ``SPAN_SECONDS``. What they wrote is read back at once
        through this store; the file has it once the span commits (at the latest when the
        last ``batched()`` ends, or :meth:`commit_due`). Each transaction after the span's
        first is a savepoint: one that fails is undone alone, as it would be on its own."""
        self._batched += 1
        try:
            yield
        finally:
            self._batched -= 1
            if not self._batched and self._span is not None and not self._in_tx:
                self._commit()

    def linger(self, seconds: float) -> None:
        """Let the transactions of the next ``seconds`` share a span, as inside ``batched()``:
        for work that arrives in many calls with no context around them (an import through
        the control API, a call per MiB). :meth:`commit_due` commits the span once they pass,
        :meth:`close` at the latest."""
        self._linger_until = max(self._linger_until, self._clock() + seconds)

    def commit_due(self) -> None:
        """Commit a span that is old enough, or that no ``batched()`` or ``linger`` holds open
        any more (a daemon calls this every second: a quiet sync session leaves nothing
        uncommitted)."""
        if self._span is not None and not self._in_tx and self._span_done():
            self._commit()

    def _span_done(self) -> bool:
        began, ops = self._span  # type: ignore[misc]
        now = self._clock()
        if ops >= SPAN_OPS or now - began >= SPAN_SECONDS:
            return True
        return not self._batched and now >= self._linger_until

    def _commit(self) -> None:
        self._span = None
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._abort(reload=True)
            raise

    def _abort(self, reload: bool, joined: bool = False) -> None:
        """Undo a failed transaction: back to its savepoint if it joined a span (the span's
        earlier transactions stay: a batch that fails costs no other batch), else all of it;
        then rebuild the replica from what the connection holds (it may be ahead of that)."""
        self._in_tx = False
        db = self._db
        if joined and db.in_transaction:
            db.execute("ROLLBACK TO batch")
            db.execute("RELEASE batch")
        else:
            self._span = None
            if db.in_transaction:
                db.execute("ROLLBACK")
        if reload:
            self._load()

    @contextmanager
    def _transaction(self, durable: bool = False, reload: bool = True) -> Iterator[None]:
        if self._in_tx:
            raise RuntimeError("store transactions do not nest")
        db = self._db
        if durable and self._span is not None:
            self._commit()  # a local op's own commit is the durable one: the span goes first
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        joined = self._span is not None
        if joined:
            db.execute("SAVEPOINT batch")
        else:
            db.execute("BEGIN IMMEDIATE")
            self._span = (self._clock(), 0)
        self._in_tx = True
        # Python's cyclic collector waits while the caller's batch is applied: what a batch
        # makes (ops, their metadata, rows) lives until it ends anyway, and walking it again
        # and again mid-batch cost ~5 % of a catch-up. Not during rebuilds (``_settle``),
        # which replay a whole community.
        collecting = gc.isenabled()
        gc.disable()
        try:
            try:
                try:
                    yield
                finally:
                    if collecting:
                        gc.enable()
                self._settle()
                logged, rows = self._flush(behind=joined and self._behind)
                if rows is not None:  # the savepoint ends on the writer thread, after them
                    db.behind([rows, ("RELEASE batch", ())], ["ROLLBACK TO batch", "RELEASE batch"])
                elif joined:
                    db.execute("RELEASE batch")
            except BaseException:
                self._abort(reload, joined)
                raise
            finally:
                self._in_tx = False
            began, ops = self._span
            self._span = (began, ops + logged)
            if durable or self._span_done():
                self._commit()
        finally:
            if durable:
                db.execute("PRAGMA synchronous=NORMAL")

    def _settle(self, now: bool = False) -> None:
        """Rebuild the communities the replica marked stale, unless a rebuild is not due yet
        (``REBUILD_PAUSE``; ``now``: whatever the pause): then write them down instead, for
        :meth:`settle_due` (inside the transaction)."""
        stale = self.replica.stale
        db = self._db
        if stale and not now and self._clock() < self._rebuild_after:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('stale', ?)",
                (cbor2.dumps(sorted(stale)),),
            )
            self._put_off = True
            return
        if stale:
            start = self._clock()
            self.replica.settle()
            took = self._clock() - start
            self._rebuild_after = self._clock() + REBUILD_PAUSE * max(0.0, took - REBUILD_FREE)
        if self._put_off:
            db.execute("DELETE FROM meta WHERE key = 'stale'")
            self._put_off = False

    @property
    def rebuild_pending(self) -> bool:
        """Some community's state waits for a rebuild (fork proofs or a removal voided ops
        that had applied, and the last rebuild was too recent: ``REBUILD_PAUSE``)."""
        return bool(self.replica.stale)

    def settle_due(self) -> bool:
        """Do the rebuilds put off, if they are due now; True when none is left waiting."""
        if self.replica.stale and self._clock() >= self._rebuild_after:
            with self._transaction():
                pass  # the transaction's end settles
        return not self.replica.stale

    def _flush(self, behind: bool = False) -> tuple[int, Step | None]:
        """Write what the replica reported since the last flush (inside the transaction):
        the number of ops logged, and with ``behind`` maybe the statement that inserts their
        rows, to run last (``flush.write_changes``)."""
        logged, rows = write_changes(self._db, self.replica, self.chains, behind)
        self.log.written()
        anchor = self.replica.causal.take_anchor()
        if anchor is not None:
            schema.keep_anchor(self._db, *anchor)
        return logged, rows

    # The replica calls these only on a fork (to build a proof, then to rebuild state). Writing
    # what it logged so far first makes the file hold the whole log; we are inside the
    # batch's transaction, so this is still all-or-nothing.
    def _log_source(self, community: bytes | None) -> Iterator[Op]:
        """The logged ops of ``community`` (all: ``None``) in (lamport, author, seq) order,
        one at a time: SQLite sorts their row ids (a few dozen bytes an op, in its own
        memory), and each op is read and decoded when the rebuild reaches it."""
        self._flush()
        db = self._db
        order = (
            "SELECT ops.rowid FROM ops JOIN chains ON ops.chain = chains.id{}"
            " ORDER BY ops.lamport, chains.author, ops.seq"
        )
        if community is None:
            rowids = db.execute(order.format(""))
        else:
            rowids = db.execute(order.format(" WHERE chains.community = ?"), (community,))
        for (rowid,) in rowids:
            (raw,) = db.execute("SELECT raw FROM ops WHERE rowid = ?", (rowid,)).fetchone()
            yield decode_op(raw, verify=False)

    def _op_lookup(self, oid: bytes) -> Op | None:
        self._flush()
        return self.get_op(oid)
