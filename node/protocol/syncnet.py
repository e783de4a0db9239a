"""The thin trio adapter that runs a :class:`SyncSession` over a libp2p stream.

Reading and writing are separate tasks, because both sides push ops at the same time and a
single task blocked in ``write`` (the peer's receive window is full) would never read the ACKs
that let the peer go on. Every read has an idle timeout, so a peer that opens a stream and then
says nothing costs one task for ``idle_timeout`` seconds, no more. The timeout's reason says
whether the peer never wrote a byte on the stream (``silent``) or went quiet half way
(``timeout``): the service weighs them differently (``node/service/peers.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import trio

from . import wire
from .sync import SyncError, SyncSession

READ_CHUNK = 64 * 1024
IDLE_TIMEOUT = 15.0
MAX_PAUSE = 5.0  # well under the peer's idle timeout: a paused reader is slow, not silent


def compressed(stream: Any) -> bool:
    """Whether ``stream`` speaks ``/we/sync/2.1.0`` (``wire.PROTOCOL_ID``), whose OPS batches
    may go compressed, rather than 2.0 (a node from before)."""
    return str(stream.get_protocol()) == wire.PROTOCOL_ID


def session_on(stream: Any, log: Any, **kwargs: Any) -> SyncSession:
    """A :class:`SyncSession` for ``stream``, compressing when the stream speaks 2.1: both
    ends must agree, so every session on a stream is made here."""
    return SyncSession(log, compress=compressed(stream), **kwargs)


async def drive(
    stream: Any,
    session: SyncSession,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    charge: Callable[[float], float] | None = None,
) -> None:
    """Run ``session`` to completion over ``stream``. Raises :class:`SyncError` (``blame`` says
    whether the peer is at fault); on success the stream is closed. ``charge(cpu_seconds)``,
    if given, is told the CPU spent on each chunk the peer sent and answers how long to wait
    before reading more (the peer's CPU budget, ``node/service/budget.py``)."""
    wake = trio.Event()
    failure: list[SyncError] = []

    async def writer(cancel: trio.CancelScope) -> None:
        nonlocal wake
        while True:
            data = session.data_to_send()
            if data:
                try:
                    await stream.write(data)
                except Exception as exc:  # reset / closed: the peer went away
                    failure.append(SyncError("disconnected", repr(exc), blame=False))
                    cancel.cancel()
                    return
            if session.done and not data:
                cancel.cancel()  # the reader may be blocked in read(): nothing more to read
                return
            if not data:
                await wake.wait()
                wake = trio.Event()

    async def reader(cancel: trio.CancelScope) -> None:
        heard = False
        while not session.done:
            try:
                with trio.fail_after(idle_timeout):
                    chunk = await stream.read(READ_CHUNK)
            except trio.TooSlowError:
                reason = "timeout" if heard else "silent"
                failure.append(SyncError(reason, f"peer silent for {idle_timeout}s"))
                break
            except Exception as exc:  # StreamEOF / reset: the peer went away mid-session
                if session.done:
                    break
                failure.append(SyncError("disconnected", repr(exc), blame=False))
                break
            heard = heard or bool(chunk)
            spent = time.process_time()
            try:
                session.receive_data(chunk)
            except SyncError as exc:
                failure.append(exc)
                break
            wake.set()
            if charge is not None:
                pause = charge(time.process_time() - spent)
                if pause > 0:
                    await trio.sleep(min(pause, MAX_PAUSE))
        wake.set()
        if failure:
            cancel.cancel()

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer, scope)
            nursery.start_soon(reader, scope)
    if failure:
        err = failure[0]
        tail = session.abort(err.reason) if not session.done else session.data_to_send()
        with trio.move_on_after(2):
            try:
                if tail:
                    await stream.write(tail)
            except Exception:
                pass
        with trio.move_on_after(2):
            try:
                await stream.reset()
            except Exception:
                pass
        raise err
    with trio.move_on_after(5):
        try:
            await stream.close()
        except Exception:
            pass
