"""Reachability behind home NATs, with py-libp2p 0.8.1's own parts (issue 14, specs/network.md):

- **AutoNAT** (``libp2p.host.autonat``): every host answers dial-back requests, and asks its
  connected peers whether it can be reached. py-libp2p's server dials back only the requester's
  observed IP and reuses an open connection, so in practice "public" means "the address I
  announce is the one peers see" (no address-translating NAT in between); behind a NAT the
  announced private address does not match and the verdict is "private".
- **Circuit Relay v2** (``libp2p.relay.circuit_v2``): every host accepts relayed connections
  (STOP) and can dial ``.../p2p-circuit/p2p/<peer>`` addresses. Serving as a relay (HOP) is
  opt-in, limited by :data:`RELAY_LIMITS` (reservations, circuits, bytes and time per circuit)
  and, by default, only for peers ``allow`` accepts (members of a community the node follows):
  any other peer's HOP stream is reset before py-libp2p reads it.
- an unreachable host **reserves** a slot on a relay and announces
  ``<relay address>/p2p-circuit/p2p/<itself>`` (:meth:`Reach.reserve`; ``Host.listen_addrs``
  and identify carry it, so join lines do too).
- **rendezvous** (``libp2p.discovery.rendezvous``): a host that serves relays also serves
  rendezvous, where members register under ``we/1/<community id hex>`` and newcomers who know
  only the community id find them (:func:`namespace`, specs/network.md).
- **DCUtR** (``libp2p.relay.circuit_v2.dcutr``): py-libp2p's auto-drive tries to upgrade each
  relayed connection to a direct one by hole punching; the relayed one stays when it fails.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import multiaddr
import trio
from libp2p.host.autonat.autonat import AutoNATService, AutoNATStatus
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_ID
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

log = logging.getLogger("we.reach")

RELAY_LIMITS = RelayLimits(
    duration=600,  # seconds a relayed connection may last (sync resumes on the next)
    data=64 * 1024 * 1024,  # bytes per relayed connection
    max_circuit_conns=16,  # relayed connections at once
    max_reservations=32,  # members holding a slot at once
    reservation_ttl=3600,  # refreshed by py-libp2p before it ends
)
STATUS = {AutoNATStatus.PUBLIC: "public", AutoNATStatus.PRIVATE: "private"}
RENDEZVOUS_TTL = 2 * 3600  # seconds a registration lives; renewed after half of it


def namespace(community: bytes) -> str:
    """The rendezvous namespace of a community (specs/network.md)."""
    return f"we/1/{community.hex()}"


def is_relayed(addr: str) -> bool:
    return "/p2p-circuit" in addr


class Reach:
    """The reachability parts of one :class:`~node.protocol.host.Host` (``host``)."""

    def __init__(
        self, host: Any, *, relay_service: bool = False, allow: Callable[[str], bool] | None = None
    ):
        self.host = host
        self.relay_service = relay_service
        self.allow = allow or (lambda peer: False)
        raw = host.host
        self.protocol = CircuitV2Protocol(raw, limits=RELAY_LIMITS, allow_hop=relay_service)
        roles = (
            RelayRole.STOP | RelayRole.CLIENT | (RelayRole.HOP if relay_service else RelayRole(0))
        )
        self.transport = CircuitV2Transport(
            raw, self.protocol, RelayConfig(roles=roles, limits=RELAY_LIMITS)
        )
        self.dcutr = DCUtRProtocol(raw)
        self.rendezvous = None
        if relay_service:  # a reachable member that serves relays serves discovery too
            from libp2p.discovery.rendezvous import RendezvousService

            self.rendezvous = RendezvousService(raw)
        # one verdict flips the status: a small community may have one reachable member
        self.autonat = AutoNATService(raw, serve=True, confirmations=1)
        self.relayed: list[str] = []  # our own relayed addresses, announced
        self.status = "unknown"
        self.refused: dict[str, int] = {}  # peer -> HOP streams refused (not members)
        self._nursery: trio.Nursery | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[Reach]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(background_trio_service(self.protocol))
            await self.protocol.event_started.wait()
            if self.relay_service:  # replace py-libp2p's HOP handler with the guarded one
                self.host.host.set_stream_handler(HOP_ID, self._guarded_hop)
            await stack.enter_async_context(background_trio_service(self.dcutr))
            self._guard_handlers()
            self._nursery = await stack.enter_async_context(trio.open_nursery())
            try:
                yield self
            finally:
                self._nursery.cancel_scope.cancel()

    def _guard_handlers(self) -> None:
        """An exception escaping a stream handler kills the host (node/protocol/host.py):
        py-libp2p's STOP, DCUtR, AutoNAT and rendezvous handlers are fenced like ours."""
        from libp2p.discovery.rendezvous.config import RENDEZVOUS_PROTOCOL
        from libp2p.host.autonat.autonat import AUTONAT_PROTOCOL_ID
        from libp2p.relay.circuit_v2.dcutr import PROTOCOL_ID as DCUTR_ID
        from libp2p.relay.circuit_v2.protocol import STOP_PROTOCOL_ID

        handlers = {
            STOP_PROTOCOL_ID: self.protocol._handle_stop_stream,
            DCUTR_ID: self.dcutr._handle_dcutr_stream,
            AUTONAT_PROTOCOL_ID: self.autonat.handle_stream,
        }
        if self.rendezvous is not None:
            handlers[RENDEZVOUS_PROTOCOL] = self.rendezvous._handle_stream
        for proto, handler in handlers.items():
            self.host.host.set_stream_handler(proto, _fenced(handler, str(proto)))

    async def _guarded_hop(self, stream: Any) -> None:
        try:
            peer = str(stream.muxed_conn.peer_id)
        except Exception:
            peer = "?"
        if not self.allow(peer):
            self.refused[peer] = self.refused.get(peer, 0) + 1
            if len(self.refused) > 1024:
                self.refused.clear()
            with trio.move_on_after(2):
                try:
                    await stream.reset()
                except Exception:
                    pass
            return
        try:
            await self.protocol._handle_hop_stream(stream)
        except Exception as exc:  # never into the host
            log.info("relay stream from %s failed: %r", peer, exc)

    # ---- client side ----------------------------------------------------------------------
    async def dial(self, addr: str) -> str:
        """Connect through the relay named in ``<relay>/p2p-circuit/p2p/<peer>``."""
        conn = await self.transport.dial(multiaddr.Multiaddr(addr))
        return str(conn.muxed_conn.peer_id)

    async def reserve(self, relay_addr: str) -> str | None:
        """Hold a slot on the relay at ``relay_addr`` (``/ip4/.../p2p/<relay>``, connected or
        not); returns our relayed address, which is announced from now on."""
        relay = relay_addr.rsplit("/p2p/", 1)[1]
        await self.host.connect(relay_addr)
        stream = await self.host.open_stream(relay, str(HOP_ID))
        assert self._nursery is not None
        try:
            ok = await self.transport.reserve(stream, ID.from_base58(relay), self._nursery)
        finally:
            with trio.move_on_after(2):
                try:
                    await stream.close()
                except Exception:
                    pass
        if not ok:
            return None
        addr = f"{relay_addr}/p2p-circuit/p2p/{self.host.peer_id}"
        if addr not in self.relayed:
            self.relayed.append(addr)
        return addr

    def forget_relay(self, relay: str) -> None:
        self.relayed = [a for a in self.relayed if f"/p2p/{relay}/p2p-circuit" not in a]

    async def check(self, peers: list[str]) -> str:
        """Ask ``peers`` (AutoNAT servers) whether we can be reached: public/private/unknown."""
        self.autonat.dial_results.clear()
        await self.autonat.check_reachability([ID.from_base58(p) for p in peers])
        self.status = STATUS.get(self.autonat.get_status(), "unknown")
        return self.status

    def _speaks(self, peer: str, protocol: str) -> bool:
        try:
            protos = self.host.host.get_peerstore().get_protocols(ID.from_base58(peer))
        except Exception:
            return False
        return protocol in [str(p) for p in protos or []]

    def is_relay(self, peer: str) -> bool:
        """Did ``peer`` tell us (identify) that it serves relays?"""
        return self._speaks(peer, str(HOP_ID))

    def serves_rendezvous(self, peer: str) -> bool:
        from libp2p.discovery.rendezvous.config import RENDEZVOUS_PROTOCOL

        return self._speaks(peer, str(RENDEZVOUS_PROTOCOL))

    async def register(self, server: str, community: bytes) -> None:
        """Register our announced addresses (relayed ones too) under the community's
        namespace at ``server``."""
        from libp2p.discovery.rendezvous import RendezvousClient
        from libp2p.discovery.rendezvous.messages import create_register_message

        addrs = [multiaddr.Multiaddr(a) for a in self.host.listen_addrs]
        msg = create_register_message(
            namespace(community), self.host.host.get_id(), addrs, RENDEZVOUS_TTL
        )
        client = RendezvousClient(self.host.host, ID.from_base58(server))
        reply = await client._send_message(msg)  # register() would drop the relayed addresses
        if reply is None or reply.registerResponse.status != 0:
            raise ConnectionError(f"rendezvous registration at {server} refused")

    async def discover(self, server: str, community: bytes, limit: int = 20) -> list[str]:
        """Addresses (``.../p2p/<member>``) registered under the community at ``server``."""
        from libp2p.discovery.rendezvous import RendezvousClient

        client = RendezvousClient(self.host.host, ID.from_base58(server))
        peers, _ = await client.discover(namespace(community), limit=limit)
        out = []
        for info in peers:
            for a in info.addrs[:8]:
                text = str(a)
                out.append(
                    text if text.endswith(f"/p2p/{info.peer_id}") else f"{text}/p2p/{info.peer_id}"
                )
        return out

    def direct(self, peer: str) -> bool:
        """Is there a direct (not relayed) connection to ``peer``?"""
        conns = self.host.host.get_network().connections.get(ID.from_base58(peer), [])
        for c in conns:
            try:
                addrs = [str(a) for a in c.get_transport_addresses()]
            except Exception:
                addrs = []
            if not c.is_closed and not any(is_relayed(a) for a in addrs):
                return True
        return False


def _fenced(handler: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    async def fenced(stream: Any) -> None:
        try:
            await handler(stream)
        except Exception as exc:  # logged, the stream reset; Cancelled still propagates
            log.info("%s stream failed: %r", name, exc)
            with trio.move_on_after(2):
                try:
                    await stream.reset()
                except Exception:
                    pass

    return fenced
