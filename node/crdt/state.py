"""Materialized state: the records that ops build, as plain values in named tables.

Handlers (the pure functions that apply one op) read and write a :class:`State`. It remembers
which keys changed so that the store can persist exactly those rows in the same transaction as
the ops, and a node never has to replay history when it opens.

Values must be plain CBOR-encodable data (dict, list, str, bytes, int, bool, None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .causal import CausalIndex
from .op import Op

Key = tuple[str, bytes | str]

# A handler may *cut* an author's chain in a community (a removal does): the author's ops
# there above the cut seq are void, like a forked author's from the fork seq on. The table
# holds community ‖ author -> the lowest cut; the replica reads it (``Replica.cuts``).
CHAIN_CUTS = "chain.cut"


class Rejected(Exception):
    """An authentic op that breaks a rule of its kind. It stays in the log (its author's chain
    continues through it) but never changes state. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class State:
    def __init__(self, rows: dict[str, dict[bytes | str, Any]] | None = None):
        self._tables: dict[str, dict[bytes | str, Any]] = rows or {}
        self.dirty: set[Key] = set()

    # get/put run several times per op: no throwaway {} per call (it showed in profiles).
    def get(self, table: str, key: bytes | str, default: Any = None) -> Any:
        rows = self._tables.get(table)
        return default if rows is None else rows.get(key, default)

    def put(self, table: str, key: bytes | str, value: Any) -> None:
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = {}
        rows[key] = value
        self.dirty.add((table, key))

    def delete(self, table: str, key: bytes | str) -> None:
        if self._tables.get(table, {}).pop(key, None) is not None:
            self.dirty.add((table, key))

    def table(self, table: str) -> dict[bytes | str, Any]:
        """Read-only view intent: callers must write through :meth:`put`."""
        rows = self._tables.get(table)
        return {} if rows is None else rows

    def items(self) -> Iterator[tuple[str, bytes | str, Any]]:
        for name, rows in self._tables.items():
            for key, value in rows.items():
                yield name, key, value

    def take_dirty(self) -> set[Key]:
        dirty, self.dirty = self.dirty, set()
        return dirty


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
