"""The node service: host + store + gossip + sync, running inside one trio nursery.

This module wires the parts together and owns the events, local writes, the followed
communities and the peers; when and with whom sync runs is :mod:`node.service.syncing`,
finding peers is :mod:`node.service.discovery`.

Bad peers: every protocol violation is reported to the :class:`PeerBook`; at the ban score the
peer is disconnected, blacklisted in pubsub, its streams refused and it is not redialled. A
timeout while this node's own event loop runs late (:class:`budget.LoopLag`) is not reported:
the node was too busy to read, the peer may be blameless.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from node.crdt.op import Op
from node.protocol.wire import PROTOCOLS

from . import discovery, report
from .budget import CpuBudget, LoopLag
from .peers import PeerBook, is_weak
from .storelog import Event, StoreLog, SyncRecord
from .syncing import Syncer

log = logging.getLogger("we.service")
FOLLOW_FILE = "follow.json"
LEFT_FILE = "left.json"  # communities this node left: not followed again from its store
BLOCK_FILE = "blocked.json"  # member ids blocked by `we block`: kept across restarts
# Gossip ops that come within this many seconds of each other share a commit (``Store.linger``;
# the upkeep commits once they pause, a span at the latest when 10 s old). A records op
# touches ~10 pages of a grown store's b-trees, and each commit writes them all again: at
# 280,000 ops, 10 gossip ops a second wrote 168 KB an op committed one by one, 80 KB sharing
# commits (``python -m bench scale``). A crash loses at most that span's remote ops, which
# peers send again; the node's own ops still commit at once, the span first.
GOSSIP_LINGER = 1.0


class Subscription:
    """Events for one reader that is dropped when it falls ``size`` events behind."""

    def __init__(self, recv: trio.MemoryReceiveChannel):
        self.recv = recv
        self.overflowed = False


class Service:
    def __init__(
        self,
        identity: Any,
        store: Any,
        *,
        listen: tuple[str, ...] | list[str] = ("/ip4/127.0.0.1/tcp/0",),
        bootstrap: tuple[str, ...] | list[str] = (),
        data_dir: Path | None = None,
        network: bool = True,
        sync_interval: float = 10.0,
        gossip_rate: float = 8.0,
        idle_timeout: float = 15.0,
        mdns: bool = False,
        relay_service: bool = False,
    ):
        self.identity, self.store, self.data_dir = identity, store, data_dir
        self.relay_service = relay_service  # serve Circuit Relay v2 to members (opt-in)
        self.member_id: str = identity.member_id
        self.cert: Any = None  # this key's device certificate (set by Node), if it is one
        self.listen, self.network = list(listen), network
        self.sync_interval, self.gossip_rate = sync_interval, gossip_rate
        self.idle_timeout = idle_timeout
        self.mdns = mdns
        self.book = PeerBook(self.member_id)
        self.blacklisted: set[str] = set()  # banned peers pubsub drops; lifted when bans end
        self.cpu = CpuBudget()  # CPU each peer's input may cost this node
        self.lag = LoopLag()  # is this node itself starved? (its timeouts are then its own)
        self.excused = 0  # peer timeouts not blamed because this node was starved
        self._forks_seen: dict[tuple[bytes, bytes], int] = {}  # (community, author) -> seq
        self._fork_changes = 0  # the store's replica.fork_changes when we last looked
        self.book.blocked = self._load_blocked()
        for addr in bootstrap:
            self.book.add_addr(addr, pinned=True)
        self.left: set[bytes] = self._load_follow(LEFT_FILE)
        self.followed: set[bytes] = (set(store.communities()) - self.left) | self._load_follow()
        self.log = StoreLog(store, self._on_outcomes)
        self.syncer = Syncer(self)
        self.sync_records = self.syncer.records  # community -> peer -> last SyncRecord
        self.host: Any = None  # node.protocol.host.Host once running (imports libp2p)
        # node.identity.chainguard.ChainGuard: may this key sign now (set by ``Node.open``)
        self.guard: Any = None
        self.gossip: Any = None
        self.nursery: trio.Nursery | None = None
        self._subscribers: list[trio.MemorySendChannel] = []
        self._strict: dict[trio.MemorySendChannel, Subscription] = {}  # dropped when full
        self._pending_watch: dict[bytes, tuple[bytes, str]] = {}  # op id -> (community, kind)

    # ---- lifecycle ------------------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if not self.network:
            task_status.started()
            await trio.sleep_forever()
        from node.protocol.gossip import Gossip
        from node.protocol.host import Host

        self.host = Host(
            self.identity.libp2p_keypair(),
            listen=self.listen,
            on_bad_peer=self.report_bad_peer,
            enable_mdns=self.mdns,
            relay_service=self.relay_service,
            relay_allow=self.is_member,
        )
        # a banned or blocked peer is never dialled, by us or by py-libp2p on its own
        self.host.refuse = lambda peer: self.book.is_banned(peer, trio.current_time())
        async with self.host.run(), trio.open_nursery() as nursery:
            self.nursery = nursery
            self.gossip = Gossip(self.host, nursery, self._on_gossip, rate=self.gossip_rate)
            for c in sorted(self.followed):
                if self._gossip_ok(c):
                    await self.gossip.join(c)
            for protocol in PROTOCOLS:  # 2.1, and 2.0 for nodes from before it
                self.host.set_handler(protocol, self.syncer.serve)
            nursery.start_soon(self._connection_events)
            nursery.start_soon(self._watch_lag)
            nursery.start_soon(self._upkeep)
            nursery.start_soon(discovery.dialer, self)
            nursery.start_soon(self.syncer.periodic)
            nursery.start_soon(discovery.address_scan, self)
            nursery.start_soon(discovery.reachability, self)
            nursery.start_soon(discovery.community_rendezvous, self)
            if self.mdns:
                nursery.start_soon(discovery.mdns_scan, self)
            task_status.started()
            await trio.sleep_forever()

    # ---- events ---------------------------------------------------------------------------
    def subscribe(self, size: int = 4096) -> trio.MemoryReceiveChannel:
        """Every Event from now on; at most ``size`` unread, after which events are lost (the
        node never waits for a reader)."""
        send, recv = trio.open_memory_channel(size)
        self._subscribers.append(send)
        return recv

    def subscribe_or_drop(self, size: int) -> Subscription:
        """Like :meth:`subscribe`, for a reader that must not miss events silently: when
        ``size`` events are unread the subscription ends instead (its channel closes and
        ``overflowed`` is set), so a slow reader is dropped and can say so."""
        send, recv = trio.open_memory_channel(size)
        sub = Subscription(recv)
        self._subscribers.append(send)
        self._strict[send] = sub
        return sub

    def emit(self, event: Event) -> None:
        for ch in list(self._subscribers):
            try:
                ch.send_nowait(event)
            except trio.WouldBlock:  # a slow reader: never stall the node for it
                sub = self._strict.pop(ch, None)
                if sub is not None:
                    sub.overflowed = True
                    ch.close()
                    self._subscribers.remove(ch)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._subscribers.remove(ch)
                self._strict.pop(ch, None)

    def _on_outcomes(self, ops: list[Op], outs: list[Any]) -> None:
        applied = False
        for op, out in zip(ops, outs, strict=False):
            status = getattr(out, "status", "")
            if status in ("applied", "void", "rejected", "fork"):
                applied = True
                self.emit(Event("op", op.community_id, op.id, op.kind))
            elif status == "pending" and len(self._pending_watch) < 10_000:
                self._pending_watch[op.id] = (op.community_id, op.kind)
        if applied and self._pending_watch:
            self._released()
        self._new_forks()

    def peer_synced(self, community: bytes, peer: str) -> None:
        """A sync session with ``peer`` completed (either side started it): the store holds
        what the peer holds of the community, this member's own chain included."""
        if self.guard is not None:
            self.guard.peer_synced(community)
        self.emit(Event("synced", community, peer=peer))

    def _new_forks(self) -> None:
        """Fork proofs the store kept since last time, however they came (an op that
        completed one, a proof from a peer, a waiting op released by its parent): each one
        blames its author (two ops it signed; never whoever relayed them), and every peer
        is told at once."""
        replica = self.store.replica
        if replica.fork_changes == self._fork_changes:
            return
        self._fork_changes, forks, news = replica.fork_changes, replica.forks, set()
        for (community, author), forked in forks.items():
            if self._forks_seen.get((community, author)) != forked.seq:
                self._forks_seen[(community, author)] = forked.seq  # news when it falls
                news.add(community)
                # The author's ops from the fork seq on are void everywhere; that is the
                # whole penalty. Its node is not banned: an honest member who restored a
                # backup forks by accident, and a ban would keep it from ever learning so
                # (or recovering); what it sends costs its CPU budget like anyone's.
                self.emit(Event("fork", community, forked.latest.b.id, forked.latest.b.kind))
        if self.nursery is not None:
            for community in news:
                for peer in self.connected():
                    self.schedule_sync(community, peer)

    def _released(self) -> None:
        """Ops that waited in the pending area get applied when their parents arrive: the
        store reports only the op being ingested, so look the waiting ones up."""
        for oid, (community, kind) in list(self._pending_watch.items()):
            st = self.store.status(oid)
            if st is None or st[0] != "pending":
                del self._pending_watch[oid]
                if st is not None:
                    self.emit(Event("op", community, oid, kind))

    # ---- local writes ---------------------------------------------------------------------
    async def local_op(self, op: Op) -> None:
        c = op.community_id
        if c not in self.followed:
            await self.follow(c)
        self.emit(Event("op", c, op.id, op.kind))
        if self.gossip is not None and self._gossip_ok(c):
            if c not in self.gossip.topics:
                await self.gossip.join(c)
            self.gossip.publish(op)
        else:  # members-only: never on a public topic; push to member peers by sync at once
            for peer in self.connected():
                self.schedule_sync(c, peer)

    def _gossip_ok(self, community: bytes) -> bool:
        """Gossip topics are open to anyone, so members-only communities stay off them."""
        try:
            from node.crdt.records import queries

            charter = queries.charter(self.store.state, community) or {}
        except Exception:
            charter = {}
        return charter.get("visibility", "public") != "members"

    async def follow(self, community: bytes) -> None:
        if community in self.followed and (self.gossip is None or community in self.gossip.topics):
            return
        self.followed.add(community)
        self.left.discard(community)
        self._save_follow()
        if self.gossip is not None:
            if self._gossip_ok(community):
                await self.gossip.join(community)
            for peer in self.connected():
                self.schedule_sync(community, peer)

    def unfollow(self, community: bytes) -> bool:
        """Stop replicating a community (a failed join, or ``we community leave``): it is
        no longer synced, its gossip is ignored and status does not list it; the ops already
        stored stay (they are evidence), and :meth:`follow` takes it up again. True if it was
        followed."""
        was = community in self.followed
        self.followed.discard(community)
        self.left.add(community)
        self._save_follow()
        return was

    def _load_follow(self, name: str = FOLLOW_FILE) -> set[bytes]:
        if self.data_dir is None:
            return set()
        try:
            return {bytes.fromhex(x) for x in json.loads((self.data_dir / name).read_text())}
        except (OSError, ValueError, TypeError):
            return set()

    def _save_follow(self) -> None:
        if self.data_dir is not None:
            for name, items in ((FOLLOW_FILE, self.followed), (LEFT_FILE, self.left)):
                (self.data_dir / name).write_text(json.dumps(sorted(c.hex() for c in items)))

    # ---- peers ----------------------------------------------------------------------------
    def connected(self) -> list[str]:
        if self.host is None:
            return []
        now = trio.current_time()
        return [p for p in self.host.connected_peers() if not self.book.is_banned(p, now)]

    async def connect(self, addr: str) -> str:
        if self.host is None:
            raise RuntimeError("the network is off (Node.open(..., network=False))")
        self.book.add_addr(addr, pinned=True)
        peer = await self.host.connect(addr)
        return peer

    def is_member(self, peer: str) -> bool:
        """Is ``peer`` a member of a community this node follows? (who the relay serves)"""
        from node.crdt.records import queries
        from node.identity import pubkey_from_member_id

        try:
            key = pubkey_from_member_id(peer)
            return any(
                m["member"] == key and m["status"] == "member"
                for c in self.followed
                for m in queries.members(self.store.state, c)
            )
        except Exception:
            return False

    def report_bad_peer(self, peer: str, reason: str) -> None:
        if peer in ("?", self.member_id):
            return
        now = trio.current_time()
        if (is_weak(reason) or reason == "silent") and self.lag.starved(now, self.idle_timeout):
            self.excused += 1
            log.info("peer %s: %s while this node was starved, not blamed", peer, reason)
            return
        log.info("bad peer %s: %s", peer, reason)
        if self.book.penalize(peer, reason, now) and self.nursery is not None:
            self.nursery.start_soon(self._ban, peer)

    async def _upkeep(self) -> None:
        """Every second: commit what sync sessions wrote once it is due (``Store.batched``),
        and do the rebuilds the store put off (it spaces long ones out:
        ``store.REBUILD_PAUSE``) once they are due."""
        while True:
            await trio.sleep(1)
            self.store.commit_due()
            if self.store.rebuild_pending and self.store.settle_due():
                log.info("rebuilt the state of communities whose ops turned void")

    async def _watch_lag(self) -> None:
        while True:
            slept_at = trio.current_time()
            await trio.sleep(self.lag.tick)
            self.lag.woke(slept_at, trio.current_time())

    async def _ban(self, peer: str) -> None:
        from libp2p.peer.id import ID

        try:
            self.host.pubsub.add_to_blacklist(ID.from_base58(peer))
            self.blacklisted.add(peer)
        except Exception as exc:
            log.debug("blacklist %s: %r", peer, exc)
        await self.host.disconnect(peer)

    def lift_bans(self, now: float) -> None:
        """A ban ends: pubsub takes the peer back. py-libp2p's blacklist has no end, and it
        drops every gossip message the peer wrote, even one another peer forwards: without
        this, a peer banned once (four sync silences of a CPU-starved honest node suffice)
        reached this node by sync only, until a restart."""
        from libp2p.peer.id import ID

        for peer in [p for p in self.blacklisted if not self.book.is_banned(p, now)]:
            self.blacklisted.discard(peer)
            try:
                self.host.pubsub.remove_from_blacklist(ID.from_base58(peer))
            except Exception as exc:
                log.debug("unblacklist %s: %r", peer, exc)

    async def block(self, peer: str) -> None:
        """Cut this peer off until :meth:`unblock` (an administrative partition): no
        connection, no dial, no sync. Kept in the data dir, so a restart keeps it."""
        self.book.blocked.add(peer)
        self._save_blocked()
        if self.host is not None:
            await self.host.disconnect(peer)

    def unblock(self, peer: str) -> bool:
        """Let a blocked peer back; True if it was blocked."""
        was = peer in self.book.blocked
        self.book.blocked.discard(peer)
        self._save_blocked()
        return was

    def blocked(self) -> list[str]:
        return sorted(self.book.blocked)

    def _load_blocked(self) -> set[str]:
        if self.data_dir is None:
            return set()
        try:
            ids = json.loads((self.data_dir / BLOCK_FILE).read_text())
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            # Never start quietly unblocked: a damaged file is an error the user can fix.
            raise RuntimeError(
                f"{self.data_dir / BLOCK_FILE} is unreadable ({exc}): fix it (a JSON list of "
                "member ids) or delete it to unblock everyone"
            ) from exc
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise RuntimeError(f"{self.data_dir / BLOCK_FILE} must be a JSON list of member ids")
        return set(ids)

    def _save_blocked(self) -> None:
        if self.data_dir is not None:
            path = self.data_dir / BLOCK_FILE
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(sorted(self.book.blocked)))
            tmp.replace(path)  # atomic: a crash leaves the old list or the new one

    async def _connection_events(self) -> None:
        async for kind, peer in self.host.events:
            now = trio.current_time()
            p = self.book.get(peer)
            if kind == "connected":
                if self.book.is_banned(peer, now):
                    self.nursery.start_soon(self.host.disconnect, peer)
                    continue
                p.connected, p.last_seen = True, time.time()
                self.emit(Event("peer_connected", peer=peer))
                self.syncer.on_connected(peer)  # both sides; it dedupes and retries
            else:
                p.connected = peer in self.host.connected_peers()
                if not p.connected:
                    self.emit(Event("peer_disconnected", peer=peer))

    # ---- sync (node.service.syncing) ------------------------------------------------------
    def schedule_sync(self, community: bytes, peer: str) -> None:
        self.syncer.schedule(community, peer)

    async def sync_with(self, peer: str, community: bytes) -> SyncRecord | None:
        return await self.syncer.sync_with(peer, community)

    async def sync_now(self, community: bytes | None = None) -> list[dict]:
        return await self.syncer.sync_now(community)

    def charge(self, peer: str) -> Callable[[float], float]:
        """Charge ``peer`` for CPU spent on its input; answers how long its input should
        wait (``budget.CpuBudget``)."""

        def charge(seconds: float) -> float:
            now = trio.current_time()
            self.cpu.charge(peer, seconds, now)
            return self.cpu.debt(peer, now)

        return charge

    def _on_gossip(self, peer: str, ops: list[Op]) -> None:
        c = ops[0].community_id
        if c not in self.followed or self.book.is_banned(peer, trio.current_time()):
            return  # a blocked peer's message that came in before its connection was dropped
        if self.cpu.debt(peer, trio.current_time()) > 0:
            return  # over its CPU budget: gossip is lossy anyway, sync fetches these later
        spent = time.process_time()
        self.store.linger(GOSSIP_LINGER)
        outs = self.store.ingest(ops, verified=True)  # gossip checked the signatures
        self.charge(peer)(time.process_time() - spent)
        self._on_outcomes(ops, outs)
        if any(getattr(o, "status", "") == "pending" for o in outs):
            connected = self.connected()
            target = (
                peer if peer in connected else (random.choice(connected) if connected else None)
            )
            if target is not None:
                self.schedule_sync(c, target)

    # ---- status ---------------------------------------------------------------------------
    def member_key(self) -> bytes:
        """The member this node signs for: its certificate's (a device), or the one its key
        recovered (``recovery.claim``) in a community it follows, else its own key."""
        if self.cert is not None:
            return self.cert.member
        from node.crdt.records import member_of

        me = self.identity.public_key
        for c in sorted(self.followed):
            member = member_of(self.store.state, c, me)
            if member != me:
                return member
        return me

    def status(self) -> dict:
        return report.status(self)

    def peers(self) -> list[dict]:
        return report.peers(self)
