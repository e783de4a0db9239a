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

from collections.abc import Sequence

from node.crdt.chain import verify_range
from node.crdt.op import Op, OpError, decode_op

from . import wire
from .syncerror import SyncError
from .wire import Entry


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
