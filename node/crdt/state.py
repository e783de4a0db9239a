"""Materialized state: the records that ops build, as plain values in named tables.

Handlers (the pure functions that apply one op) read and write a :class:`State`. A store's
State writes its rows to SQLite in the same transaction as the ops that changed them, so a node
never has to replay history when it opens, nor hold every row in memory.

Values must be plain CBOR-encodable data (dict, list, str, bytes, int, bool, None).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .causal import CausalIndex
from .op import Op

# A handler may *cut* an author's chain in a community (a removal does): the author's ops
# there above the cut seq are void, like a forked author's from the fork seq on. The table
# holds community ‖ author -> the lowest cut; the replica reads it (``Replica.cuts``).
CHAIN_CUTS = "chain.cut"
# Derived values a state keeps (``State.remember``): the scores of a proposal's cut, ~75 KB
# for 500 members. Enough that cycling through sealed proposals (which need honest witnesses'
# seals) cannot wear it out; ~20 MB when full.
MEMO_SIZE = 256


class Rejected(Exception):
    """An authentic op that breaks a rule of its kind. It stays in the log (its author's chain
    continues through it) but never changes state. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


Filed = tuple[tuple[bytes, int], ...]  # (group, rank) pairs: where a row is listed
Order = Callable[[Any, Any], Filed]
# table -> (key, value) -> the (group, rank) pairs the row is filed under: :meth:`State.ordered`
# yields the rows of a group highest rank first (then highest key); a row may be in several
# groups, ranked in each by what that list sorts by (a contribution: by its project in its
# contributor's group, by the time of the work in its community's). Declared by the modules
# that own the tables (``ordered_by``), so that a store can keep an index of them as rows are
# written; where a row is filed should rarely change.
ORDERS: dict[str, Order] = {}


def group(*parts: bytes) -> bytes:
    """A group's key: 6 bytes of a hash of its parts (a store keeps one index entry per group
    a row is in, so the key is short; a caller checks the rows it gets, as two groups may
    share a key: among a million groups, two do with odds of about 1 in 500)."""
    return hashlib.blake2b(b"\x00".join(parts), digest_size=6).digest()


# Ranks are kept as SQLite integers (signed 64-bit). Many are claimed times, which an op may
# put anywhere below 2^64 (a step signed "in the year 292 million"): such a rank is listed at
# the end of the range, after every honest time, instead of failing the whole batch's write.
MIN_RANK, MAX_RANK = -(2**63), 2**63 - 1


def ranked(rank: int) -> int:
    """``rank`` as an index keeps it, clamped into ``MIN_RANK .. MAX_RANK``: what a view that
    sorts by a claimed time sorts by, so that its pages cut the list where the index does."""
    return min(max(rank, MIN_RANK), MAX_RANK)


Summary = tuple[bytes, Any]  # (group, value): a few fields of a row, listed in a group
Summarize = Callable[[Any, Any], Summary]
# table -> (key, value) -> the row's summary: what a view that reads every row of a group
# needs of each (plain CBOR-encodable, small), kept beside the row as it is written so that
# the view reads the summaries instead of decoding whole rows (the score table reads a few
# fields of each contribution: at a million ops, its rows and their attestations took 10 s).
# Declared by the modules that own the tables (``summarized_by``). Every row of the table has
# one, and a row's group never changes (a contribution's is its community): stores replace a
# summary in place and delete it with its row.
SUMMARIES: dict[str, Summarize] = {}


Keeper = Callable[["State", Any, Any, Any], None]
# table -> (state, key, old value or None, new value) -> None: called after each put of a row
# of the table, to keep rows of other tables that are derived from it up to date (the
# contribution score's kept totals: ``records/totals.py``). Declared by the modules that own
# those rows (``kept_by``); a deletion calls no keeper (only a rebuild deletes, and it deletes
# the derived rows of the community too).
KEEPERS: dict[str, Keeper] = {}


def kept_by(table: str, keeper: Keeper) -> None:
    """Declare a :data:`KEEPERS` entry (records do, at import)."""
    KEEPERS[table] = keeper


def summarized_by(table: str, summarize: Summarize) -> None:
    """Declare the summary :meth:`State.summaries` lists ``table``'s rows by (records do, at
    import)."""
    SUMMARIES[table] = summarize


def ordered_by(table: str, order: Order) -> None:
    """Declare the order :meth:`State.ordered` lists ``table`` in (records do, at import).
    Its ranks are kept :func:`ranked`."""

    def clamped(key: Any, row: Any) -> Filed:
        filed = order(key, row)
        for _, rank in filed:  # a plain loop: this runs for every write of an ordered row
            if not MIN_RANK <= rank <= MAX_RANK:
                return tuple((g, ranked(r)) for g, r in filed)
        return filed

    clamped.__doc__ = order.__doc__
    ORDERS[table] = clamped


class State:
    """State rows in memory: what a :class:`~node.crdt.replica.Replica` of its own uses (tests,
    tools). A store keeps its rows in SQLite instead (``node/store/rows.py``), behind the same
    methods; handlers and views see no difference.

    Rows of one table are read by key (:meth:`get`) or by key prefix (:meth:`scan`): keys that
    group rows (a proposal's ballots are ``proposal id ‖ member``) are what an index answers
    without reading the whole table. No caller may depend on the order of a scan."""

    def __init__(self, rows: dict[str, dict[bytes | str, Any]] | None = None):
        self._tables: dict[str, dict[bytes | str, Any]] = rows or {}
        # Writes so far: a caller that must know whether something wrote compares two reads.
        self.writes = 0
        # The declared orders' index (what a store keeps in ``state_order``): table -> group
        # -> key -> rank, and the (group, rank) pairs each row of an ordered table is filed under.
        self._groups: dict[str, dict[bytes, dict[bytes | str, int]]] = {}
        self._filed: dict[tuple[str, bytes | str], Filed] = {}
        self.memo: dict[tuple, Any] = {}  # see remember()
        # The declared summaries (what a store keeps in ``state_summary``): table -> group ->
        # key -> value.
        self._summaries: dict[str, dict[bytes, dict[bytes | str, Any]]] = {}
        for table, rows_of in self._tables.items():
            for key, value in rows_of.items():
                self._index(table, key, value, None)

    def _index(self, table: str, key: bytes | str, value: Any, old: Any) -> None:
        """File a row just written (``old``: its value before, or None) in the declared
        orders and summaries of its table."""
        order = ORDERS.get(table)
        if order is not None:
            self._file(table, key, order(key, value))
        summarize = SUMMARIES.get(table)
        if summarize is not None:
            was = None if old is None else summarize(key, old)
            self._summarize(table, key, summarize(key, value), was)

    # get/put run several times per op: no throwaway {} per call (it showed in profiles).
    def get(self, table: str, key: bytes | str, default: Any = None) -> Any:
        rows = self._tables.get(table)
        return default if rows is None else rows.get(key, default)

    def put(self, table: str, key: bytes | str, value: Any) -> None:
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = {}
        old = rows.get(key)
        rows[key] = value
        self.writes += 1
        self._index(table, key, value, old)
        keep = KEEPERS.get(table)
        if keep is not None:
            keep(self, key, old, value)

    def remember(self, key: tuple, value: Any) -> None:
        """Keep a value derived from rows that no later write can change, only a rebuild,
        which forgets them all (:meth:`forget`): a score within a proposal's cut
        (``records.score.memo_key``). Past ``MEMO_SIZE`` the least recently used goes."""
        memo = self.memo
        memo[key] = value
        while len(memo) > MEMO_SIZE:
            del memo[next(iter(memo))]

    def recall(self, key: tuple) -> Any:
        """What :meth:`remember` kept under ``key`` (None if nothing), now the most recent."""
        value = self.memo.pop(key, None)
        if value is not None:
            self.memo[key] = value
        return value

    def forget(self) -> None:
        """Forget every value :meth:`remember` kept: rows they were derived from are being
        deleted (a rebuild)."""
        self.memo.clear()

    def delete(self, table: str, key: bytes | str) -> None:
        old = self._tables.get(table, {}).pop(key, None)
        if old is not None:
            self.writes += 1
            if table in ORDERS:
                self._file(table, key, None)
            if table in SUMMARIES:
                self._summarize(table, key, None, SUMMARIES[table](key, old))

    def _file(self, table: str, key: bytes | str, to: Filed | None):
        """File the row under ``to`` ((group, rank) pairs), out of where it was (None: out)."""
        was = self._filed.get((table, key))
        if was == to:
            return
        groups = self._groups.setdefault(table, {})
        if was is not None:
            del self._filed[(table, key)]
            for g, _ in was:
                members = groups[g]
                del members[key]
                if not members:
                    del groups[g]
        if to is not None:
            for g, rank in to:
                groups.setdefault(g, {})[key] = rank
            self._filed[(table, key)] = to

    def _summarize(
        self, table: str, key: bytes | str, to: Summary | None, was: Summary | None = None
    ) -> None:
        """List the row's summary ``to`` in its group instead of ``was`` (None: nothing)."""
        if was is not None and to is not None and was[0] != to[0]:
            # stores replace a summary in place, under the group the row has
            raise ValueError(f"{table} row {key!r} moved from one summary group to another")
        groups = self._summaries.setdefault(table, {})
        if was is not None:
            members = groups[was[0]]
            del members[key]
            if not members:
                del groups[was[0]]
        if to is not None:
            groups.setdefault(to[0], {})[key] = to[1]

    def summaries(self, table: str, group: bytes) -> Iterator[tuple[bytes | str, Any]]:
        """(key, summary value) of the rows of ``table`` in ``group``, as the table's
        declared summary (``summarized_by``) gives them, in no particular order. Do not
        write the table meanwhile."""
        return iter(list(self._summaries.get(table, {}).get(group, {}).items()))

    def beyond(
        self, community: bytes, clock: Mapping[bytes, int]
    ) -> Iterator[tuple[bytes, str, Any]] | None:
        """(id, kind, body) of every op of ``community`` logged past ``clock`` (author -> seq),
        or None when the state cannot tell: what may have changed rows since a cut. A store
        reads its log by chain and seq, and inside a transaction adds the ops its rows hold
        but its log does not yet; rows in memory have no log at hand."""
        return None

    def scan(
        self, table: str, prefix: bytes | str | None = None
    ) -> Iterator[tuple[bytes | str, Any]]:
        """(key, value) of the rows of ``table`` whose key starts with ``prefix`` (all without
        one). Do not write the table while the scan runs."""
        rows = self._tables.get(table)
        if not rows:
            return iter(())
        if prefix is None:
            return iter(rows.items())
        n = len(prefix)
        return ((k, v) for k, v in rows.items() if k[:n] == prefix)

    def ordered(
        self, table: str, group: bytes, ranks: Collection[int] | None = None
    ) -> Iterator[tuple[bytes | str, Any]]:
        """(key, value) of the rows of ``table`` in ``group``, highest rank first (then
        highest key), as the table's declared order (``ordered_by``) ranks them; with
        ``ranks``, only the rows of those ranks (a store seeks each in its index). Lazy: a
        caller that needs the first few rows reads only those (from a store's index). Do not
        write the table meanwhile."""
        rows = self._tables.get(table, {})
        return ((k, rows[k]) for k in self.keys_in(table, group, ranks))

    def rows_in(
        self, table: str, group: bytes, ranks: Collection[int] | None = None
    ) -> Iterator[Any]:
        """The values of :meth:`ordered`."""
        return (v for _, v in self.ordered(table, group, ranks))

    def keys_in(
        self, table: str, group: bytes, ranks: Collection[int] | None = None
    ) -> list[bytes | str]:
        """The keys of :meth:`ordered`, in its order: from a store's index alone, no row read."""
        members = self._groups.get(table, {}).get(group)
        if not members:
            return []
        ranked = sorted(
            ((r, k) for k, r in members.items() if ranks is None or r in ranks), reverse=True
        )
        return [k for _, k in ranked]

    def groups(self, table: str, prefix: bytes) -> list[bytes]:
        """The groups of ``table``'s declared order that start with ``prefix`` and hold a row,
        in byte order (groups whose key says what they are: a listing's category)."""
        n = len(prefix)
        return sorted(g for g in self._groups.get(table, {}) if g[:n] == prefix)

    def rows(self, table: str, prefix: bytes | str | None = None) -> Iterator[Any]:
        """The values of :meth:`scan`."""
        return (v for _, v in self.scan(table, prefix))

    def table(self, table: str) -> dict[bytes | str, Any]:
        """A copy of a whole table, key -> value (for tests and small tables)."""
        return dict(self.scan(table))

    def items(self) -> Iterator[tuple[str, bytes | str, Any]]:
        for name, rows in list(self._tables.items()):
            for key, value in list(rows.items()):
                yield name, key, value

    def keys(self) -> list[tuple[str, bytes | str]]:
        """(table, key) of every row."""
        return [(name, key) for name, rows in self._tables.items() for key in rows]

    def clear(self) -> None:
        """Delete every row (a rebuild from the log starts here)."""
        self.memo.clear()
        self._tables = {}
        self._groups.clear()
        self._filed.clear()
        self._summaries.clear()
        self.writes += 1


def cut_chain(state: State, community: bytes, author: bytes, seq: int) -> None:
    """Void ``author``'s ops in ``community`` above ``seq`` (the lowest cut wins). Only
    handlers marked ``cuts_chains`` may call it: the replica checks their ops specially."""
    key = community + author
    old = state.get(CHAIN_CUTS, key)
    if old is None or seq < old:
        state.put(CHAIN_CUTS, key, seq)


def cuts_chains(handler: Callable) -> Callable:
    """Mark a handler that may call :func:`cut_chain` (see ``Replica``: its verdict is
    checked against the cuts in its causal past)."""
    handler.cuts_chains = True  # type: ignore[attr-defined]
    return handler


@dataclass
class Context:
    """What a handler may look at besides the op: the state and causal queries."""

    state: State
    causal: CausalIndex


class Handler(Protocol):
    def __call__(self, op: Op, ctx: Context) -> None: ...


HandlerMap = dict[str, Callable[[Op, Context], None]]
