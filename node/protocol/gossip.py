"""Gossip of fresh ops: one GossipSub topic per community, batched and paced publishes.

Message payload: canonical CBOR array of encoded ops (1..MAX_GOSSIP_OPS, <= MAX_GOSSIP_BYTES),
all of the topic's community. Gossip is best effort; sync is what guarantees convergence.

- Publishing never blocks the caller: ops go into a per-topic queue; a pacer task sends at most
  ``rate`` messages per second per topic, each carrying everything queued since the last one.
- The topic validator never raises (an exception there kills the host) and rejects any message
  that is not a well-formed batch of validly signed ops of this community, and any message from
  a forwarder over its per-second budget (flooders), reporting the forwarder as a bad peer.
- Each subscription is drained by its own task straight into ``deliver``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import cbor2
import trio

from node.crdt.op import Op, OpError, canonical, decode_op

from .host import Host

log = logging.getLogger("we.gossip")
MAX_GOSSIP_OPS = 256  # accepted per message
PUBLISH_BATCH_OPS = 64  # what we put in one message: bulk belongs on sync streams
MAX_GOSSIP_BYTES = 512 * 1024
DEFAULT_RATE = 8.0  # messages per second per topic (GossipSub forwards 10/s by default)
PEER_BUDGET = 50  # messages per second a single forwarder may send us per topic
PEER_OP_BUDGET = 1500  # ops per second a single forwarder may send us per topic


def topic_of(community: bytes) -> str:
    return f"/we/c/{community.hex()}"


def encode_batch(raws: list[bytes]) -> bytes:
    return canonical(list(raws))


def decode_batch(data: bytes, community: bytes, *, verify: bool = True) -> list[Op]:
    """Strictly decode a gossip payload. Raises OpError."""
    if len(data) > MAX_GOSSIP_BYTES:
        raise OpError("too_large", "gossip message too large")
    try:
        items = cbor2.loads(data)
    except Exception as exc:
        raise OpError("malformed", "gossip payload is not CBOR") from exc
    if type(items) is not list or not 0 < len(items) <= MAX_GOSSIP_OPS:
        raise OpError("malformed", "gossip payload must be a non-empty array of ops")
    if not all(type(x) is bytes for x in items) or canonical(items) != data:
        raise OpError("malformed", "gossip payload must be canonical")
    ops = [decode_op(x, verify=verify) for x in items]
    if any(op.community_id != community for op in ops):
        raise OpError("wrong_community", "op of another community on this topic")
    return ops


# deliver(forwarder peer id, ops): the service ingests them. The ops are authentic: their
# signatures were checked here (by the validator, or on delivery when it did not run).
Deliver = Callable[[str, list[Op]], None]
# Messages that passed the validator wait here, decoded and verified, until their subscription
# is drained, so each op is decoded and its signature checked once, not twice.
VALIDATED_CACHE = 256


class Gossip:
    def __init__(
        self,
        host: Host,
        nursery: trio.Nursery,
        deliver: Deliver,
        *,
        rate: float = DEFAULT_RATE,
        peer_budget: int = PEER_BUDGET,
    ):
        self.host, self.nursery, self.deliver = host, nursery, deliver
        self.rate, self.peer_budget = rate, peer_budget
        self.topics: dict[bytes, str] = {}
        self._queues: dict[str, deque[bytes]] = {}
        self._wake: dict[str, trio.Event] = {}
        self._budget: dict[tuple[str, str], list[float]] = {}  # (topic, peer) -> [window, n]
        self._validated: OrderedDict[bytes, list[Op]] = OrderedDict()
        self.published = 0
        self.rejected = 0
        self.received = 0

    async def join(self, community: bytes) -> None:
        topic = topic_of(community)
        if topic in self._queues:
            return
        self.topics[community] = topic
        self._queues[topic] = deque()
        self._wake[topic] = trio.Event()
        self.host.pubsub.set_topic_validator(topic, self._validator(community, topic), False)
        sub = await self.host.pubsub.subscribe(topic)
        self.nursery.start_soon(self._drain, community, sub)
        self.nursery.start_soon(self._pace, topic)

    def publish(self, op: Op) -> None:
        topic = self.topics.get(op.community_id)
        if topic is None:
            return
        self._queues[topic].append(op.raw)
        self._wake[topic].set()

    def _validator(self, community: bytes, topic: str) -> Callable[[Any, Any], bool]:
        me = self.host.peer_id

        def validate(forwarder: Any, msg: Any) -> bool:
            self.received += 1
            try:
                peer = str(forwarder)
                n_ops = _count_ops(msg.data)
                if peer != me and not self._within_budget(topic, peer, n_ops):
                    self.rejected += 1
                    self.host.on_bad_peer_hook(peer, "gossip_flood")
                    return False
                self._validated[msg.data] = decode_batch(msg.data, community, verify=True)
                if len(self._validated) > VALIDATED_CACHE:
                    self._validated.popitem(last=False)
                return True
            except OpError as exc:
                self.rejected += 1
                if str(forwarder) != me:
                    self.host.on_bad_peer_hook(str(forwarder), f"gossip_{exc.reason}")
                return False
            except Exception as exc:  # never raise into pubsub: that kills the host
                log.info("gossip validator error: %r", exc)
                self.rejected += 1
                return False

        return validate

    def _within_budget(self, topic: str, peer: str, n_ops: int) -> bool:
        """At most ``peer_budget`` messages and PEER_OP_BUDGET ops per second per forwarder
        (checked before any signature is verified, so a flood costs us little)."""
        now = trio.current_time()
        slot = self._budget.setdefault((topic, peer), [now, 0, 0])
        if now - slot[0] >= 1.0:
            slot[0], slot[1], slot[2] = now, 0, 0
        slot[1] += 1
        slot[2] += n_ops
        return slot[1] <= self.peer_budget and slot[2] <= PEER_OP_BUDGET

    async def _drain(self, community: bytes, sub: Any) -> None:
        while True:
            msg = await sub.get()
            try:
                ops = self._validated.pop(msg.data, None)
                if ops is None:  # not seen by our validator (or evicted): check it now
                    ops = decode_batch(msg.data, community, verify=True)
                self.deliver(str(msg.from_id and _peer_of(msg.from_id)), ops)
            except Exception as exc:
                log.info("gossip delivery failed: %r", exc)

    async def _pace(self, topic: str) -> None:
        queue = self._queues[topic]
        while True:
            await self._wake[topic].wait()
            self._wake[topic] = trio.Event()
            while queue:
                batch: list[bytes] = []
                size = 0
                while queue and len(batch) < PUBLISH_BATCH_OPS:
                    if batch and size + len(queue[0]) > MAX_GOSSIP_BYTES - 16:
                        break
                    size += len(queue[0])
                    batch.append(queue.popleft())
                try:
                    await self.host.pubsub.publish(topic, encode_batch(batch))
                    self.published += 1
                except Exception as exc:  # gossip is best effort; sync will carry the ops
                    log.info("gossip publish failed: %r", exc)
                await trio.sleep(1 / self.rate)


def _count_ops(data: bytes) -> int:
    """How many ops a payload claims to carry (cheap: reads only the CBOR array header)."""
    if not data:
        return 0
    major, info = data[0] >> 5, data[0] & 0x1F
    if major != 4:
        return 1
    if info < 24:
        return info
    if info == 24 and len(data) > 1:
        return data[1]
    if info == 25 and len(data) > 2:
        return int.from_bytes(data[1:3], "big")
    return MAX_GOSSIP_OPS + 1  # larger than any valid batch


def _peer_of(from_id: bytes) -> str:
    try:
        from libp2p.peer.id import ID

        return str(ID(from_id))
    except Exception:
        return "?"
