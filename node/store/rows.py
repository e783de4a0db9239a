"""State rows in SQLite: the store's :class:`~node.crdt.state.State`.

A node's state grows with its community (every offer, ballot and contribution ever made), so it
lives in the ``state`` table, keyed by (table, key), and memory holds only what is in use:

* a bounded cache of decoded rows (LRU, ``CACHE_ROWS``; a miss is cached too: handlers often
  look up rows that do not exist, a member's ballot on a proposal for instance);
* the rows written since the last :meth:`SqlState.save`, which the store calls inside the
  transaction that logs the ops that wrote them, so rows and ops commit together. A batch
  large enough to hold more than ``UNSAVED_ROWS`` of them (a rebuild) saves early, still inside
  that transaction.

A scan (rows by key prefix) reads SQLite in key order after saving what is unsaved, so it
sees every write before it. Rows never leave the node: values are plain (not canonical) CBOR,
which keeps each dict's key order as it was written and costs half of canonical encoding.

Tables that declare an order (``state.ordered_by``: offers and needs, newest first) are also
listed in ``state_order`` by (group, rank, key), kept as rows are saved, so that the first page
of a list reads that page and stops (:meth:`SqlState.ordered`). Tables that declare a summary
(``state.summarized_by``: contributions) keep it in ``state_summary`` by
(group, key), so that a view of every row of a group decodes a few fields of each, not the
rows (:meth:`SqlState.summaries`).

Values take half the disk compressed (``Packer``): zstd with a dictionary that the store
trains on its own first rows (records repeat their field names and much of their shape, which
a small record alone cannot compress). Measured on the records workload: 0.40 x the bytes,
2 us to compress a row and under 1 us to expand it.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

import cbor2
import libipld
import zstandard

from node.crdt.op import Op
from node.crdt.state import KEEPERS, ORDERS, SUMMARIES, Filed, State

CACHE_ROWS = 20_000  # decoded rows kept (a listing row is ~1-2 KB decoded: ~30 MB at most)
UNSAVED_ROWS = 50_000  # rows written but not yet saved, before a save inside the transaction

_ABSENT = object()  # the row does not exist (cached, or written as a deletion)
_MISS = object()
_GET = "SELECT value FROM state WHERE tbl = ? AND key = ?"
_PUT = (
    "INSERT INTO state (tbl, key, value) VALUES (?, ?, ?)"
    " ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM state WHERE tbl = ? AND key = ?"

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame; a CBOR item that starts so is the byte -9
TRAIN_ROWS = 2_000  # rows saved before a dictionary is trained on them
# 64 KiB: on the records workload rows take 0.88 x the bytes they take with 16 KiB (and the
# compressor's speed is the same); a dictionary is trained once and kept, so a store trained
# with the smaller one keeps it
DICT_BYTES = 65_536
PACK_MIN = 64  # smaller values stay plain CBOR


# The tables a node writes, stored under a one-character code instead of their name (in
# ``state`` and ``state_order``; a name in every row cost ~8 bytes an op, 1 % of the file).
# Fixed here for every store file, whatever is imported: never change or reuse a code. Other
# tables keep their names (a name never starts with a digit or an upper-case letter).
TABLE_CODES = {
    "attestation": "0",
    "contribution": "1",
    "offer": "2",
    "reservation": "3",
    "need": "4",
    "project": "5",
    "member": "6",
    "gov.ballot": "7",
    "gov.delegation": "8",
    "gov.proposal": "9",
    "thread": "A",
    "comment": "B",
    "reaction": "C",
    "profile": "D",
    "device": "E",
    "community": "F",
    "chain.cut": "G",
    "gov.seal": "H",
    "gov.enacted": "I",
    "recovery": "J",
    "score.rules": "K",
    "score.total": "L",
    "score.days": "M",
}
TABLE_NAMES = {code: name for name, code in TABLE_CODES.items()}


def stored(table: str) -> str:
    """What a store names ``table`` by in its rows (``TABLE_CODES``, else the name)."""
    return TABLE_CODES.get(table, table)


class Packer:
    """Encodes row values: plain CBOR until the store has a dictionary (``meta`` key
    ``state_dict``, trained once, after ``TRAIN_ROWS`` rows), then zstd frames with that
    dictionary for values of ``PACK_MIN`` bytes or more. Both kinds are read back forever."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._saved = 0  # rows saved by this process while there is no dictionary
        row = db.execute("SELECT value FROM meta WHERE key = 'state_dict'").fetchone()
        self._use(None if row is None else row[0])

    def _use(self, data: bytes | None) -> None:
        if data is None:
            self._pack = self._unpack = None
            return
        zdict = zstandard.ZstdCompressionDict(data)
        self._pack = zstandard.ZstdCompressor(
            level=1, dict_data=zdict, write_checksum=False, write_dict_id=False
        ).compress
        self._unpack = zstandard.ZstdDecompressor(dict_data=zdict).decompress

    def dumps(self, value: Any) -> bytes:
        raw = cbor2.dumps(value)
        if self._pack is None or len(raw) < PACK_MIN:
            return raw
        return self._pack(raw)

    def loads(self, blob: bytes) -> Any:
        if blob[:4] == ZSTD_MAGIC and len(blob) > 4:
            if self._unpack is None:
                raise ValueError("a packed state row in a store without a dictionary")
            blob = self._unpack(blob)
        return cbor2.loads(blob)

    def saved(self, rows: int) -> None:
        """``rows`` were saved: train the dictionary once there are enough (inside the
        transaction, so it commits with them)."""
        if self._pack is not None:
            return
        self._saved += rows
        if self._saved < TRAIN_ROWS:
            return
        self._saved = 0
        samples = [
            v
            for (v,) in self._db.execute(
                "SELECT value FROM state ORDER BY random() LIMIT ?", (4 * TRAIN_ROWS,)
            )
        ]
        try:
            data = zstandard.train_dictionary(DICT_BYTES, samples).as_bytes()
        except zstandard.ZstdError:  # too few or too alike: try again after more rows
            return
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('state_dict', ?)", (data,)
        )
        self._use(data)


def _after(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string that starts with ``prefix``; None when
    there is none (the prefix is all 0xff)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _while_prefixed(rows, prefix: str, loads) -> Iterator[tuple[str, Any]]:
    for k, v in rows:
        if type(k) is not str or not k.startswith(prefix):
            return
        yield k, loads(v)


class SqlState(State):
    """State rows in the store's ``state`` table (see the module docstring). Writes must
    happen inside a store transaction (handlers only run inside one); reads may happen
    anywhere."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        cache_rows: int | None = None,
        unwritten: Callable[[], Iterable[Op]] | None = None,
    ):
        self._db = db
        self._packer = Packer(db)
        self._cache: OrderedDict[tuple[str, Any], Any] = OrderedDict()
        self._unsaved: dict[tuple[str, Any], Any] = {}
        self._cache_rows = CACHE_ROWS if cache_rows is None else cache_rows
        self.writes = 0
        # (tbl, key) -> [(group, rank) before this save or None, after it or None], for the
        # rows of ordered tables written since the last save
        self._moved: dict[tuple[str, Any], list] = {}
        self.memo: dict[tuple, Any] = {}  # State.remember
        # (tbl, key) -> (group, summary, False when the row is deleted), for the rows of
        # summarized tables written since the last save
        self._summed: dict[tuple[str, Any], tuple[bytes, Any, bool]] = {}
        # the ops in the rows but not yet in the log, inside a transaction (``beyond``): the
        # store that writes both tells
        self.unwritten = unwritten
        self._index_orders()
        self._index_summaries()

    def _index_orders(self) -> None:
        # the ordered tables and the version of their orders: bump it when a declared order
        # changes what groups a row is in, so that stores rebuild the index on their next open
        self._index(
            "state_order",
            ",".join(sorted(ORDERS)) + ";groups 4;keys 6;codes 7;open listings;projects by time",
            ORDERS,
            "INSERT OR IGNORE INTO state_order (tbl, grp, rank, key) VALUES (?, ?, ?, ?)",
            lambda t, k, filed: [(t, g, rank, k) for g, rank in filed],
        )

    def _index_summaries(self) -> None:
        # bump the version when a declared summary changes what it keeps of a row
        self._index(
            "state_summary",
            ",".join(sorted(SUMMARIES)) + ";summaries 1",
            SUMMARIES,
            "INSERT INTO state_summary (tbl, grp, key, value) VALUES (?, ?, ?, ?)",
            lambda t, k, summary: [(t, summary[0], k, cbor2.dumps(summary[1]))],
        )

    def _index(self, index: str, want: str, declared: dict, insert: str, entries) -> None:
        """Build ``index`` (``state_order``, ``state_summary``: kept beside the rows as they
        are saved) from the rows if it was built for other declarations than ``want`` (meta
        key ``index``): a new file, a migrated one, or a table that declares one now."""
        have = self._db.execute("SELECT value FROM meta WHERE key = ?", (index,)).fetchone()
        if have is not None and have[0] == want:
            return
        db = self._db
        inside = db.in_transaction
        if not inside:
            db.execute("BEGIN IMMEDIATE")
        db.execute(f"DELETE FROM {index}")
        loads = self._packer.loads
        for table, declare in declared.items():
            t = stored(table)
            db.executemany(
                insert,
                (
                    entry
                    # streamed, not fetched whole: a migrated store may hold a million rows
                    for k, v in db.execute("SELECT key, value FROM state WHERE tbl = ?", (t,))
                    for entry in entries(t, k, declare(k, loads(v)))
                ),
            )
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (index, want))
        if not inside:
            db.execute("COMMIT")

    def get(self, table: str, key: bytes | str, default: Any = None) -> Any:
        k = (table, key)
        value = self._unsaved.get(k, _MISS)
        if value is _MISS:
            cache = self._cache
            value = cache.get(k, _MISS)
            if value is _MISS:
                row = self._db.execute(_GET, (stored(table), key)).fetchone()
                value = _ABSENT if row is None else self._packer.loads(row[0])
                cache[k] = value
                if len(cache) > self._cache_rows:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(k)
        return default if value is _ABSENT else value

    def put(self, table: str, key: bytes | str, value: Any) -> None:
        keep = KEEPERS.get(table)
        old = None if keep is None else self.get(table, key)
        order = ORDERS.get(table)
        if order is not None:
            self._move(table, key, order(key, value))
        summarize = SUMMARIES.get(table)
        if summarize is not None:
            g, summary = summarize(key, value)
            self._summed[(table, key)] = (g, summary, True)
        self._unsaved[(table, key)] = value
        self.writes += 1
        if keep is not None:
            keep(self, key, old, value)
        if len(self._unsaved) > UNSAVED_ROWS:
            self.save()

    def delete(self, table: str, key: bytes | str) -> None:
        old = self.get(table, key)
        if old is not None:
            if table in ORDERS:
                self._move(table, key, None)
            if table in SUMMARIES:
                self._summed[(table, key)] = (SUMMARIES[table](key, old)[0], None, False)
            self._unsaved[(table, key)] = _ABSENT
            self.writes += 1

    def _move(self, table: str, key: Any, to: Filed | None) -> None:
        moved = self._moved.get((table, key))
        if moved is None:
            old = self.get(table, key)
            was = None if old is None else ORDERS[table](key, old)
            self._moved[(table, key)] = [was, to]
        else:
            moved[1] = to

    def ordered(
        self, table: str, group: bytes, ranks: Collection[int] | None = None
    ) -> Iterator[tuple[bytes | str, Any]]:
        if self._unsaved:
            self.save()
        loads = self._packer.loads
        where, args = self._where(table, group, ranks)
        rows = self._db.execute(  # both tables name a table by the same code
            "SELECT s.key, s.value FROM state_order o JOIN state s ON s.tbl = o.tbl AND s.key = o.key"
            f" WHERE {where} ORDER BY o.rank DESC, o.key DESC",
            args,
        )
        return ((k, loads(v)) for k, v in rows)

    def keys_in(
        self, table: str, group: bytes, ranks: Collection[int] | None = None
    ) -> list[bytes | str]:
        if self._unsaved:
            self.save()
        where, args = self._where(table, group, ranks)
        rows = self._db.execute(
            f"SELECT o.key FROM state_order o WHERE {where} ORDER BY o.rank DESC, o.key DESC", args
        )
        return [k for (k,) in rows]

    def _where(self, table: str, group: bytes, ranks: Collection[int] | None) -> tuple[str, list]:
        where, args = "o.tbl = ? AND o.grp = ?", [stored(table), group]
        if ranks is not None:
            ranks = sorted(set(ranks))
            where += f" AND o.rank IN ({','.join('?' * len(ranks))})"  # a seek each
            args += ranks
        return where, args

    def summaries(self, table: str, group: bytes) -> Iterator[tuple[bytes | str, Any]]:
        if self._unsaved:
            self.save()
        rows = self._db.execute(
            "SELECT key, value FROM state_summary WHERE tbl = ? AND grp = ?",
            (stored(table), group),
        )
        loads = cbor2.loads
        return ((k, loads(v)) for k, v in rows)

    def beyond(
        self, community: bytes, clock: Mapping[bytes, int]
    ) -> Iterator[tuple[bytes, str, Any]] | None:
        # Inside a transaction the rows may be ahead of the log: a batch's ops are logged
        # when it ends (``flush.py``), its rows saved whenever they are read. The store tells
        # which ops those are (``unwritten``); without it, no answer.
        if self._db.in_transaction and self.unwritten is None:
            return None
        return self._beyond(community, clock)

    def _beyond(self, community, clock) -> Iterator[tuple[bytes, str, Any]]:
        # each chain of the community past the clock's seq (``ops_position``); the bytes were
        # checked when they were logged (canonical CBOR of plain types: libipld reads them)
        db = self._db
        chains = db.execute("SELECT id, author FROM chains WHERE community = ?", (community,))
        for chain, author in chains.fetchall():
            for oid, raw in db.execute(
                "SELECT id, raw FROM ops WHERE chain = ? AND seq > ?", (chain, clock.get(author, 0))
            ):
                m = libipld.decode_dag_cbor(raw)
                yield oid, m["kind"], m["body"]
        if db.in_transaction:
            for op in self.unwritten():
                if op.community_id == community and op.seq > clock.get(op.author, 0):
                    yield op.id, op.kind, op.body

    def groups(self, table: str, prefix: bytes) -> list[bytes]:
        # one step of the index per group, not per row: each query jumps past a whole group
        if self._unsaved:
            self.save()
        out, n, db = [], len(prefix), self._db
        row = db.execute(
            "SELECT grp FROM state_order WHERE tbl = ? AND grp >= ? ORDER BY grp LIMIT 1",
            (stored(table), prefix),
        ).fetchone()
        while row is not None and row[0][:n] == prefix:
            out.append(row[0])
            row = db.execute(
                "SELECT grp FROM state_order WHERE tbl = ? AND grp > ? ORDER BY grp LIMIT 1",
                (stored(table), row[0]),
            ).fetchone()
        return out

    def scan(
        self, table: str, prefix: bytes | str | None = None
    ) -> Iterator[tuple[bytes | str, Any]]:
        if self._unsaved:
            self.save()
        loads = self._packer.loads
        table = stored(table)
        if prefix is None:
            rows = self._db.execute("SELECT key, value FROM state WHERE tbl = ?", (table,))
            return ((k, loads(v)) for k, v in rows)
        if isinstance(prefix, str):
            # Text keys sort as their UTF-8 bytes, so those with the prefix come first from
            # it, together; there is no text just above them all to bound the range with.
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE tbl = ? AND key >= ? ORDER BY key",
                (table, prefix),
            )
            return _while_prefixed(rows, prefix, loads)
        end = _after(prefix)
        if end is None:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE tbl = ? AND key >= ?", (table, prefix)
            )
        else:
            rows = self._db.execute(
                "SELECT key, value FROM state WHERE tbl = ? AND key >= ? AND key < ?",
                (table, prefix, end),
            )
        return ((k, loads(v)) for k, v in rows)

    def items(self) -> Iterator[tuple[str, bytes | str, Any]]:
        if self._unsaved:
            self.save()
        loads = self._packer.loads
        rows = self._db.execute("SELECT tbl, key, value FROM state").fetchall()
        return ((TABLE_NAMES.get(t, t), k, loads(v)) for t, k, v in rows)

    def keys(self) -> list[tuple[str, bytes | str]]:
        """(table, key) of every row (what a rebuild sorts out by community)."""
        if self._unsaved:
            self.save()
        rows = self._db.execute("SELECT tbl, key FROM state").fetchall()
        return [(TABLE_NAMES.get(t, t), k) for t, k in rows]

    def clear(self) -> None:
        self.memo.clear()
        self._unsaved.clear()
        self._cache.clear()
        self._moved.clear()
        self._summed.clear()
        self._db.execute("DELETE FROM state")
        self._db.execute("DELETE FROM state_order")
        self._db.execute("DELETE FROM state_summary")
        self.writes += 1

    def save(self) -> None:
        """Write the unsaved rows (inside the caller's transaction), in key order: a batch's
        new rows then land on few pages."""
        unsaved = self._unsaved
        if not unsaved:
            return
        dumps = self._packer.dumps
        puts, deletes = [], []
        for (t, k), v in unsaved.items():
            if v is _ABSENT:
                deletes.append((stored(t), k))
            else:
                puts.append((stored(t), k, dumps(v)))
        puts.sort(key=lambda r: (r[0], isinstance(r[1], str), r[1]))
        db = self._db
        db.executemany(_DELETE, deletes)
        db.executemany(_PUT, puts)
        self._packer.saved(len(puts))
        if self._moved:
            gone, new = [], []
            for (t, k), (was, now) in self._moved.items():
                if was != now:
                    was, now, t = set(was or ()), set(now or ()), stored(t)
                    gone.extend((t, g, rank, k) for g, rank in was - now)
                    new.extend((t, g, rank, k) for g, rank in now - was)
            db.executemany(
                "DELETE FROM state_order WHERE tbl = ? AND grp = ? AND rank = ? AND key = ?", gone
            )
            db.executemany(
                "INSERT OR IGNORE INTO state_order (tbl, grp, rank, key) VALUES (?, ?, ?, ?)", new
            )
            self._moved.clear()
        if self._summed:
            kept, gone = [], []
            for (t, k), (g, summary, present) in self._summed.items():
                if present:
                    kept.append((stored(t), g, k, cbor2.dumps(summary)))
                else:
                    gone.append((stored(t), g, k))
            db.executemany("DELETE FROM state_summary WHERE tbl = ? AND grp = ? AND key = ?", gone)
            db.executemany(
                "INSERT OR REPLACE INTO state_summary (tbl, grp, key, value) VALUES (?, ?, ?, ?)",
                kept,
            )
            self._summed.clear()
        cache = self._cache
        cache.update(unsaved)
        while len(cache) > self._cache_rows:
            cache.popitem(last=False)
        unsaved.clear()
