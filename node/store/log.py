"""The replica's view of the log, read from the ``ops`` table instead of held in memory.

A :class:`~node.crdt.replica.Replica` asks three things about logged ops: an op's metadata by
id (``metas``: its author, seq, lamport and parents, for causal checks and walks), which op
holds a chain position (``positions``: fork detection), and which ops a rule rejected
(``rejections``). Held in memory, they grew with every op ever written (~1 KB an op with the
state rows). Here each is a bounded cache in front of the file:

* what this transaction logged and did not write yet is kept aside (``_new``/``_changed``),
  until :meth:`LogIndex.written` says the store wrote it (inside the same transaction, so a
  lookup then finds it in the file; a rollback reloads everything);
* recent answers stay in a cache (``CACHE_METAS``; trimmed to its newest half when full):
  ingest asks about the newest ops (the parents of what arrives), and causal walks go back
  from there;
* a batch's own ids are looked up once, together (:meth:`Metas.logged`), so that asking
  about an op that is not logged yet costs no query.

An op is found by id through the ``ops_id`` index (``schema.py``); its parents are read from
its bytes.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable

import libipld

from node.crdt.causal import OpMeta

from .schema import Chains

CACHE_METAS = 65_536  # OpMeta kept (~300 B each with its parents: ~20 MB)
CACHE_REJECTIONS = 8_192  # answers about rejection kept (heads are asked about on every append)

_META = "SELECT chain, seq, lamport, raw FROM ops WHERE substr(id, 1, 8) = ? AND id = ?"
_POSITION = "SELECT id FROM ops WHERE chain = ? AND seq = ? ORDER BY rowid LIMIT 1"
_POSITION_ALL = "SELECT id FROM ops WHERE chain = ? AND seq = ? ORDER BY rowid"
_REJECTED = "SELECT reason FROM ops WHERE substr(id, 1, 8) = ? AND id = ? AND status = 'r'"
_MISSING = object()


def parents_of(raw: bytes) -> tuple[bytes, ...]:
    """prev (if any) then deps of a logged op, from its bytes (checked when it was logged:
    canonical CBOR of plain types, which libipld's decoder reads as cbor2 does, in ~2 us)."""
    m = libipld.decode_dag_cbor(raw)
    prev = m.get("prev")
    return (prev, *m["deps"]) if prev is not None else tuple(m["deps"])


class Metas:
    """op id -> :class:`OpMeta` of a logged op (a mapping, as far as the replica uses one)."""

    def __init__(self, db: sqlite3.Connection, chains: Chains):
        self._db = db
        self._chains = chains
        self._new: dict[bytes, OpMeta] = {}
        # A plain dict (the fastest lookup: causal walks make hundreds of thousands), emptied
        # down to its newest half by insertion when full (``_trim``), not an LRU.
        self._cache: dict[bytes, OpMeta] = {}
        # ids that :meth:`logged` found not logged, until the next write: a batch asks about
        # its new ops once, in one query, instead of once per op and place that asks
        self._absent: set[bytes] = set()

    def get(self, oid: bytes, default: OpMeta | None = None) -> OpMeta | None:
        meta = self._cache.get(oid)
        if meta is not None:
            return meta
        meta = self._new.get(oid)
        if meta is not None:
            return meta
        if oid in self._absent:
            return default
        row = self._db.execute(_META, (oid[:8], oid)).fetchone()
        if row is None:
            return default
        community, author = self._chains.keys[row[0]]
        meta = OpMeta(oid, author, row[1], row[2], parents_of(row[3]), community)
        self._cache[oid] = meta
        if len(self._cache) > CACHE_METAS:
            self._trim()
        return meta

    def _trim(self) -> None:
        keep = list(self._cache.items())[-(CACHE_METAS // 2) :]
        self._cache = dict(keep)

    def __contains__(self, oid: object) -> bool:
        return self.get(oid) is not None  # type: ignore[arg-type]

    def __getitem__(self, oid: bytes) -> OpMeta:
        meta = self.get(oid)
        if meta is None:
            raise KeyError(oid)
        return meta

    def __setitem__(self, oid: bytes, meta: OpMeta) -> None:
        self._new[oid] = meta
        self._absent.discard(oid)

    def logged(self, ids: list[bytes]) -> set[bytes]:
        """Those of ``ids`` that are logged, asked of the file in a few queries; the others
        are remembered as absent until the next write (``written``)."""
        new, cache = self._new, self._cache
        found = {i for i in ids if i in new or i in cache}
        ask = [i for i in ids if i not in found]
        db = self._db
        for start in range(0, len(ask), 500):
            chunk = ask[start : start + 500]
            marks = ",".join("?" * len(chunk))
            wanted = set(chunk)
            found.update(
                oid
                for (oid,) in db.execute(
                    f"SELECT id FROM ops WHERE substr(id, 1, 8) IN ({marks})",
                    [i[:8] for i in chunk],
                )
                if oid in wanted
            )
        self._absent.update(i for i in ask if i not in found)
        return found

    def absent(self, ids: Iterable[bytes]) -> None:
        """``ids`` are known not to be logged (ops above their chain's head: an op's id hashes
        its seq, and no op above a head is logged): remembered as :meth:`logged` remembers
        those it did not find, with no query."""
        self._absent.update(ids)

    def __delitem__(self, oid: bytes) -> None:
        del self._new[oid]  # only an op not written yet is ever forgotten (``retract``)

    def written(self) -> None:
        self._cache.update(self._new)
        self._new.clear()
        self._absent.clear()
        if len(self._cache) > CACHE_METAS:
            self._trim()


class Positions:
    """(community, author, seq) -> the first op logged at that chain position; :meth:`all`
    lists every op there (fork branches)."""

    def __init__(self, db: sqlite3.Connection, chains: Chains):
        self._db = db
        self._chains = chains
        self._new: dict[tuple[bytes, bytes, int], bytes] = {}
        self._twins: dict[tuple[bytes, bytes, int], list[bytes]] = {}  # not written yet

    def all(self, key: tuple[bytes, bytes, int]) -> list[bytes]:
        """Every op logged at the position, in the order they were logged."""
        chain = self._chains.get(key[0], key[1])
        out = (
            []
            if chain is None
            else [r[0] for r in self._db.execute(_POSITION_ALL, (chain, key[2]))]
        )
        new = self._new.get(key)
        for oid in ([] if new is None else [new]) + self._twins.get(key, []):
            if oid not in out:
                out.append(oid)
        return out

    def get(self, key: tuple[bytes, bytes, int], default: bytes | None = None) -> bytes | None:
        oid = self._new.get(key)
        if oid is not None:
            return oid
        chain = self._chains.get(key[0], key[1])
        if chain is None:
            return default
        row = self._db.execute(_POSITION, (chain, key[2])).fetchone()
        return default if row is None else row[0]

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def setdefault(self, key: tuple[bytes, bytes, int], oid: bytes) -> bytes:
        old = self.get(key)
        if old is None:
            self._new[key] = oid
            return oid
        if old != oid:
            self._twins.setdefault(key, []).append(oid)
        return old

    def add(self, key: tuple[bytes, bytes, int], oid: bytes) -> None:
        """A position the chain has not reached yet (above its head): no lookup needed."""
        self._new[key] = oid

    def __delitem__(self, key: tuple[bytes, bytes, int]) -> None:
        del self._new[key]

    def written(self) -> None:
        self._new.clear()
        self._twins.clear()


class Rejections:
    """op id -> reason, for the logged ops that a rule rejected (their ``status``)."""

    def __init__(self, db: sqlite3.Connection, metas: Metas, chains: Chains):
        self._db = db
        self._metas = metas
        self._chains = chains
        self._changed: dict[bytes, str | None] = {}  # None: no longer rejected
        self._cache: OrderedDict[bytes, str | None] = OrderedDict()

    def get(self, oid: bytes, default: str | None = None) -> str | None:
        reason = self._changed.get(oid, _MISSING)
        if reason is _MISSING:
            cache = self._cache
            reason = cache.get(oid, _MISSING)
            if reason is _MISSING:
                row = self._db.execute(_REJECTED, (oid[:8], oid)).fetchone()
                reason = None if row is None else row[0]
                cache[oid] = reason
                if len(cache) > CACHE_REJECTIONS:
                    cache.popitem(last=False)
        return default if reason is None else reason  # type: ignore[return-value]

    def __contains__(self, oid: object) -> bool:
        return self.get(oid) is not None  # type: ignore[arg-type]

    def __setitem__(self, oid: bytes, reason: str) -> None:
        self._changed[oid] = reason

    def pop(self, oid: bytes, default: str | None = None) -> str | None:
        old = self.get(oid)
        if old is not None:
            self._changed[oid] = None
            return old
        return default

    def __delitem__(self, oid: bytes) -> None:
        del self._changed[oid]  # only an op not written yet is ever forgotten (``retract``)

    def in_community(self, community: bytes | None) -> dict[bytes, str]:
        """Every rejected op of ``community`` (all: ``None``) -> its reason."""
        if community is None:
            rows = self._db.execute("SELECT id, reason FROM ops WHERE status = 'r'")
        else:
            rows = self._db.execute(
                "SELECT ops.id, ops.reason FROM ops JOIN chains ON ops.chain = chains.id"
                " WHERE ops.status = 'r' AND chains.community = ?",
                (community,),
            )
        out = dict(rows.fetchall())
        metas = self._metas
        for oid, reason in self._changed.items():
            if community is not None and metas[oid].community != community:
                continue
            if reason is None:
                out.pop(oid, None)
            else:
                out[oid] = reason
        return out

    def written(self) -> None:
        cache = self._cache
        cache.update(self._changed)
        self._changed.clear()
        while len(cache) > CACHE_REJECTIONS:
            cache.popitem(last=False)


class LogIndex:
    """The three views above over one store file."""

    def __init__(self, db: sqlite3.Connection, chains: Chains):
        self.metas = Metas(db, chains)
        self.positions = Positions(db, chains)
        self.rejections = Rejections(db, self.metas, chains)

    def written(self) -> None:
        """The store wrote what the replica reported (``flush.write_changes``)."""
        self.metas.written()
        self.positions.written()
        self.rejections.written()
