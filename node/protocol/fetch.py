"""Fetching ops by id: what a WANT is answered with, and the check of each answer
(``specs/sync.md``, "Fetching by id").

A side holds ops that wait for ids it lacks (an honest op naming an op of a void fork branch
as a dep, an op pushed at a divergent height whose ``prev`` is on the other branch). It asks
for them with WANT; the answer to each id is a *run*: the wanted op and its author's earlier
ops along ``prev``, ascending, so one answer can fill a whole missing branch (up to MAX_RUN
ops; the requester asks again for the parent of the run's first op if it is still missing).
A run stops where it reaches what the requester announced (its height and head for that
author), and is checked like any range: contiguous ``prev`` links, ONE signature (the last
op's), and it must end exactly at the wanted id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from node.crdt.chain import verify_range
from node.crdt.op import Op, OpError, decode_op

from . import wire
from .syncerror import SyncError
from .wire import Entry, Got, Want

MAX_WANT_ROUNDS = 32  # WANT frames a side sends in one session (one outstanding at a time)
MAX_WANT_IDS = 4096  # ids a side asks for in one session (more are answered with empty runs)
MAX_SERVED_OPS = 65536  # ops a side sends in GOT runs in one session


class Fetcher:
    """Both halves of fetching by id in one session: the ids we ask for (one WANT
    outstanding at a time, within budget, each id once) and the peer's WANTs we answer.

    ``theirs(author)``: what the peer announced for an author (trims our runs)."""

    def __init__(self, log: Any, community: bytes, theirs: Callable[[bytes], Entry | None]):
        self.log, self.community, self.theirs = log, community, theirs
        self.enabled = hasattr(log, "missing") and hasattr(log, "chain_back")
        self.asked: set[bytes] = set()
        self.wanted: deque[bytes] = deque()  # asked, not yet answered (answers come in order)
        self.rounds = 0
        self.look = True  # something was ingested since we last asked log.missing()
        self.to_serve: deque[bytes] = deque()
        self.ids_in = 0
        self.served_ops = 0

    # ---- asking ---------------------------------------------------------------------------
    def budget_left(self) -> bool:
        return self.rounds < MAX_WANT_ROUNDS and len(self.asked) < MAX_WANT_IDS

    def settled(self) -> bool:
        """Nothing asked is unanswered and nothing more will be asked."""
        return not self.wanted and not (self.enabled and self.look and self.budget_left())

    def want(self) -> Want | None:
        """The next WANT, if pending ops wait for ids we have not asked for yet."""
        if not self.enabled or not self.look or self.wanted or not self.budget_left():
            return None
        self.look = False
        room = min(wire.MAX_WANT, MAX_WANT_IDS - len(self.asked))
        missing = self.log.missing(self.community, room + len(self.asked))
        ids = [i for i in missing if i not in self.asked][:room]
        if not ids:
            return None
        self.asked.update(ids)
        self.wanted.extend(ids)
        self.rounds += 1
        return Want(tuple(ids))

    def take(self, runs: Sequence[Sequence[bytes]]) -> list[list[Op]]:
        """Check a GOT: one run per oldest unanswered id; returns the non-empty runs."""
        if len(runs) > len(self.wanted):
            raise SyncError("unexpected", "GOT for ids never asked for")
        checked = []
        for raws in runs:
            op_id = self.wanted.popleft()
            if raws:  # empty: the peer does not hold it (we do not ask again this session)
                checked.append(check_run(self.community, op_id, raws))
        return checked

    # ---- answering ------------------------------------------------------------------------
    def next_got(self) -> Got | None:
        """One GOT frame answering the oldest wanted ids (at most MAX_WANT runs and
        MAX_BATCH_BYTES of ops); None when nothing is left to answer."""
        if not self.to_serve:
            return None
        runs: list[tuple[bytes, ...]] = []
        size = 0
        while self.to_serve and len(runs) < wire.MAX_WANT:
            run = self._run(self.to_serve[0])
            n = sum(map(len, run))
            if runs and size + n > wire.MAX_BATCH_BYTES:
                break  # the next frame
            self.to_serve.popleft()
            self.ids_in += 1
            self.served_ops += len(run)
            runs.append(tuple(run))
            size += n
        return Got(tuple(runs))

    def _run(self, op_id: bytes) -> list[bytes]:
        if self.ids_in >= MAX_WANT_IDS or self.served_ops >= MAX_SERVED_OPS:
            return []  # over this session's budget: "not served", the peer asks next time
        back = self.log.chain_back(self.community, op_id, 1)
        if not back:
            return []
        limit = min(wire.MAX_RUN, MAX_SERVED_OPS - self.served_ops)
        return run_for(self.log, self.community, op_id, self.theirs(back[0].author), limit)


def run_for(
    log: object, community: bytes, op_id: bytes, theirs: Entry | None, max_ops: int
) -> list[bytes]:
    """The run answering a WANT of ``op_id`` (encoded ops, ascending seq); [] when we do not
    hold it. ``theirs``: what the requester announced for the op's author (trims the run)."""
    back: list[Op] = log.chain_back(community, op_id, max_ops)  # type: ignore[attr-defined]
    run: list[bytes] = []
    size = 0
    for op in back:
        if theirs is not None and op.seq == theirs.seq and op.id[: wire.HEAD_PREFIX] == theirs.head:
            break  # the requester holds this op and everything before it
        if run and size + len(op.raw) > wire.MAX_BATCH_BYTES:
            break
        run.append(op.raw)
        size += len(op.raw)
    run.reverse()
    return run


def check_run(community: bytes, op_id: bytes, raws: Sequence[bytes]) -> list[Op]:
    """Decode and check one answered run; raises :class:`SyncError` (blame) when it is not
    a contiguous, authentic chain ending at ``op_id``."""
    ops: list[Op] = []
    for raw in raws:
        try:
            op = decode_op(raw, verify=False)
        except OpError as exc:
            raise SyncError(exc.reason, exc.detail) from exc
        if op.community_id != community:
            raise SyncError("wrong_community", "op of another community")
        ops.append(op)
    if ops[-1].id != op_id:
        raise SyncError("unexpected_op", "a run does not end at the wanted id")
    try:
        verify_range(ops)
    except OpError as exc:
        raise SyncError(exc.reason, exc.detail) from exc
    return ops
