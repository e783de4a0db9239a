"""The sync protocol as a sans-IO state machine (``specs/sync.md``).

Bytes in (:meth:`SyncSession.receive_data`), bytes out (:meth:`SyncSession.data_to_send`);
no sockets, no clocks, no trio. The libp2p adapter (``node/protocol/syncnet.py``) only moves
bytes, so every rule here is tested by wiring two sessions together in memory. What a
session moves is planned in ``node/protocol/plan.py``; the ops pushed come from ``outbox.py``.

Shape of a session (one community, one stream):

    initiator                         responder
    HELLO(community, heights)  --->
                               <---   HELLO(heights) | REFUSE(reason)
  or, with many authors (>= summary_min_authors):
    SUMMARY(community, digest) --->
                               <---   SAME (+END)             when the digests match
                               <---   HELLO(heights)          otherwise, and then
    HELLO(heights)             --->
    [FORKS] OPS* END           <-->   [FORKS] OPS* END      (both directions at once)
    ACK after each OPS batch   <-->   ACK

After the two HELLOs each side knows both height maps, so each side *pushes* what the other
lacks: no want-list round trip. When nothing is missing the whole exchange is HELLO, HELLO+END,
END (or SUMMARY, SAME+END, END): one round trip and a few hundred bytes at most. Ops are pushed in causal order (merged across
authors by lamport) in bounded batches; a side never has more than ``window`` unacknowledged
batches in flight (backpressure). A sync that stops half way leaves a consistent prefix of each
author's chain behind, so the next sync resumes from the new heights.

The receiver knows from the HELLOs exactly which (author, seq) ranges the peer may send; any op
outside them, any malformed frame or op, a broken chain or a bad signature is a
:class:`SyncError` with ``blame=True`` (the adapter scores the peer down and disconnects).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.crdt.chain import ForkProof
from node.crdt.op import OpError

from . import wire
from .outbox import Outbox
from .plan import Inbound, LocalLog, local_hello, make_plan
from .syncerror import SyncError
from .wire import Ack, End, Error, Forks, Hello, Ops, Refuse, Same, Summary, WireError

# Refusal reasons (stable codes).
NOT_MEMBER = "not_member"
UNKNOWN_COMMUNITY = "unknown_community"


# access(community, peer) -> None when the peer may sync this community, else a refusal reason.
Access = Callable[[bytes, bytes], str | None]


__all__ = [
    "NOT_MEMBER",
    "UNKNOWN_COMMUNITY",
    "Access",
    "LocalLog",
    "Stats",
    "SyncError",
    "SyncSession",
    "local_hello",
]


@dataclass
class Stats:
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    ops_in: int = 0
    ops_out: int = 0
    op_bytes_in: int = 0
    op_bytes_out: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class SyncSession:
    """One sync of one community with one peer. Create with ``community`` to initiate."""

    def __init__(
        self,
        log: LocalLog,
        *,
        peer: bytes = b"",
        community: bytes | None = None,
        access: Access | None = None,
        window: int = 4,
        batch_ops: int = 512,
        batch_bytes: int = 512 * 1024,
        summary_min_authors: int = 4,
    ):
        self.log, self.peer, self.community = log, peer, community
        self.initiator = community is not None
        self.access = access or (lambda c, p: None)
        self.window = window
        self.batch_ops = min(batch_ops, wire.MAX_BATCH_OPS)
        self.batch_bytes = min(batch_bytes, wire.MAX_BATCH_BYTES)
        self.stats = Stats()
        self.refusal: str | None = None  # the reason when either side refused
        self.state = "new"  # new -> await_hello -> syncing -> done | refused | failed
        self._reader = wire.FrameReader()
        self._out = bytearray()
        self._outbox: Outbox | None = None
        self._proofs_out: list[bytes] = []
        self._unacked = 0
        self._end_sent = self._peer_ended = False
        self._inbound: Inbound | None = None  # what the peer may push (from the HELLOs)
        self._my_hello: Hello | None = None  # what we announced: both plans are built from it
        self._sent_summary = False
        if self.initiator:
            self._my_hello = local_hello(log, community)
            if len(self._my_hello.heights) >= summary_min_authors:
                digest = wire.digest_of(self._my_hello)
                self._send(Summary(community, digest, len(self._my_hello.heights)))
                self._sent_summary = True
            else:
                self._send(self._my_hello)
        self.state = "await_hello"

    # ---- public, sans-IO surface ---------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.state in ("done", "refused", "failed")

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer. Raises :class:`SyncError` on a protocol violation."""
        if self.done:
            if data:
                raise SyncError("after_end", "data after the session ended")
            return
        self.stats.bytes_in += len(data)
        try:
            for msg in self._reader.feed(data):
                self.stats.frames_in += 1
                self._handle(msg)
                if self.done:
                    break
        except WireError as exc:
            self._fail(exc.reason)
            raise SyncError(exc.reason, exc.detail) from exc
        except SyncError as exc:
            self._fail(exc.reason if exc.blame else "")
            raise

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer now (may be empty)."""
        self._pump()
        out, self._out = bytes(self._out), bytearray()
        return out

    def abort(self, reason: str) -> bytes:
        """Give up locally (e.g. a timeout); returns a final ERROR frame to send."""
        self._fail(reason)
        return self.data_to_send()

    # ---- internals ------------------------------------------------------------------------
    def _send(self, msg: wire.Message) -> None:
        frame = wire.encode(msg)
        self._out += frame
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def _fail(self, reason: str) -> None:
        if not self.done and reason:
            self._send(Error(reason[: wire.MAX_REASON]))
        self.state = "failed"

    def _handle(self, msg: wire.Message) -> None:
        if isinstance(msg, Error):
            self.state = "failed"
            raise SyncError("peer_error", msg.reason, blame=False)
        if self.state == "await_hello":
            if isinstance(msg, Refuse) and self.initiator:
                self.refusal, self.state = msg.reason, "refused"
                return
            if isinstance(msg, Summary) and not self.initiator and self.community is None:
                self._on_summary(msg)
                return
            if isinstance(msg, Same) and self.initiator and self._sent_summary:
                self._start(self._my_hello, self._my_hello)  # identical: nothing to move
                return
            if not isinstance(msg, Hello):
                raise SyncError("unexpected", f"{type(msg).__name__} before HELLO")
            self._on_hello(msg)
            return
        if isinstance(msg, Ops):
            self._on_ops(msg.ops)
        elif isinstance(msg, Ack):
            if msg.batches > self._unacked:
                raise SyncError("unexpected", "ACK for batches never sent")
            self._unacked -= msg.batches
        elif isinstance(msg, Forks):
            self._on_forks(msg.proofs)
        elif isinstance(msg, End):
            if self._peer_ended:
                raise SyncError("unexpected", "second END")
            self._peer_ended = True
        else:
            raise SyncError("unexpected", f"{type(msg).__name__} while syncing")
        self._check_done()

    def _check_version(self, version: int) -> None:
        if version != wire.VERSION:
            raise SyncError("bad_version", f"version {version}", blame=False)

    def _admit(self, community: bytes) -> bool:
        """Responder: take the community from the first message and check access."""
        self.community = community
        reason = self.access(community, self.peer)
        if reason is not None:
            self.refusal, self.state = reason, "refused"
            self._send(Refuse(reason))
            return False
        return True

    def _on_summary(self, summary: Summary) -> None:
        self._check_version(summary.version)
        if not self._admit(summary.community):
            return
        self._my_hello = local_hello(self.log, summary.community)
        if wire.digest_of(self._my_hello) == summary.digest:
            self._send(Same())
            self._start(self._my_hello, self._my_hello)
        else:  # differ: show ours, wait for the initiator's full HELLO
            self._send(self._my_hello)

    def _on_hello(self, hello: Hello) -> None:
        self._check_version(hello.version)
        if self.initiator or self._my_hello is not None:
            if hello.community != self.community:
                raise SyncError("wrong_community", "HELLO names another community")
            if self.initiator and self._sent_summary:
                self._send(self._my_hello)  # the full HELLO the summary stood for
            mine = self._my_hello  # not the current heights: the peer planned against these
        else:
            if not self._admit(hello.community):
                return
            mine = self._my_hello = local_hello(self.log, hello.community)
            self._send(mine)
        self._start(mine, hello)

    def _start(self, mine: Hello, theirs: Hello) -> None:
        self._plan(mine, theirs)
        self.state = "syncing"
        self._check_done()

    def _plan(self, mine: Hello, theirs: Hello) -> None:
        plan = make_plan(self.log, self.community, mine, theirs)
        self._outbox, self._inbound, self._proofs_out = plan.outbox, plan.inbound, plan.proofs

    def _on_ops(self, raws: Sequence[bytes]) -> None:
        if self._peer_ended:
            raise SyncError("unexpected", "OPS after END")
        self.stats.ops_in += len(raws)
        runs = self._inbound.take(raws)
        self.stats.op_bytes_in += sum(map(len, raws))
        forked: set[bytes] = set()
        try:
            if hasattr(self.log, "ingest_ranges"):
                results = self.log.ingest_ranges(list(runs.values()))
            else:
                results = [self.log.ingest_range(run) for run in runs.values()]
        except OpError as exc:
            raise SyncError(exc.reason, exc.detail) from exc
        for author, outcomes in zip(runs, results, strict=True):
            for o in outcomes:
                status = getattr(o, "status", str(o))
                self.stats.outcomes[status] = self.stats.outcomes.get(status, 0) + 1
                if status == "invalid":
                    raise SyncError(getattr(o, "reason", "invalid") or "invalid", "op rejected")
                if status == "fork":
                    forked.add(author)
        if forked:  # tell the peer at once, before the ACK that lets it finish
            proofs = [
                p.encode() for p in self.log.fork_proofs(self.community) if p.author in forked
            ]
            if proofs:
                self._send(Forks(tuple(proofs[: wire.MAX_PROOFS])))
        self._send(Ack(1))

    def _on_forks(self, proofs: Sequence[bytes]) -> None:
        for data in proofs:
            try:
                proof = ForkProof.decode(data)
            except OpError as exc:
                raise SyncError(exc.reason, exc.detail) from exc
            if proof.community != self.community:
                raise SyncError("wrong_community", "fork proof of another community")
            self.log.add_fork_proof(proof)

    def _pump(self) -> None:
        if self.state != "syncing":
            return
        if self._proofs_out:
            for i in range(0, len(self._proofs_out), wire.MAX_PROOFS):
                self._send(Forks(tuple(self._proofs_out[i : i + wire.MAX_PROOFS])))
            self._proofs_out = []
        box = self._outbox
        while box is not None and not box.empty() and self._unacked < self.window:
            batch = box.batch(self.batch_ops, self.batch_bytes)
            self._send(Ops(tuple(batch)))
            self._unacked += 1
            self.stats.ops_out += len(batch)
            self.stats.op_bytes_out += sum(map(len, batch))
        if box is not None and box.empty() and not self._end_sent:
            self._send(End())
            self._end_sent = True
        self._check_done()

    def _check_done(self) -> None:
        if (
            self.state == "syncing"
            and self._end_sent
            and self._peer_ended
            and self._unacked == 0
            and not self._out_pending_ops()
        ):
            self.state = "done"

    def _out_pending_ops(self) -> bool:
        return self._outbox is not None and not self._outbox.empty()
