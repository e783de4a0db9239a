"""The embedding API: a whole node (identity, store, network) in your own trio program.

    async with Node.open(data_dir, insecure_plaintext=True) as node:
        cid = await node.create_community({"name": "Garden"})
        op = await node.publish(cid, "offer.create", {...})
        print(node.query("members", community=cid))
        async for event in node.events():
            ...

``data_dir`` holds ``identity.json`` (this node's key; created on first open, encrypted with
``passphrase`` or ``WE_PASSPHRASE`` unless ``insecure_plaintext``), ``store.db`` (SQLite) and,
for the daemon, ``control.sock``. The peer id on the network is the key's id. When the key is
a device of a member (``device.cert``, written by ``we key import``: ``specs/records.md``
§3.7), the node signs for that member: :attr:`Node.member_key`.

One process at a time: ``Node.open`` holds ``node.lock`` (an exclusive ``flock``) for as long
as the node is open, so an embedder cannot write a store that a running daemon (or a ``we``
command) holds; a second open raises :class:`DataDirBusy`. The lock goes with the process.
:func:`claim_data_dir` takes it early for a node about to open in this process.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import trio

try:
    import fcntl
except ImportError:  # not on Windows: no lock there
    fcntl = None  # type: ignore[assignment]

from node.crdt.op import Op
from node.crdt.replica import VOID
from node.identity import Identity
from node.identity.chainguard import ChainGuard
from node.identity.device import DeviceCert, load_cert
from node.service.control import run_query
from node.service.service import Event, Service
from node.service.standing import Voided, refuse_if_retired

KEY_FILE = "identity.json"
STORE_FILE = "store.db"
LOCK_FILE = "node.lock"

__all__ = ["DataDirBusy", "Event", "Node", "claim_data_dir"]


def _guard_for(data_dir: Path, public_key: bytes, store: Any) -> ChainGuard:
    def own_seq(community: bytes) -> int:
        # The replica's own head table (the store may replace its replica on a reload), not
        # ``heights``, which copies every author's head of the community on each write.
        head = store.replica.heads.get(community, {}).get(public_key)
        return head.seq if head is not None else 0

    return ChainGuard(data_dir, public_key, own_seq, store.communities)


class LockedIdentity:
    """This node's public identity without its secret key: a node opened with
    ``unlock=False`` reads (queries, status) without asking for the passphrase, and signs
    nothing until :meth:`Node.unlock` gives it the key."""

    def __init__(self, path: Path):
        from node.identity import member_id, read_public_key

        self.path = path
        self.public_key = read_public_key(path)
        self.member_id = member_id(self.public_key)

    @property
    def signing_key(self) -> Any:
        from node.identity import PassphraseUnavailableError

        raise PassphraseUnavailableError(
            self.path, "this node was opened read-only (no key): unlock it to sign"
        )

    def libp2p_keypair(self) -> Any:
        return self.signing_key


class DataDirBusy(Exception):
    """Another process (or another open ``Node``) holds this data dir."""

    reason = "data_dir_busy"

    def __init__(self, data_dir: Path):
        super().__init__(
            f"the data dir {data_dir} is in use by another process (a running `we daemon`?): "
            "stop it, or go through its control socket"
        )
        self.data_dir = data_dir


def lock_data_dir(data_dir: Path) -> int | None:
    """Take the data dir's exclusive lock or raise :class:`DataDirBusy`; returns the file
    descriptor to close (which releases it). Two processes on one data dir would each keep
    their own replica in memory and could sign two different ops at one seq (a self-fork)."""
    if fcntl is None:
        return None
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(data_dir) from None
    return fd


_claims: dict[Path, list] = {}  # data dir -> [lock fd, a Node is open on it]


@contextmanager
def claim_data_dir(data_dir: str | Path, wait: float = 0.0) -> Iterator[None]:
    """Hold ``data_dir`` for this process before its node opens (a daemon's launcher does,
    so that no other process slips in while it asks for a passphrase and starts up);
    ``Node.open`` inside the block uses the claim. Waits up to ``wait`` seconds for another
    process to let go, then raises :class:`DataDirBusy`."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = lock_data_dir(data_dir)
            break
        except DataDirBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    _claims[data_dir] = [fd, False]
    try:
        yield
    finally:
        del _claims[data_dir]
        if fd is not None:
            os.close(fd)


def _lock_for_node(data_dir: Path) -> tuple[int | None, list | None]:
    """(a lock of our own to release, or this process's claim to hand back)."""
    claim = _claims.get(data_dir.resolve())
    if claim is not None and not claim[1]:
        claim[1] = True
        return None, claim
    return lock_data_dir(data_dir), None


class Node:
    def __init__(self, data_dir: Path, identity: Identity, store: Any, service: Service):
        self.data_dir, self.identity, self.store, self.service = data_dir, identity, store, service
        self.web_url: str | None = None  # the web app's address while it runs
        # This key's certificate as a device of a member, if it is one.
        self.cert: DeviceCert | None = load_cert(data_dir)
        service.cert = self.cert

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        data_dir: str | Path,
        *,
        passphrase: str | bytes | None = None,
        insecure_plaintext: bool = False,
        listen: Iterable[str] = ("/ip4/127.0.0.1/tcp/0",),
        bootstrap: Iterable[str] = (),
        network: bool = True,
        sync_interval: float = 10.0,
        sync_idle_timeout: float = 15.0,
        mdns: bool = False,
        control_socket: bool = False,
        unlock: bool = True,
        relay_service: bool = False,
        web: Any = None,
    ) -> AsyncIterator[Node]:
        """Open (creating if needed) the node in ``data_dir`` and run it until the block ends.
        ``network=False``: no host at all (offline use; the store is still fully usable).
        ``mdns=True``: announce and discover peers on the LAN by multicast DNS.
        ``relay_service=True``: serve as a Circuit Relay v2 for members of the communities
        this node follows (for members behind NATs; limits in node/protocol/reach.py).
        ``control_socket=True``: also serve the JSON-RPC control API on ``control.sock``.
        ``web=WebConfig(...)`` (``node.service.web``): also serve the local web app; its
        address is ``node.web_url`` (log in with the link from ``web.login_url``).
        ``unlock=False`` (with ``network=False``, an existing key): read without the
        passphrase; the node signs only after :meth:`unlock`.
        Raises :class:`DataDirBusy` if another process (or node) has ``data_dir`` open."""
        from node.store import Store

        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        lock, claim = _lock_for_node(data_dir)  # before the key: its creation is guarded too
        try:
            key_path = data_dir / KEY_FILE
            if key_path.exists() and not unlock and not network:
                identity: Any = LockedIdentity(key_path)
            elif key_path.exists():
                identity = Identity.load(key_path, passphrase)
            else:
                identity = Identity.create(
                    key_path, passphrase, insecure_plaintext=insecure_plaintext
                )
            store = Store.open(data_dir / STORE_FILE)
            body_error: BaseException | None = None
            try:
                guard = _guard_for(data_dir, identity.public_key, store)
                service = Service(
                    identity,
                    store,
                    listen=tuple(listen),
                    bootstrap=tuple(bootstrap),
                    data_dir=data_dir,
                    network=network,
                    sync_interval=sync_interval,
                    idle_timeout=sync_idle_timeout,
                    mdns=mdns,
                    relay_service=relay_service,
                )
                service.guard = guard
                node = cls(data_dir, identity, store, service)
                async with trio.open_nursery() as nursery:
                    await nursery.start(service.run)
                    if control_socket:
                        from node.service.control import serve

                        await nursery.start(serve, node, data_dir)
                    if web is not None:
                        from node.service.web import serve as serve_web

                        node.web_url = await nursery.start(serve_web, node, data_dir, web)
                    try:
                        yield node
                    except BaseException as exc:  # re-raised below, not wrapped in a group
                        body_error = exc
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                store.close()
            if body_error is not None:
                raise body_error
        finally:  # after the store is closed: nobody writes it any more
            if lock is not None:
                os.close(lock)
            if claim is not None:
                claim[1] = False

    # ---- identity -------------------------------------------------------------------------
    @property
    def member_id(self) -> str:
        return self.identity.member_id

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    @property
    def member_key(self) -> bytes:
        """The member this node signs for: its own key, or the member whose device it is
        (a certificate, or a recovery it claimed)."""
        return self.service.member_key()

    @property
    def listen_addrs(self) -> list[str]:
        host = self.service.host
        return host.listen_addrs if host is not None else []

    @property
    def locked(self) -> bool:
        return isinstance(self.identity, LockedIdentity)

    def unlock(self, identity: Identity) -> None:
        """Give a node opened with ``unlock=False`` its key (``Identity.load`` of its own
        keystore); it signs from now on."""
        if identity.public_key != self.identity.public_key:
            raise ValueError("that is not this node's key")
        self.identity = self.service.identity = identity

    # ---- writing --------------------------------------------------------------------------
    @property
    def guard(self) -> ChainGuard:
        """The chain guard: whether this key may sign now (``node/identity/chainguard.py``)."""
        return self.service.guard

    def adopt_chain(self) -> None:
        """Accept the store's own chain as complete (``we key adopt``): after a restore of
        ops that were never sent anywhere, or a move whose old copy will never run again."""
        self.service.guard.adopt()

    async def create_community(self, charter: dict[str, Any]) -> bytes:
        """Create a community (you are its founder); returns its id."""
        op = self.store.create_community(self.identity.signing_key, charter)
        self.service.guard.signed(op.id, op.seq, op.id)
        await self.service.local_op(op)
        return op.id

    async def publish(
        self, community: bytes, kind: str, body: dict[str, Any], deps: Iterable[bytes] = ()
    ) -> Op:
        """Sign, store (durably) and gossip one op. Raises ``Rejected`` if its rules refuse
        it (nothing is stored then), and :class:`ChainGuardError` when signing now could
        fork this member's chain (a restored or copied data dir: see ``chainguard.py``).

        A device (``self.cert``) joins by its ``device.link`` (a ``member.join`` becomes it),
        and publishes it first wherever it has not signed yet.

        Raises ``KeyRetired`` (nothing signed) when this node already knows its key counts
        nowhere in the community (revoked, replaced by a recovery claim, removed), and
        ``Voided`` when the op was signed and stored but its own replica voids it (a fork
        of this key): either way, nothing it says happened (``node/service/standing.py``)."""
        # Only what this node has received: a revocation on its way here does not stop the
        # write; it goes out as before, and the nodes that know drop it.
        refuse_if_retired(self.store, community, self.identity.public_key)
        self.service.guard.check(community)
        if self.cert is not None and not self._signed_in(community):
            link = await self._append(community, "device.link", self.cert.body(), ())
            if kind == "member.join":
                return link
        return await self._append(community, kind, body, deps)

    def _signed_in(self, community: bytes) -> bool:
        return self.identity.public_key in self.store.replica.heads.get(community, {})

    async def _append(
        self, community: bytes, kind: str, body: dict[str, Any], deps: Iterable[bytes]
    ) -> Op:
        op, outcome = self.store.write(self.identity.signing_key, community, kind, body, deps)
        self.service.guard.signed(community, op.seq, op.id)  # before anyone can see it
        # A void op is sent too: it holds a place in this key's chain, and peers void it alike.
        await self.service.local_op(op)
        if outcome.status == VOID:
            raise Voided(op, outcome.reason)
        return op

    async def seal(self, community: bytes, proposal_id: bytes) -> list[Op]:
        """As a witness, seal a closed proposal naming every head this node holds (author ->
        highest seq): one ``seal.create`` op per part of at most 1500 heads, the last one
        final (``specs/governance.md`` §1.5). A seal's deps alone (at most 16) would leave
        most ballots of a large community uncovered, and the tally provisional. Raises
        ``Rejected`` (e.g. ``seal_early``, ``not_witness``, ``seal_twice``) before the
        first part is stored."""
        from node.governance import seal_bodies

        heads = {a: seq for a, (seq, _) in self.store.heights(community).items()}
        return [
            await self.publish(community, "seal.create", body, deps=[proposal_id])
            for body in seal_bodies(proposal_id, heads)
        ]

    async def follow(self, community: bytes) -> None:
        """Replicate a community this node does not hold yet (e.g. after an invitation)."""
        await self.service.follow(community)

    def unfollow(self, community: bytes) -> bool:
        """Stop replicating a community (see ``Service.unfollow``); True if it was followed."""
        return self.service.unfollow(community)

    # ---- network --------------------------------------------------------------------------
    async def connect(self, multiaddr: str) -> str:
        """Dial ``/ip4/.../tcp/N/p2p/<member id>``; returns the peer's member id. The address
        is remembered and redialled with backoff when the connection drops."""
        return await self.service.connect(multiaddr)

    async def sync_now(self, community: bytes | None = None) -> list[dict]:
        return await self.service.sync_now(community)

    async def block(self, member_id: str) -> None:
        await self.service.block(member_id)

    def unblock(self, member_id: str) -> bool:
        """Let a blocked peer back; True if it was blocked."""
        return self.service.unblock(member_id)

    def blocked(self) -> list[str]:
        """The member ids blocked on this node (kept in the data dir across restarts)."""
        return self.service.blocked()

    def status(self) -> dict:
        return self.service.status()

    def peers(self) -> list[dict]:
        return self.service.peers()

    # ---- reading --------------------------------------------------------------------------
    def query(self, view: str, **args: Any) -> Any:
        """A read-only view (a records view module's function, ``control.views``), with
        JSON-shaped results (bytes as hex) as the control API returns them."""
        return run_query(self.store, view, args)

    def events(self) -> AsyncIterator[Event]:
        """Every change from the moment of this call on: ops applied (local or remote), forks,
        peers, syncs. ``async for event in node.events(): ...``"""
        return _iterate(self.service.subscribe())


async def _iterate(recv: trio.MemoryReceiveChannel) -> AsyncIterator[Event]:
    async with recv:
        async for event in recv:
            yield event
