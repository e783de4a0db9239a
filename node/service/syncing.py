"""When and with whom the service runs sync sessions, and who may sync what.

- when a connection opens, on both sides (:meth:`Syncer.on_connected`): the side with the
  smaller member id at once, the other after ``RESPONDER_GRACE`` unless a session with that
  peer for that community has completed since the connection opened (one session is enough,
  it moves ops both ways). A failed attempt is retried (``CONNECT_RETRIES``) while the peer is
  connected: the first one may have gone out on the dead connection a restarted peer left
  behind (issue 14);
- every ``sync_interval`` seconds with one random connected peer (which is also pinged with a
  timeout: a silent partition is otherwise noticed only after minutes);
- at once when gossip delivers an op whose ``prev``/``deps`` are missing (a gap);
- when a fork is detected (so the proof reaches every peer quickly);
- when a session, either way, brought ops we did not have (:meth:`Syncer.learned`): with every
  other connected peer, at most once per ``SPREAD_EVERY`` per community. Gossip carries only
  fresh ops; what a node learns by sync (after a partition heals, a member comes back, gossip
  dropped a message) would otherwise travel one hop per ``sync_interval``.

At most one outgoing session per (community, peer) runs at a time; a request while one runs is
remembered and run once more after it. Sessions with one peer are capped at
``MAX_INBOUND_SESSIONS_PER_PEER`` at once on both ends: the initiator waits for a slot (a node
sharing many communities with a peer syncs them a few at a time), and the responder resets a
stream over the cap without blaming the peer (a limit is not misbehaviour; a peer that opens
streams and stays silent is scored down by the idle timeout).

Every session, either way, has an overall deadline (``session_deadline``: a peer that keeps a
session busy with a trickle of bytes holds it no longer), and inbound sessions from all peers
together are capped at ``max_sessions`` (many identities are as cheap as one).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import trio

from node.identity import pubkey_from_member_id
from node.protocol.sync import NOT_MEMBER, UNKNOWN_COMMUNITY, SyncError, SyncSession
from node.protocol.syncnet import drive, session_on
from node.protocol.wire import PROTOCOLS

from .storelog import Event, SyncRecord

log = logging.getLogger("we.service")
MAX_INBOUND_SESSIONS_PER_PEER = 4
MAX_SESSIONS = 64  # inbound sessions at once, all peers together
SESSION_DEADLINE = 300.0  # seconds for a whole session; what it moved is kept, the next resumes
RESPONDER_GRACE = 1.0
PROGRESS_EVERY = 0.5  # seconds between sync_progress events of one session
CONNECT_RETRIES = (0.25, 0.5, 1.0, 2.0)  # pauses between attempts after a connection opens
SPREAD_DELAY, SPREAD_EVERY = 0.2, 1.0  # news learned by sync goes on: gathered, then rate-bound


class Syncer:
    """The sync side of a :class:`~node.service.service.Service` (``svc``)."""

    def __init__(self, svc: Any):
        self.svc = svc
        self.records: dict[bytes, dict[str, SyncRecord]] = {}  # community -> peer -> last
        self.inbound: dict[str, int] = {}  # peer -> sessions it opened that still run
        self._running: set[tuple[bytes, str]] = set()
        # session -> (community, ops received, ops expected) while it receives ops: what
        # `we status` shows of a large sync in progress (set with each sync_progress event)
        self.receiving: dict[SyncSession, tuple[bytes, int, int | None]] = {}
        self._slots: dict[str, trio.Semaphore] = {}  # peer -> outgoing sessions at once
        self._again: set[tuple[bytes, str]] = set()
        self._synced: dict[tuple[bytes, str], float] = {}  # last completed session (trio time)
        self.session_deadline = SESSION_DEADLINE
        self.max_sessions = MAX_SESSIONS
        self.inbound_total = 0
        self._spreading: set[bytes] = set()
        self._spread_at: dict[bytes, float] = {}
        self.stats = {
            "connect_attempts": 0,
            "connect_skipped": 0,
            "deadline": 0,
            "capped": 0,
            "spread": 0,
        }

    def access(self, community: bytes, peer_key: bytes) -> str | None:
        """None when ``peer_key`` may sync ``community`` with us, else a refusal reason."""
        svc = self.svc
        if community not in svc.followed:
            return UNKNOWN_COMMUNITY
        try:
            from node.crdt.records import queries

            charter = queries.charter(svc.store.state, community) or {}
            if charter.get("visibility", "public") != "members":
                return None
            for m in queries.members(svc.store.state, community):
                if m["member"] == peer_key and m["status"] == "member":
                    return None
        except Exception as exc:
            log.info("access check failed: %r", exc)
        return NOT_MEMBER

    def schedule(self, community: bytes, peer: str) -> None:
        if self.svc.nursery is not None:
            self.svc.nursery.start_soon(self.sync_with, peer, community)

    def on_connected(self, peer: str) -> None:
        svc = self.svc
        if svc.nursery is None:
            return
        since = trio.current_time()
        if len(self._synced) > 4096:  # forget peers that are gone
            live = set(svc.connected())
            self._synced = {k: t for k, t in self._synced.items() if k[1] in live}
        for c in sorted(svc.followed):
            svc.nursery.start_soon(self._sync_on_connect, peer, c, since)

    async def _sync_on_connect(self, peer: str, community: bytes, since: float) -> None:
        if self.svc.member_id > peer:  # the peer starts; we cover for it if it does not
            await trio.sleep(RESPONDER_GRACE)
        for pause in (*CONNECT_RETRIES, None):
            if self._synced.get((community, peer), -1.0) >= since:
                self.stats["connect_skipped"] += 1
                return
            if peer not in self.svc.connected():
                return
            self.stats["connect_attempts"] += 1
            record, retry = await self._sync(peer, community)
            if not retry or pause is None:
                return
            await trio.sleep(pause)

    async def sync_with(self, peer: str, community: bytes) -> SyncRecord | None:
        return (await self._sync(peer, community))[0]

    async def _sync(self, peer: str, community: bytes) -> tuple[SyncRecord | None, bool]:
        """One outgoing session; the flag says whether a failure was the transport's (worth
        another attempt), not a refusal or the peer's fault."""
        svc = self.svc
        key = (community, peer)
        if key in self._running:
            self._again.add(key)
            return None, False
        try:
            peer_key = pubkey_from_member_id(peer)
        except Exception:
            return None, False
        if self.access(community, peer_key) is not None:
            return None, False
        self._running.add(key)
        retry = False
        record = SyncRecord(False, time.time())
        slots = self._slots.setdefault(peer, trio.Semaphore(MAX_INBOUND_SESSIONS_PER_PEER))
        try:
            async with slots:
                stream = await svc.host.open_stream(peer, PROTOCOLS)
                session = session_on(stream, svc.log, peer=peer_key, community=community)
                if await self._drive(stream, session, peer):
                    st = session.stats
                    ok = session.state == "done"
                    reason = session.refusal or ""
                    record = SyncRecord(ok, time.time(), st.ops_in, st.ops_out, reason)
                else:
                    record.reason, retry = "deadline", True
        except SyncError as exc:
            record.reason = exc.reason
            retry = not exc.blame and exc.reason == "disconnected"
            if exc.blame:
                # a peer that never answered our stream is slow, not hostile: it holds no slot
                # of ours but the one we chose to open (only a silent *opener* does)
                svc.report_bad_peer(peer, "timeout" if exc.reason == "silent" else exc.reason)
        except Exception as exc:  # the peer went away, the stream timed out
            record.reason, retry = type(exc).__name__, True
        finally:
            self._running.discard(key)
            if slots.value == MAX_INBOUND_SESSIONS_PER_PEER and not any(
                k[1] == peer for k in self._running
            ):
                self._slots.pop(peer, None)
        self.records.setdefault(community, {})[peer] = record
        if record.ok:
            self._synced[key] = trio.current_time()
            svc.peer_synced(community, peer)
        if record.ops_in:
            self.learned(community, peer)
        if key in self._again:
            self._again.discard(key)
            self.schedule(community, peer)
        return record, retry

    async def _drive(self, stream: Any, session: SyncSession, peer: str) -> bool:
        """Run the session within the overall deadline; False when the deadline cut it (not
        blamed: a huge catch-up over a slow link is honest; what it moved is kept)."""
        svc = self.svc
        ticker = trio.CancelScope()  # the progress task, outside drive's errors' way
        if getattr(svc, "nursery", None) is not None:
            svc.nursery.start_soon(self._progress, session, peer, ticker)
        try:
            # the session's batches share commits (a catch-up at a million ops wrote each
            # dirty page of the state once a batch otherwise): committed when it ends
            with trio.move_on_after(self.session_deadline) as scope, svc.store.batched():
                await drive(stream, session, idle_timeout=svc.idle_timeout, charge=svc.charge(peer))
        finally:
            ticker.cancel()
            self.receiving.pop(session, None)
        if not scope.cancelled_caught:
            return True
        self.stats["deadline"] += 1
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            try:
                await stream.reset()
            except Exception:
                pass
        return False

    async def _progress(self, session: SyncSession, peer: str, scope: trio.CancelScope) -> None:
        """While a session receives ops, say how far it got (``sync_progress`` events, for
        `we community join`; ``receiving`` for `we status`): at most every ``PROGRESS_EVERY``
        seconds, and only when something came in."""
        said = 0
        with scope:
            while True:
                await trio.sleep(PROGRESS_EVERY)
                st = session.stats
                if st.ops_in != said and session.community is not None:
                    said = st.ops_in
                    self.receiving[session] = (session.community, st.ops_in, st.ops_expected)
                    event = Event(
                        "sync_progress",
                        session.community,
                        peer=peer,
                        done=st.ops_in,
                        expected=st.ops_expected,
                    )
                    self.svc.emit(event)

    async def serve(self, stream: Any, peer: str) -> None:
        """The ``/we/sync/2.1.0`` and ``2.0.0`` stream handler: a session the peer initiated."""
        svc = self.svc
        now = trio.current_time()
        if (
            svc.book.is_banned(peer, now)
            or self.inbound.get(peer, 0) >= MAX_INBOUND_SESSIONS_PER_PEER
            or self.inbound_total >= self.max_sessions
        ):
            self.stats["capped"] += 1
            await stream.reset()  # over the cap: refused, not blamed (it may be a limit of ours)
            return
        self.inbound[peer] = self.inbound.get(peer, 0) + 1
        self.inbound_total += 1
        try:
            peer_key = pubkey_from_member_id(peer)
            session = session_on(stream, svc.log, peer=peer_key, access=self.access)
            try:
                if not await self._drive(stream, session, peer):
                    return
            except SyncError as exc:
                if exc.blame:
                    svc.report_bad_peer(peer, exc.reason)
                return
            if session.community is not None and session.state == "done":
                st = session.stats
                rec = SyncRecord(True, time.time(), st.ops_in, st.ops_out)
                self.records.setdefault(session.community, {})[peer] = rec
                self._synced[(session.community, peer)] = trio.current_time()
                svc.peer_synced(session.community, peer)
                if st.ops_in:
                    self.learned(session.community, peer)
        finally:
            self.inbound_total -= 1
            self.inbound[peer] -= 1
            if not self.inbound[peer]:
                del self.inbound[peer]

    def learned(self, community: bytes, source: str) -> None:
        """A session with ``source`` brought ops: pass them on to the other connected peers
        (their sessions are cheap when they have them already). Requests that come while one
        spread waits join it; spreads of one community are ``SPREAD_EVERY`` apart."""
        if community in self._spreading or self.svc.nursery is None:
            return
        self._spreading.add(community)
        self.svc.nursery.start_soon(self._spread, community, source)

    async def _spread(self, community: bytes, source: str) -> None:
        now = trio.current_time()
        last = self._spread_at.get(community, -SPREAD_EVERY)
        await trio.sleep(max(SPREAD_DELAY, last + SPREAD_EVERY - now))
        self._spreading.discard(community)
        self._spread_at[community] = trio.current_time()
        if community not in self.svc.followed:
            return
        self.stats["spread"] += 1
        for peer in self.svc.connected():
            if peer != source:
                self.schedule(community, peer)

    async def sync_now(self, community: bytes | None = None) -> list[dict]:
        out = []
        for c in [community] if community else sorted(self.svc.followed):
            for peer in self.svc.connected():
                rec = await self.sync_with(peer, c)
                if rec is None and (c, peer) in self._running:
                    # One is running already (sync on connect, say): its result answers.
                    while (c, peer) in self._running:
                        await trio.sleep(0.05)
                    rec = self.records.get(c, {}).get(peer)
                if rec is not None:
                    out.append(
                        {
                            "community": c,
                            "member_id": peer,
                            "ok": rec.ok,
                            "ops_in": rec.ops_in,
                            "ops_out": rec.ops_out,
                            "reason": rec.reason,
                        }
                    )
        return out

    async def periodic(self) -> None:
        svc = self.svc
        while True:
            await trio.sleep(svc.sync_interval * random.uniform(0.75, 1.25))
            peers = svc.connected()
            if not peers:
                continue
            peer = random.choice(peers)
            rtt = await svc.host.ping(peer, timeout=5)
            svc.book.get(peer).rtt_ms = rtt
            if rtt is None:  # silent partition: drop the connection, the dialer retries
                await svc.host.disconnect(peer)
                continue
            svc.book.get(peer).last_seen = time.time()
            for c in sorted(svc.followed):
                self.schedule(c, peer)
