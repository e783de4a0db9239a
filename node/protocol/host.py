"""A guarded py-libp2p host: TCP + Noise + Yamux, GossipSub, our stream protocols.

Everything py-libp2p does that can take the whole host down is fenced here, so the service
layer above can treat peers as untrusted:

- an exception escaping a stream handler kills the host: every handler we register, and the
  pubsub stream handler (which lets protobuf ``DecodeError`` out on 4 garbage bytes), is wrapped
  in :func:`_guard`, which logs, resets the stream and reports the peer as misbehaving;
- a topic validator that raises kills the host: validators are wrapped to return False instead;
- ``new_stream`` can block forever (257th stream on a connection): it has a timeout;
- a disconnect cancelled half way leaves a dead connection that looks open: it is shielded;
- a silent partition is noticed only after minutes: :meth:`Host.ping` has a timeout;
- GossipSub drops messages beyond 10/s per topic per forwarder: spam protection is off and
  :class:`~node.protocol.gossip.Gossip` paces and batches publishes itself;
- the security options are pinned to Noise (py-libp2p also offers plaintext by default), or to
  plaintext only when the caller explicitly asks for it (tests, demos);
- the swarm's inbound limiter hands a slot back only when the swarm stops, so the 251st inbound
  connection ever made is refused: :func:`_churn_proof_inbound` returns it when the connection
  closes (issue 14);
- py-libp2p's AutoConnector dials every peer in the peerstore (anyone identify or a
  rendezvous reply mentioned, banned and blocked peers too) while the node has fewer than 100
  connections, i.e. always, up to 32 at a time, again on every disconnect: in a 20-node swarm
  every node soon dialled every other and stream negotiations timed out. It is switched off;
  whom to dial is the peer book's decision (bounded, with backoff and bans:
  ``node/service/discovery.py``);
- py-libp2p still dials on its own elsewhere (a stream opened to an unconnected peer, DCUtR's
  punch): every outgoing dial asks :attr:`Host.refuse` first, so a peer the node banned or
  blocked (``we block``) stays disconnected (:func:`_refusing_dials`);
- a stream goes on the connection with the most streams, so after a peer restarts the old
  connection, dead but not yet noticed, wins over the new one (a sync on reconnect waited for
  a stream timeout): :func:`_newest_first` picks the newest direct connection (issue 14).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IMuxedConn, INetStream, INotifee
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import ID as PING_ID
from libp2p.host.ping import perform_ping_roundtrip
from libp2p.network.connection.raw_connection import RawConnection
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service

from .addrs import dialable, is_wildcard

log = logging.getLogger("we.host")
GOSSIP_PROTOCOLS = [TProtocol("/meshsub/1.1.0"), TProtocol("/meshsub/1.0.0")]
STREAM_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0


def quiet_libp2p() -> None:
    """py-libp2p logs a lot at INFO/WARNING (every dropped message, every failed dial)."""
    for name in list(logging.root.manager.loggerDict) + ["libp2p", "multiaddr", "async_service"]:
        if name.startswith(("libp2p", "multiaddr", "async_service")):
            logging.getLogger(name).setLevel(logging.ERROR)


# on_bad_peer(peer_id, reason): the service scores the peer down.
BadPeer = Callable[[str, str], None]
Handler = Callable[[INetStream, str], Awaitable[None]]


def _guard(handler: Handler, on_bad_peer: BadPeer | None, name: str) -> Any:
    async def guarded(stream: INetStream) -> None:
        try:
            peer = str(stream.muxed_conn.peer_id)
        except Exception:
            peer = "?"
        try:
            await handler(stream, peer)
        except Exception as exc:  # nothing may escape into the host (Cancelled still does)
            log.info("%s stream from %s failed: %r", name, peer, exc)
            if on_bad_peer is not None and not _is_disconnect(exc):
                on_bad_peer(peer, f"{name}: {type(exc).__name__}")
            with trio.move_on_after(1):
                try:
                    await stream.reset()
                except Exception:
                    pass

    return guarded


def _is_disconnect(exc: BaseException) -> bool:
    """Plain connection loss is not misbehaviour."""
    names = {type(e).__name__ for e in _leaves(exc)}
    return bool(names) and names <= {
        "StreamEOF",
        "StreamReset",
        "StreamClosed",
        "MuxedStreamEOF",
        "MuxedStreamReset",
        "MuxedStreamClosed",
        "MuxedConnUnavailable",
        "RawConnError",
        "ConnectionResetError",
        "BrokenPipeError",
        "ClosedResourceError",
        "BrokenResourceError",
        "IncompleteReadError",
        "TooSlowError",
    }


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


class _Notifee(INotifee):
    def __init__(self, send: trio.MemorySendChannel):
        self._send = send

    def _put(self, kind: str, conn: Any) -> None:
        try:
            self._send.send_nowait((kind, str(conn.muxed_conn.peer_id)))
        except Exception:  # full or closed: connection events are hints, never required
            pass

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def connected(self, network: Any, conn: Any) -> None:
        self._put("connected", conn)

    async def disconnected(self, network: Any, conn: Any) -> None:
        self._put("disconnected", conn)

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass


def _churn_proof_inbound(swarm: Any) -> None:
    """Replace py-libp2p 0.8.1's ``Swarm._handle_inbound_connection`` on this swarm instance.

    The original takes a slot of ``swarm._inbound_limiter`` (max_connections - min_connections
    = 250) for each inbound connection and keeps its handler task, and so the slot, until the
    *swarm* stops (``await self.manager.wait_finished()``, because trio's ``serve_listeners``
    closes the socket when the handler returns). After 250 inbound connections in total, however
    many have closed since, every new one is refused: a bootstrap node goes deaf. Here the
    handler waits for *its own* connection to close instead, then returns the slot. The limiter
    still caps live inbound connections (and handshakes in flight) at 250. Only the TCP path
    (raw socket -> Noise -> Yamux) is replaced; an already multiplexed connection (QUIC) keeps
    the original handler. The listener looks the method up on the instance at each accept
    (``self._handle_inbound_connection``), so an instance attribute is enough; site-packages
    stays untouched. Test: tests/test_net_churn.py.
    """
    original = swarm._handle_inbound_connection
    limiter: trio.CapacityLimiter = swarm._inbound_limiter

    async def handle_inbound(read_write_closer: Any, maddr: Any) -> None:
        if isinstance(read_write_closer, IMuxedConn):
            await original(read_write_closer, maddr)
            return
        try:
            limiter.acquire_nowait()
        except trio.WouldBlock:  # 250 live inbound connections: refuse this one
            with trio.move_on_after(1):
                try:
                    await read_write_closer.close()
                except Exception:
                    pass
            return
        try:
            remote = swarm._build_remote_multiaddr(read_write_closer)
            if remote is not None and not await swarm.connection_gate.is_allowed(remote):
                await read_write_closer.close()
                return
            raw = RawConnection(read_write_closer, False)
            try:
                muxed = await swarm.upgrade_inbound_raw_conn(raw, maddr)
            except Exception as exc:  # a failed handshake: the upgrader closed the socket
                log.debug("inbound upgrade on %s failed: %r", maddr, exc)
                return
            await _wait_closed(swarm, muxed)
        finally:
            limiter.release()

    swarm._handle_inbound_connection = handle_inbound


def _no_auto_connect(swarm: Any) -> None:
    """py-libp2p's AutoConnector (see the module docstring) does nothing: its periodic task
    and the swarm's on-disconnect trigger both call ``maybe_connect``, looked up on the
    instance."""

    async def maybe_connect() -> None:
        return None

    swarm.auto_connector.maybe_connect = maybe_connect


def _newest_first(swarm: Any) -> None:
    """Replace the swarm's choice of connection for a new stream (``_select_connection``,
    looked up on the instance): direct before relayed, then the newest. py-libp2p's default
    (go-libp2p's ``isBetterConn``) prefers the connection with more open streams, which after
    a peer restarts is the old one, dead but not yet noticed (a NAT dropped it, or its close
    has not arrived): the new stream then waits for its timeout. If the stream cannot be
    opened on the chosen one, py-libp2p still tries the others."""
    from libp2p.connection_types import ConnectionType

    def select(connections: list[Any], peer_id: Any) -> Any:
        if not connections:
            raise ValueError("No connections available")
        order = {id(c): i for i, c in enumerate(swarm.connections.get(peer_id, []))}

        def key(pair: tuple[int, Any]) -> tuple[bool, int, int]:
            i, conn = pair
            try:
                direct = conn.get_connection_type() == ConnectionType.DIRECT
            except Exception:
                direct = True
            return (direct, order.get(id(conn), -1), i)

        return max(enumerate(connections), key=key)[1]

    swarm._select_connection = select


class DialRefused(ConnectionError):
    pass


def _refusing_dials(swarm: Any, refuse: Callable[[str], bool]) -> None:
    """Every way py-libp2p dials a peer (``dial_peer``: the AutoConnector, ``new_stream``,
    ``host.connect``; ``dial_addr``/``dial_addr_as_responder``: DCUtR's punch) asks ``refuse``
    first. Without this the AutoConnector redials a blocked peer from the peerstore once its
    60 s disconnect backoff ends, and the service can only drop the connection after it is made
    (in the meantime gossip flows). Instance attributes, as in :func:`_churn_proof_inbound`."""

    def check(peer_id: Any) -> None:
        if refuse(str(peer_id)):
            raise DialRefused(f"{peer_id} is blocked or banned here; unblock it first")

    dial_peer = swarm.dial_peer

    async def refusing_dial_peer(peer_id: Any) -> Any:
        check(peer_id)
        return await dial_peer(peer_id)

    swarm.dial_peer = refusing_dial_peer
    for name in ("dial_addr", "dial_addr_as_responder"):
        original = getattr(swarm, name, None)
        if original is None:
            continue

        def wrap(original: Any) -> Any:
            async def refusing(addr: Any, peer_id: Any, *args: Any, **kw: Any) -> Any:
                check(peer_id)
                return await original(addr, peer_id, *args, **kw)

            return refusing

        setattr(swarm, name, wrap(original))


async def _wait_closed(swarm: Any, muxed: Any) -> None:
    """Until the swarm connection around ``muxed`` closes (or the muxer shuts down)."""
    conn = next(
        (c for c in swarm.connections.get(muxed.peer_id, []) if c.muxed_conn is muxed), None
    )
    events = [e for e in (getattr(conn, "event_closed", None),) if e is not None]
    events += [
        e
        for e in (getattr(muxed, "event_closed", None), getattr(muxed, "event_shutting_down", None))
        if isinstance(e, trio.Event)
    ]
    if not events:
        return
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)


def _announceable(candidates: list[Any]) -> list[Any]:
    """What identify (and :attr:`Host.listen_addrs`) tells others: a wildcard listen address
    becomes this machine's interface addresses (py-libp2p's own expansion); nothing
    undialable is announced (``node/protocol/addrs.py``)."""
    from libp2p.utils.address_validation import expand_wildcard_address

    out: list[Any] = []
    for a in candidates:
        for b in expand_wildcard_address(a) if is_wildcard(str(a)) else [a]:
            if dialable(str(b)) and str(b) not in {str(x) for x in out}:
                out.append(b)
    return out


class Host:
    """One libp2p host. Use ``async with Host(...).run() as host:``."""

    def __init__(
        self,
        keypair: Any,
        *,
        listen: tuple[str, ...] | list[str] = ("/ip4/127.0.0.1/tcp/0",),
        insecure_plaintext: bool = False,
        on_bad_peer: BadPeer | None = None,
        enable_mdns: bool = False,
        relay_service: bool = False,
        relay_allow: Callable[[str], bool] | None = None,
    ):
        quiet_libp2p()
        self.keypair = keypair
        self._listen = [multiaddr.Multiaddr(a) for a in listen]
        self.on_bad_peer = on_bad_peer
        if insecure_plaintext:
            sec = {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(keypair)}
        else:
            noise_key = create_new_x25519_key_pair().private_key
            sec = {NOISE_ID: NoiseTransport(keypair, noise_privkey=noise_key)}
        self.host = new_host(
            key_pair=keypair,
            sec_opt=sec,
            muxer_preference="YAMUX",
            enable_mDNS=enable_mdns,
            addrs_factory=_announceable,
        )
        self.gossipsub = GossipSub(
            protocols=GOSSIP_PROTOCOLS,
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=1,
            spam_protection_enabled=False,
            eclipse_protection_enabled=False,
            adaptive_gossip_enabled=False,
        )
        _churn_proof_inbound(self.host.get_network())
        # refuse(peer id) -> True: never dial that peer (banned, blocked); set by the service
        self.refuse: Callable[[str], bool] = lambda peer: False
        self.refused_dials = 0
        _refusing_dials(self.host.get_network(), self._refused)
        _newest_first(self.host.get_network())
        _no_auto_connect(self.host.get_network())
        from .reach import Reach  # AutoNAT, Circuit Relay v2, DCUtR (node/protocol/reach.py)

        self.reach = Reach(self, relay_service=relay_service, allow=relay_allow)
        self.pubsub = Pubsub(self.host, self.gossipsub, strict_signing=True)
        self._guard_pubsub()
        self.events_send, self.events = trio.open_memory_channel(1024)
        self.host.get_network().register_notifee(_Notifee(self.events_send))

    def _refused(self, peer: str) -> bool:
        if self.refuse(peer):
            self.refused_dials += 1
            return True
        return False

    # ---- lifecycle ------------------------------------------------------------------------
    @asynccontextmanager
    async def run(self) -> AsyncIterator[Host]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.host.run(listen_addrs=self._listen))
            stack.callback(self._stop_seen_cache)
            await stack.enter_async_context(background_trio_service(self.pubsub))
            await stack.enter_async_context(background_trio_service(self.gossipsub))
            await self.pubsub.wait_until_ready()
            await stack.enter_async_context(self.reach.run())
            yield self

    def _stop_seen_cache(self) -> None:
        try:
            self.pubsub.seen_messages.stop()  # its sweeper thread outlives the host otherwise
        except Exception:
            pass

    def _guard_pubsub(self) -> None:
        """Pubsub.stream_handler lets protobuf DecodeError (4 garbage bytes) escape, and
        Pubsub._teardown_if_connected (run on blacklisting) raises KeyError when the peer's
        stream went away meanwhile; both kill the host, so both are replaced."""
        inner = self.pubsub.stream_handler
        pubsub = self.pubsub

        async def teardown(peer_id: Any) -> None:
            stream = pubsub.peers.pop(peer_id, None)
            if stream is not None:
                with trio.move_on_after(2):
                    try:
                        await stream.reset()
                    except Exception:
                        pass
            try:
                pubsub._forget_all_subscriptions(peer_id)
            except Exception:
                pass

        pubsub._teardown_if_connected = teardown

        async def handler(stream: INetStream, peer: str) -> None:
            try:
                await inner(stream)
            except BaseException:
                try:
                    pubsub._handle_dead_peer(stream.muxed_conn.peer_id)
                except Exception:
                    pass
                raise

        guarded = _guard(handler, self.on_bad_peer_hook, "gossip")
        for proto in self.gossipsub.get_protocols():
            self.host.set_stream_handler(proto, guarded)

    def on_bad_peer_hook(self, peer: str, reason: str) -> None:
        if self.on_bad_peer is not None:
            self.on_bad_peer(peer, reason)

    # ---- identity and addresses -----------------------------------------------------------
    @property
    def peer_id(self) -> str:
        return str(self.host.get_id())

    @property
    def listen_addrs(self) -> list[str]:
        """Full dialable addresses including ``/p2p/<peer id>``: direct ones, then relayed
        ones (``<relay>/p2p-circuit/p2p/<us>``) once a relay holds a slot for us. py-libp2p's
        identify cannot carry the relayed ones (its address pipeline strips the relay's
        ``/p2p/`` and what follows), so they travel in join lines and profiles."""
        return [str(a) for a in self.host.get_addrs()] + list(self.reach.relayed)

    def connected_peers(self) -> list[str]:
        return [str(p) for p in self.host.get_connected_peers()]

    def inbound(self) -> tuple[int, int, int]:
        """(inbound slots in use, slots in all, live inbound connections): the first equals
        the last once handshakes settle, whatever number of connections came and went."""
        from libp2p.rcmgr import Direction

        network = self.host.get_network()
        limiter = network._inbound_limiter
        live = sum(
            1
            for conns in network.connections.values()
            for c in conns
            if getattr(c, "direction", None) == Direction.INBOUND and not c.is_closed
        )
        return int(limiter.borrowed_tokens), int(limiter.total_tokens), live

    # ---- connections and streams ----------------------------------------------------------
    async def connect(self, addr: str, timeout: float = CONNECT_TIMEOUT) -> str:
        if not dialable(addr):
            raise ValueError(
                f"cannot dial {addr}: a wildcard (0.0.0.0, ::) is a listen address; "
                "use the address the other node announces (its join line or `we status`)"
            )
        if "/p2p-circuit" in addr:
            with trio.fail_after(timeout):
                return await self.reach.dial(addr)
        info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        # An explicit dial is of *this* address. py-libp2p would otherwise refuse it for a while
        # because other addresses of the peer failed (its "negative cache"), and it dials only
        # one stored address per transport, so a stale one would shadow the right one: a join
        # line whose first address is unreachable could never succeed through its second.
        network = self.host.get_network()
        if not network.get_connections(info.peer_id):
            if hasattr(network, "unblock_peer"):
                network.unblock_peer(info.peer_id)
            self.host.get_peerstore().clear_addrs(info.peer_id)
        with trio.fail_after(timeout):
            await self.host.connect(info)
        return str(info.peer_id)

    async def disconnect(self, peer: str) -> None:
        # Shielded (and bounded): a disconnect cancelled half way leaves py-libp2p's swarm
        # holding a dead connection it believes is open, so the peer cannot be reached again.
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            try:
                await self.host.disconnect(ID.from_base58(peer))
            except Exception as exc:
                log.debug("disconnect %s: %r", peer, exc)

    def set_handler(self, protocol: str, handler: Handler) -> None:
        """Register a stream handler that can never take the host down."""
        self.host.set_stream_handler(
            TProtocol(protocol), _guard(handler, self.on_bad_peer_hook, protocol)
        )

    async def open_stream(
        self, peer: str, protocol: str | Sequence[str], timeout: float = STREAM_TIMEOUT
    ) -> INetStream:
        """A stream to ``peer`` speaking ``protocol``, or the first of several the peer
        supports (the stream's ``get_protocol()`` says which)."""
        offered = [protocol] if isinstance(protocol, str) else list(protocol)
        with trio.fail_after(timeout):
            return await self.host.new_stream(ID.from_base58(peer), [TProtocol(p) for p in offered])

    async def ping(self, peer: str, timeout: float = 5.0) -> int | None:
        """Round-trip time in ms, or None when the peer does not answer in time."""
        with trio.move_on_after(timeout):
            try:
                stream = await self.open_stream(peer, str(PING_ID), timeout)
                try:
                    return await perform_ping_roundtrip(stream)
                finally:
                    with trio.move_on_after(1):
                        await stream.close()
            except Exception as exc:
                log.debug("ping %s failed: %r", peer, exc)
        return None
