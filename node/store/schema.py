"""The SQLite file of a node: tables, pragmas and the durability settings.

One file per node, in WAL mode. Every table is written only inside a transaction that also
writes the ops that caused the change, so a crash leaves either all of a batch or none of it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import cbor2

from . import writer

try:
    import fcntl
except ImportError:  # not POSIX: no single-writer lock
    fcntl = None  # type: ignore[assignment]

# 2: several ops may share a chain position (fork branches); 3: a removal cuts the member's
# chain (state table ``chain.cut``, ops above it void); 4: devices; 5: nothing of history is
# loaded at open (state rows keyed by (tbl, key), ops found by id through ``ops_id``, anchors);
# 6: a fork proof per seq where a chain split, two at most (``forks`` keyed by seq too); 7: state
# rows name their table by a short code (``rows.TABLE_CODES``), ops their status by a letter;
# 8: ``state_summary`` (a node that does not keep it must not write the file: its summaries
# would go stale)
SCHEMA_VERSION = 9
STATUS_CODES = {"applied": "a", "rejected": "r", "void": "v"}  # ``ops.status`` (schema 7)
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}

# A chain is one author's log in one community; ops name it by a small integer so that the
# rows and the (chain, seq) index stay small (two 32-byte keys per op cost ~30% of ingest).
# An op's parents (prev, deps) are read from ``raw`` when its metadata is not cached
# (``log.Metas``): a column of them cost 86 bytes an op, a fifth of the file.
# ``status`` is a | r | v: applied, rejected, void (``STATUS_CODES``; invalid ops are never
# stored). A full word in every row cost 6 bytes an op.
# The rowid is the order ops entered the log, which is a causal order.
# An op is found by id through ``ops_id``, an index on the first 8 bytes of the id (an index
# on the whole id is four times the size; ids are random, so every batch dirties pages all over
# such an index, and a small one stays in the page cache). Queries by id name both:
# ``substr(id, 1, 8) = ? AND id = ?``.
# ``state`` holds the rows of ``node.crdt.state``, keyed by (tbl, key) (``rows.SqlState``).
# ``state_order`` lists the rows of the tables that declare an order (``state.ordered_by``) by
# (group, rank), so that the first page of a list reads only that page (``rows.SqlState``).
# ``state_summary`` keeps a few fields of each row of the tables that declare a summary
# (``state.summarized_by``), by group, for views that read every row of a group.
# ``anchors`` keeps a few recent vector clocks per community (``node/crdt/causal.py``), so that
# the first causal walk after an open stops near the heads instead of walking all history.
_STATE_DDL = """
CREATE TABLE IF NOT EXISTS state (
    tbl TEXT NOT NULL,
    key NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (tbl, key)
) WITHOUT ROWID
"""
_FORKS_DDL = """
CREATE TABLE IF NOT EXISTS forks (
    community BLOB NOT NULL,
    author BLOB NOT NULL,
    seq INTEGER NOT NULL,
    proof BLOB NOT NULL,
    PRIMARY KEY (community, author, seq)
) WITHOUT ROWID
"""
DDL = (
    _STATE_DDL
    + """;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value
);
CREATE TABLE IF NOT EXISTS chains (
    id INTEGER PRIMARY KEY,
    community BLOB NOT NULL,
    author BLOB NOT NULL,
    UNIQUE (community, author)
);
CREATE TABLE IF NOT EXISTS ops (
    id BLOB NOT NULL,
    chain INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    lamport INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ops_position ON ops (chain, seq);
CREATE INDEX IF NOT EXISTS ops_id ON ops (substr(id, 1, 8));
CREATE INDEX IF NOT EXISTS ops_rejected ON ops (status) WHERE status = 'r';
CREATE TABLE IF NOT EXISTS heads (
    community BLOB NOT NULL,
    author BLOB NOT NULL,
    seq INTEGER NOT NULL,
    id BLOB NOT NULL,
    lamport INTEGER NOT NULL,
    PRIMARY KEY (community, author)
) WITHOUT ROWID;
"""
    + _FORKS_DDL
    + """;
CREATE TABLE IF NOT EXISTS pending (
    id BLOB PRIMARY KEY,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state_order (
    tbl TEXT NOT NULL,
    grp BLOB NOT NULL,
    rank INTEGER NOT NULL,
    key NOT NULL,
    PRIMARY KEY (tbl, grp, rank, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_summary (
    tbl TEXT NOT NULL,
    grp BLOB NOT NULL,
    key NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (tbl, grp, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anchors (
    id BLOB PRIMARY KEY,
    community BLOB NOT NULL,
    lamport INTEGER NOT NULL,
    clock BLOB NOT NULL
);
"""
)


class StoreError(Exception):
    """The store file cannot be used (wrong schema version, not a store, ...)."""


def lock(path: Path) -> int | None:
    """Take the store's single-writer lock (``<file>.lock``, released when the process ends).

    Each Store keeps its replica in memory; two writers on one file would assign the same seq
    to two different local ops, i.e. fork their author's own chain. So a second open fails."""
    if fcntl is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"{path} is in use by another store (a running daemon?): stop it, or go through it"
        ) from None
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def connect(path: str | Path) -> writer.Connection:
    """Open (creating if needed) the store file and apply the schema."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves so that a batch is exactly one
    # transaction. check_same_thread=False: a daemon may hand the store to a worker thread;
    # the Store itself is not thread-safe, callers serialize access.
    # factory: a connection that may write a batch's op rows on a writer thread (writer.py)
    db = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, factory=writer.Connection
    )
    # 8 KiB pages for a new file (an existing one keeps its own): an op row is ~450 bytes, and
    # 4 KiB pages left ~5 % of the file unused at their ends (ops 0.96 x the bytes, measured)
    db.execute("PRAGMA page_size=8192")
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(f"{path} is not a store file ({exc})") from exc
    if mode.lower() != "wal":
        db.close()
        raise StoreError(f"{path}: cannot switch to WAL mode (got {mode})")
    # NORMAL in WAL mode: a commit is atomic and survives a crash of this process (the WAL is
    # written before COMMIT returns); only an OS crash or power loss can lose the last
    # commits, never corrupt the file. That is fine for remote ops (peers send them again).
    # Local appends switch to FULL for their transaction (see Store.append).
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("PRAGMA cache_size=-32768")  # 32 MiB page cache
    # Checkpoint every ~40 MiB of WAL instead of 4 MiB: ops are keyed by random ids, so each
    # batch dirties index pages all over the file; checkpointing less often writes each of
    # those pages back once for many batches (~20% faster bulk ingest, measured).
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.execute(f"PRAGMA wal_autocheckpoint={40 * 1024 * 1024 // page}")  # pages
    # A span of a sync session's transactions (``Store.batched``) may grow the WAL past that
    # until it commits; the checkpoint after it cuts the file back to 64 MiB, not to nothing
    # (a WAL that is used again costs no new allocation).
    db.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
    db.executescript(DDL)
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is not None and row[0] == 1:
        _migrate_v1(db)
        row = (2,)
    if row is not None and row[0] == 2:
        _migrate_v2(db)
        row = (3,)
    if row is not None and row[0] == 3:
        _migrate_v3(db)
        row = (4,)
    if row is not None and row[0] == 4:
        _migrate_v4(db)
        row = (5,)
    if row is not None and row[0] == 5:
        _migrate_v5(db)
        row = (6,)
    if row is not None and row[0] == 6:
        _migrate_v6(db)
        row = (7,)
    if row is not None and row[0] == 7:
        _migrate_v7(db)
        row = (8,)
    if row is not None and row[0] == 8:
        _migrate_v8(db)
        row = (9,)
    if row is None:
        db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    elif row[0] != SCHEMA_VERSION:
        db.close()
        raise StoreError(f"{path}: schema version {row[0]}, this node knows {SCHEMA_VERSION}")
    return db


def _migrate_v1(db: sqlite3.Connection) -> None:
    """Version 1 kept one op per (chain, seq) (a fork's second op lived only in its proof).
    Version 2 logs every branch, so the position index is no longer unique. The ops are valid
    as they are, but the governance rules that came with version 2 keep other state rows
    (proposal versions with their floor, removal cutoffs): the store rebuilds its state from
    the log once, on the first open (``Store._load``, flag ``rebuild_state``)."""
    db.execute("BEGIN IMMEDIATE")
    db.execute("DROP INDEX IF EXISTS ops_chain")
    db.execute("UPDATE meta SET value = 2 WHERE key = 'schema'")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rebuild_state', 1)")
    db.execute("COMMIT")


def _migrate_v2(db: sqlite3.Connection) -> None:
    """Version 3 voids a removed member's ops above the removal's cutoff (``chain.cut``).
    Nothing in the file changes shape; the state and statuses are rebuilt from the log once,
    on the first open (flag ``rebuild_state``), so past removals cut their chains too."""
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE meta SET value = 3 WHERE key = 'schema'")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rebuild_state', 1)")
    db.execute("COMMIT")


def _migrate_v3(db: sqlite3.Connection) -> None:
    """Version 4 knows devices (``device.link``/``device.revoke``): records carry the member
    they count for and the key that signed them (``by``), per-member lists (ballots,
    delegations, attestations) are ordered by (lamport, key, seq), and membership periods keep
    their leave op. The ops are unchanged; state and statuses are rebuilt once, on the first
    open (flag ``rebuild_state``)."""
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE meta SET value = 4 WHERE key = 'schema'")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rebuild_state', 1)")
    db.execute("COMMIT")


def _migrate_v4(db: sqlite3.Connection) -> None:
    """Version 5 reads history from the file instead of memory: state rows are keyed by
    (tbl, key) instead of numbered (copied over; files older than the numbering were keyed
    already), ``ops_id`` finds an op by id and ``state_order`` lists ordered tables (both
    built on open), ``anchors`` is new, ``ops.kind`` (nothing read it) and ``ops.parents``
    (read from ``raw`` instead) are gone. No rebuild: the rows themselves are unchanged."""
    db.execute("BEGIN IMMEDIATE")
    cols = [r[1] for r in db.execute("PRAGMA table_info(state)")]
    if "id" in cols:
        db.execute("ALTER TABLE state RENAME TO state_numbered")
        db.execute(_STATE_DDL)
        db.execute(
            "INSERT INTO state (tbl, key, value) SELECT tbl, key, value FROM state_numbered"
            " ORDER BY tbl, key"
        )
        db.execute("DROP TABLE state_numbered")
    columns = [r[1] for r in db.execute("PRAGMA table_info(ops)")]
    for unread in ("kind", "parents"):  # 15 and 86 bytes an op
        if unread in columns:
            db.execute(f"ALTER TABLE ops DROP COLUMN {unread}")
    db.execute("UPDATE meta SET value = 5 WHERE key = 'schema'")
    db.execute("COMMIT")


def _migrate_v5(db: sqlite3.Connection) -> None:
    """Version 6 keeps a fork proof per seq where an author's chain split (its two ops name
    one ``prev``), two at most, instead of one proof at the lowest fork seq: two splits void
    the author from seq 1 (``specs/ops.md`` §8). The splits are found again in the log (each
    chain position that holds ops naming one prev) and among the kept proofs; a kept proof
    that is no split is dropped. Where that changes what is void (or a founder is void from
    seq 1: its genesis no longer is), the state and statuses are rebuilt once, on the first
    open (flag ``rebuild_state``)."""
    from node.crdt.chain import Forked, ForkProof
    from node.crdt.op import decode_op

    db.execute("BEGIN IMMEDIATE")
    found: dict[tuple[bytes, bytes], list[ForkProof]] = {}
    was: dict[tuple[bytes, bytes], int] = {}
    for c, a, seq, raw in db.execute("SELECT community, author, seq, proof FROM forks"):
        was[(c, a)] = seq
        found.setdefault((c, a), []).append(ForkProof.decode(raw))
    twins = db.execute(
        "SELECT chain, seq FROM ops GROUP BY chain, seq HAVING count(*) > 1 ORDER BY chain, seq"
    ).fetchall()
    for chain, seq in twins:
        c, a = db.execute("SELECT community, author FROM chains WHERE id = ?", (chain,)).fetchone()
        ops = [
            decode_op(raw, verify=False)
            for (raw,) in db.execute(
                "SELECT raw FROM ops WHERE chain = ? AND seq = ? ORDER BY rowid", (chain, seq)
            )
        ]
        pair = next(
            ((x, y) for i, x in enumerate(ops) for y in ops[i + 1 :] if x.prev == y.prev), None
        )
        if pair is not None:
            found.setdefault((c, a), []).append(ForkProof.of(*pair))
    db.execute("ALTER TABLE forks RENAME TO forks_v5")
    db.execute(_FORKS_DDL)
    rebuild = False
    for (c, a), proofs in found.items():
        forked = Forked.of(sorted(proofs, key=lambda p: p.seq))
        for p in forked.proofs if forked is not None else ():
            db.execute(
                "INSERT INTO forks (community, author, seq, proof) VALUES (?, ?, ?, ?)",
                (c, a, p.seq, p.encode()),
            )
        rebuild = rebuild or (None if forked is None else forked.seq) != was.get((c, a))
        # a founder void from seq 1 had its genesis void too (the community with it): no more
        founder = db.execute(
            "SELECT 1 FROM ops JOIN chains ON ops.chain = chains.id WHERE chains.community = ?"
            " AND chains.author = ? AND ops.seq = 1 AND substr(ops.id, 1, 8) = ? AND ops.id = ?",
            (c, a, c[:8], c),
        ).fetchone()
        rebuild = rebuild or (forked is not None and forked.seq == 1 and founder is not None)
    db.execute("DROP TABLE forks_v5")
    db.execute("UPDATE meta SET value = 6 WHERE key = 'schema'")
    if rebuild:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rebuild_state', 1)")
    db.execute("COMMIT")


def _migrate_v6(db: sqlite3.Connection) -> None:
    """Version 7 names a state row's table by a short code (``rows.TABLE_CODES``: a name in
    every row cost ~8 bytes an op), and an op's status by a letter (``STATUS_CODES``: 6 bytes
    an op). The rows are copied over a table at a time in key order (no sort), under their
    codes; ``state_order`` is built again on open, naming tables by the same codes (``meta``
    ``state_order`` says which). The rows themselves are unchanged: no rebuild."""
    from .rows import stored

    db.execute("BEGIN IMMEDIATE")
    db.execute("DROP INDEX IF EXISTS ops_rejected")
    last = db.execute("SELECT max(rowid) FROM ops").fetchone()[0] or 0
    # 50,000 rows a statement: a statement's undo journal lives in memory (temp_store), and
    # one statement for every row held a copy of the whole table (0.5 GB at 10^6 ops)
    for start in range(0, last + 1, 50_000):
        db.execute(
            "UPDATE ops SET status = CASE status WHEN 'applied' THEN 'a' WHEN 'rejected'"
            " THEN 'r' WHEN 'void' THEN 'v' ELSE status END WHERE rowid BETWEEN ? AND ?",
            (start, start + 49_999),
        )
    db.execute("CREATE INDEX ops_rejected ON ops (status) WHERE status = 'r'")
    names = [t for (t,) in db.execute("SELECT DISTINCT tbl FROM state")]
    db.execute("ALTER TABLE state RENAME TO state_v6")
    db.execute(_STATE_DDL)
    for name in sorted(names, key=stored):  # in the new key order: each table appended
        db.execute(
            "INSERT INTO state (tbl, key, value) SELECT ?, key, value FROM state_v6"
            " WHERE tbl = ? ORDER BY key",
            (stored(name), name),
        )
    db.execute("DROP TABLE state_v6")
    db.execute("DELETE FROM state_order")
    db.execute("DELETE FROM meta WHERE key = 'state_order'")
    db.execute("UPDATE meta SET value = 7 WHERE key = 'schema'")
    db.execute("COMMIT")


def _migrate_v7(db: sqlite3.Connection) -> None:
    """Version 8 keeps ``state_summary`` (created empty by the DDL), built from the rows on
    open like ``state_order`` (``rows.SqlState``: ``meta`` ``state_summary`` says for which
    declared summaries), and a contribution row counts the verdicts on it (``verdicts``:
    ``contributions.tally_verdict`` of each attester's latest verdict, from the attestation
    rows): a page of contributions at a time, in key order, each with its attestations
    (their keys start with its id). No rebuild."""
    from node.crdt.records.contributions import tally_verdict

    from .rows import Packer, stored

    db.execute("BEGIN IMMEDIATE")
    packer = Packer(db)
    contribution, attestation = stored("contribution"), stored("attestation")
    last = b""
    while True:
        page = db.execute(
            "SELECT key, value FROM state WHERE tbl = ? AND key > ? ORDER BY key LIMIT 5000",
            (contribution, last),
        ).fetchall()
        if not page:
            break
        verdicts: dict[bytes, list] = {}
        for key, value in db.execute(
            "SELECT key, value FROM state WHERE tbl = ? AND key >= ? AND key <= ?",
            (attestation, page[0][0], page[-1][0] + b"\xff" * 32),
        ):
            latest = packer.loads(value)["entries"][-1]
            verdicts[key[:32]] = tally_verdict(verdicts.get(key[:32], []), latest, 1)
        db.executemany(
            "UPDATE state SET value = ? WHERE tbl = ? AND key = ?",
            [
                (
                    packer.dumps({**packer.loads(v), "verdicts": verdicts.get(k, [])}),
                    contribution,
                    k,
                )
                for k, v in page
            ],
        )
        last = page[-1][0]
    db.execute("DELETE FROM state_summary")
    db.execute("DELETE FROM meta WHERE key = 'state_summary'")
    db.execute("UPDATE meta SET value = 8 WHERE key = 'schema'")
    db.execute("COMMIT")


def _migrate_v8(db: sqlite3.Connection) -> None:
    """Version 9 keeps each member's counted work summed (``records/totals.py``: the rows
    ``score.rules``, ``score.total`` and ``score.days``, which the rules of §8 of
    ``specs/records.md`` read in one row per member): kept from the contributions' summaries
    of each community, under its rules now. No rebuild."""
    from node.crdt import records  # noqa: F401  (declares every order, summary and keeper)
    from node.crdt.records import totals

    from .rows import SqlState

    db.execute("BEGIN IMMEDIATE")
    state = SqlState(db)  # builds the orders' and summaries' indexes if a migration dropped them
    for community in [key for key, _ in state.scan("community")]:
        totals.rebuild(state, community)
    state.save()
    db.execute("UPDATE meta SET value = 9 WHERE key = 'schema'")
    db.execute("COMMIT")


class Chains:
    """The (community, author) <-> small integer map of the ``chains`` table, kept in memory.
    Rebuilt from the file whenever the store reloads (so a rolled-back insert is forgotten)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self.ids: dict[tuple[bytes, bytes], int] = {
            (c, a): i for i, c, a in db.execute("SELECT id, community, author FROM chains")
        }
        self.keys: dict[int, tuple[bytes, bytes]] = {i: k for k, i in self.ids.items()}

    def get(self, community: bytes, author: bytes) -> int | None:
        return self.ids.get((community, author))

    def ensure(self, community: bytes, author: bytes) -> int:
        """The chain's id, inserting it (call inside a transaction)."""
        key = (community, author)
        chain = self.ids.get(key)
        if chain is None:
            cur = self._db.execute("INSERT INTO chains (community, author) VALUES (?, ?)", key)
            chain = cur.lastrowid
            self.ids[key] = chain
            self.keys[chain] = key
        return chain


ANCHORS_KEPT = 8  # per community, the newest by lamport


def keep_anchor(db: sqlite3.Connection, meta, clock: dict) -> None:
    """Keep the clock of ``meta`` (an op) in ``anchors``, and only the community's newest
    ``ANCHORS_KEPT`` (call inside a transaction)."""
    db.execute(
        "INSERT OR REPLACE INTO anchors (id, community, lamport, clock) VALUES (?, ?, ?, ?)",
        (meta.id, meta.community, meta.lamport, cbor2.dumps(clock)),
    )
    db.execute(
        "DELETE FROM anchors WHERE community = ? AND id NOT IN (SELECT id FROM anchors"
        " WHERE community = ? ORDER BY lamport DESC LIMIT ?)",
        (meta.community, meta.community, ANCHORS_KEPT),
    )
