"""Shared helpers for the sync tests: in-memory session wiring (op histories come from
``tests/factory.py``)."""

from __future__ import annotations

from node.protocol.memlog import MemoryLog
from node.protocol.sync import SyncSession


def run_pair(a: SyncSession, b: SyncSession, max_steps: int = 100_000) -> int:
    """Shuttle bytes between two sessions until both are done; returns the number of
    half round trips (steps in which something moved)."""
    steps = 0
    for _ in range(max_steps):
        x = a.data_to_send()
        if x:
            b.receive_data(x)
        y = b.data_to_send()
        if y:
            a.receive_data(y)
        if x or y:
            steps += 1
        if a.done and b.done and not x and not y:
            return steps
    raise AssertionError("sessions did not finish")


def drain(session: SyncSession) -> bytes:
    """Everything ``session`` would write before it waits for the peer (``data_to_send``
    gives at most one OPS batch a call)."""
    out = b""
    while data := session.data_to_send():
        out += data
    return out


def half_trips(a: SyncSession, b: SyncSession, max_steps: int = 10_000) -> int:
    """Like :func:`run_pair`, but strictly alternating turns (a, b, a, ...), each side sending
    all it has: the number of one-way flights in which something moved (2 = one round trip)."""
    flights = 0
    sides = (a, b)
    for i in range(max_steps):
        src, dst = sides[i % 2], sides[(i + 1) % 2]
        data = drain(src)
        if data:
            dst.receive_data(data)
            flights += 1
        elif a.done and b.done:
            return flights
    raise AssertionError("sessions did not finish")


def log_of(ops) -> MemoryLog:
    log = MemoryLog()
    log.add(list(ops))
    return log
