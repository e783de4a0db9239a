"""Signature checks of one ingest batch, on both cores.

The signature is the larger share of an op's cost (~80 us of ~135 on the reference machine).
With a second core, a worker process (``node/crdt/sigcheck.py``; a thread would fight the
ingesting thread for the GIL) checks signatures while this thread decodes and applies ops.
The worker alone would be the slow side, so the two share the checks: chunks are sent to
the worker in order, a couple at a time; when this thread needs a verdict that is not in yet,
it checks the newest chunk not sent yet itself. They meet in the middle of the batch, and an
op is applied only after its own chunk's verdict.

One worker for the process, started on the first batch large enough to split, and only
when this process may use two cores. If it dies or misbehaves, its chunks are checked here
and no new worker is started: the verdicts never depend on it.
"""

from __future__ import annotations

import atexit
import os
import select
import subprocess
from collections import deque

from node.crdt import sigcheck
from node.crdt.op import Op, OpError, verify_signature
from node.spawn import python_module

# Signatures per chunk: big enough that sending one costs little, small enough that
# applying starts soon and the two sides meet close to the middle.
VERIFY_CHUNK = 32
IN_FLIGHT = 2  # chunks sent and not answered: the worker always has the next one
REPLY_TIMEOUT = 10.0  # seconds: a worker that stops answering is given up on

Check = tuple[int, bytes, bytes, bytes]  # (slot in the batch, author, signature, message)


def verify_all(checks: list[Check]) -> list[tuple[int, str]]:
    """(slot, reason) of each check whose signature does not verify, checked here."""
    bad = []
    for i, author, sig, message in checks:
        try:
            verify_signature(author, message, sig)
        except OpError as exc:
            bad.append((i, exc.reason))
    return bad


class WorkerGone(Exception):
    """The worker process ended or answered out of turn."""


class SigWorker:
    """The worker process and the frames in flight to it (replies come back in order)."""

    def __init__(self) -> None:
        command, env = python_module("node.crdt.sigcheck")
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        self._out = self._proc.stdout.fileno()  # type: ignore[union-attr]
        self._buffer = b""
        self._serial = 0
        self.sent: deque[int] = deque()  # serials not answered yet, oldest first

    def send(self, checks: list[Check]) -> int:
        self._serial += 1
        view = memoryview(sigcheck.pack_request(self._serial, [c[1:] for c in checks]))
        try:
            while view:  # an unbuffered pipe may take part of it (a signal came): the rest
                view = view[self._proc.stdin.write(view) :]  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            raise WorkerGone(str(exc)) from exc
        self.sent.append(self._serial)
        return self._serial

    def ready(self) -> bool:
        """Whether a reply (or its start) can be read without waiting."""
        return bool(self._buffer) or bool(select.select([self._out], [], [], 0)[0])

    def receive(self) -> tuple[int, list[int]]:
        """The next reply (waits for it): (serial, failed positions in its request)."""
        while True:
            if len(self._buffer) >= 4:
                size = 4 + int.from_bytes(self._buffer[:4], "big")
                if len(self._buffer) >= size:
                    payload, self._buffer = self._buffer[4:size], self._buffer[size:]
                    serial, bad = sigcheck.unpack_reply(payload)
                    if not self.sent or serial != self.sent.popleft():
                        raise WorkerGone(f"reply {serial} out of turn")
                    return serial, bad
            if not select.select([self._out], [], [], REPLY_TIMEOUT)[0]:
                raise WorkerGone(f"no reply in {REPLY_TIMEOUT} s")
            try:
                data = os.read(self._out, 1 << 16)
            except OSError as exc:
                raise WorkerGone(str(exc)) from exc
            if not data:
                raise WorkerGone("the worker process ended")
            self._buffer += data

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()

    def stop(self) -> None:
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]  # it ends on end of input
            self._proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


_WORKER: SigWorker | None = None
_WORKER_PID = 0  # the process that started it (a forked child starts its own)
_BROKEN = False


def cores() -> int:
    """The cores this process may run on (1 where the system does not say)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def worker() -> SigWorker | None:
    """The signature worker, started on first use; None on one core or once it failed."""
    global _WORKER, _WORKER_PID, _BROKEN
    if _BROKEN or cores() < 2:
        return None
    if _WORKER is None or _WORKER_PID != os.getpid():
        try:
            _WORKER = SigWorker()
        except OSError:
            _BROKEN = True
            return None
        _WORKER_PID = os.getpid()
        atexit.register(_WORKER.stop)
    return _WORKER


def _give_up(failed: SigWorker) -> None:
    """No worker again in this process: one failed (its checks are done here instead)."""
    global _WORKER, _BROKEN
    failed.kill()
    if failed is _WORKER:
        _WORKER = None
    _BROKEN = True


class BatchChecks:
    """The signature checks of one batch: :meth:`add` checks as they are decoded, then ask
    :meth:`verdicts_through` for the verdicts up to each slot before applying it."""

    def __init__(self) -> None:
        self._worker: SigWorker | None = None
        self._waiting: list[Check] = []  # the chunk being filled
        self._chunks: list[list[Check]] = []
        self._verdicts: dict[int, list[tuple[int, str]]] = {}  # chunk -> failed (slot, reason)
        self._serials: dict[int, int] = {}  # worker serial -> chunk
        self._next_send = 0  # chunks before it were sent or checked here
        self._back = 0  # chunks from here on were checked here
        self._taken = 0  # chunks whose verdicts were given out

    def add(self, slot: int, op: Op, message: bytes) -> None:
        self._waiting.append((slot, op.author, op.sig, message))
        if len(self._waiting) == VERIFY_CHUNK:
            self._new_chunk()

    def close(self) -> list[tuple[int, str]]:
        """No more checks. A batch that was never split is checked here at once, in one tight
        loop (a small batch): its verdicts are returned. Otherwise the tail is a
        chunk like the others, and nothing is returned yet."""
        if not self._chunks:
            bad, self._waiting = verify_all(self._waiting), []
            return bad
        if self._waiting:
            self._new_chunk()
        return []

    def verdicts_through(self, slot: int) -> list[tuple[int, str]]:
        """(slot, reason) of the failed checks of every chunk that starts at or before
        ``slot``, waiting for them or checking them here (see the module docstring)."""
        bad: list[tuple[int, str]] = []
        chunks = self._chunks
        while self._taken < len(chunks) and chunks[self._taken][0][0] <= slot:
            while self._taken not in self._verdicts:
                self._step()
            bad += self._verdicts.pop(self._taken)
            self._taken += 1
            self._pump()
        return bad

    # ------------------------------------------------------------------ internals
    def _new_chunk(self) -> None:
        self._chunks.append(self._waiting)
        self._waiting = []
        self._back = len(self._chunks)
        if self._worker is None and len(self._chunks) == 2:
            self._worker = worker()  # a batch of one chunk is checked here
        self._pump()

    def _pump(self) -> None:
        """Take in the replies that are in, and keep the worker supplied (once per chunk,
        while decoding and while applying: a worker left without work idles)."""
        w = self._worker
        try:
            while w is not None and w.sent and w.ready():
                self._receive()
            while w is not None and self._next_send < self._back and len(w.sent) < IN_FLIGHT:
                self._serials[w.send(self._chunks[self._next_send])] = self._next_send
                self._next_send += 1
        except (WorkerGone, KeyError, IndexError):
            self._lose_worker()

    def _receive(self) -> None:
        assert self._worker is not None
        while True:
            serial, failed = self._worker.receive()
            chunk = self._serials.pop(serial, None)
            if chunk is not None:
                break
            # a reply to a batch that was given up half way (an exception while applying):
            # it was in flight when that batch ended, and is of no use now
        checks = self._chunks[chunk]
        self._verdicts[chunk] = [(checks[i][0], "bad_signature") for i in failed]

    def _step(self) -> None:
        """Make progress towards the verdict of chunk ``_taken``: check the newest unsent
        chunk here, or else wait for the worker's next reply."""
        if self._next_send < self._back:
            self._back -= 1
            self._verdicts[self._back] = verify_all(self._chunks[self._back])
            self._pump()
            return
        try:
            self._receive()  # the chunk is with the worker: only waiting remains
        except (WorkerGone, KeyError, IndexError):
            self._lose_worker()

    def _lose_worker(self) -> None:
        """The worker failed: what it was sent is checked here (and by no worker again)."""
        if self._worker is not None:
            _give_up(self._worker)
        self._worker = None
        for chunk in self._serials.values():
            self._verdicts[chunk] = verify_all(self._chunks[chunk])
        self._serials.clear()  # chunks not sent yet are checked by _step, newest first
