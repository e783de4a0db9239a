"""When and with whom the service runs sync sessions, and who may sync what.

- when a connection opens (the side with the smaller member id initiates, one session is enough
  because a session moves ops both ways);
- every ``sync_interval`` seconds with one random connected peer (which is also pinged with a
  timeout: a silent partition is otherwise noticed only after minutes);
- at once when gossip delivers an op whose ``prev``/``deps`` are missing (a gap);
- when a fork is detected (so the proof reaches every peer quickly).

At most one outgoing session per (community, peer) runs at a time; a request while one runs is
remembered and run once more after it. Sessions with one peer are capped at
``MAX_INBOUND_SESSIONS_PER_PEER`` at once on both ends: the initiator waits for a slot (a node
sharing many communities with a peer syncs them a few at a time), and the responder resets a
stream over the cap without blaming the peer (a limit is not misbehaviour; a peer that opens
streams and stays silent is scored down by the idle timeout).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import trio

from node.identity import pubkey_from_member_id
from node.protocol.sync import NOT_MEMBER, UNKNOWN_COMMUNITY, SyncError, SyncSession
from node.protocol.syncnet import drive
from node.protocol.wire import PROTOCOL_ID

from .storelog import Event, SyncRecord

log = logging.getLogger("we.service")
MAX_INBOUND_SESSIONS_PER_PEER = 4


class Syncer:
    """The sync side of a :class:`~node.service.service.Service` (``svc``)."""

    def __init__(self, svc: Any):
        self.svc = svc
        self.records: dict[bytes, dict[str, SyncRecord]] = {}  # community -> peer -> last
        self.inbound: dict[str, int] = {}  # peer -> sessions it opened that still run
        self._running: set[tuple[bytes, str]] = set()
        self._slots: dict[str, trio.Semaphore] = {}  # peer -> outgoing sessions at once
        self._again: set[tuple[bytes, str]] = set()

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

    async def sync_with(self, peer: str, community: bytes) -> SyncRecord | None:
        svc = self.svc
        key = (community, peer)
        if key in self._running:
            self._again.add(key)
            return None
        try:
            peer_key = pubkey_from_member_id(peer)
        except Exception:
            return None
        if self.access(community, peer_key) is not None:
            return None
        self._running.add(key)
        record = SyncRecord(False, time.time())
        slots = self._slots.setdefault(peer, trio.Semaphore(MAX_INBOUND_SESSIONS_PER_PEER))
        try:
            async with slots:
                stream = await svc.host.open_stream(peer, PROTOCOL_ID)
                session = SyncSession(svc.log, peer=peer_key, community=community)
                charge = svc.charge(peer)
                await drive(stream, session, idle_timeout=svc.idle_timeout, charge=charge)
            st = session.stats
            ok = session.state == "done"
            record = SyncRecord(ok, time.time(), st.ops_in, st.ops_out, session.refusal or "")
        except SyncError as exc:
            record.reason = exc.reason
            if exc.blame:
                svc.report_bad_peer(peer, exc.reason)
        except Exception as exc:  # the peer went away, the stream timed out
            record.reason = type(exc).__name__
        finally:
            self._running.discard(key)
        self.records.setdefault(community, {})[peer] = record
        if record.ok:
            svc.emit(Event("synced", community, peer=peer))
        if key in self._again:
            self._again.discard(key)
            self.schedule(community, peer)
        return record

    async def serve(self, stream: Any, peer: str) -> None:
        """The ``/we/sync/2.0.0`` stream handler: a session the peer initiated."""
        svc = self.svc
        now = trio.current_time()
        if svc.book.is_banned(peer, now) or self.inbound.get(peer, 0) >= (
            MAX_INBOUND_SESSIONS_PER_PEER
        ):
            await stream.reset()  # over the cap: refused, not blamed (it may be a limit of ours)
            return
        self.inbound[peer] = self.inbound.get(peer, 0) + 1
        try:
            peer_key = pubkey_from_member_id(peer)
            session = SyncSession(svc.log, peer=peer_key, access=self.access)
            try:
                await drive(stream, session, idle_timeout=svc.idle_timeout, charge=svc.charge(peer))
            except SyncError as exc:
                if exc.blame:
                    svc.report_bad_peer(peer, exc.reason)
                return
            if session.community is not None and session.state == "done":
                st = session.stats
                rec = SyncRecord(True, time.time(), st.ops_in, st.ops_out)
                self.records.setdefault(session.community, {})[peer] = rec
                svc.emit(Event("synced", session.community, peer=peer))
        finally:
            self.inbound[peer] -= 1

    async def sync_now(self, community: bytes | None = None) -> list[dict]:
        out = []
        for c in [community] if community else sorted(self.svc.followed):
            for peer in self.svc.connected():
                rec = await self.sync_with(peer, c)
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
