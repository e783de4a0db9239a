"""The sync protocol as a sans-IO state machine (``specs/sync.md``).

Bytes in (:meth:`SyncSession.receive_data`), bytes out (:meth:`SyncSession.data_to_send`);
no sockets, no clocks, no trio. The libp2p adapter (``node/protocol/syncnet.py``) only moves
bytes, so every rule here is tested by wiring two sessions together in memory. Reconciliation
is in ``reconcile.py``; what a session pushes is planned in ``plan.py`` (ops from
``outbox.py``); fetching by id in ``fetch.py``.

Shape of a session (one community, one stream):

    initiator                           responder
    SUMMARY(community, digest)   --->
    [RANGES: ITEMS, if we hold <= 8 entries: then round 1 below is a REPLY]
                                 <---   REFUSE(reason)                     no access
                                 <---   SAME END [WANT*] DONE               digests match
                                 <---   RANGES (round 1)                   otherwise
    RANGES (round 2)             --->                                      fingerprints of
                                 <---   RANGES (round 3) ...               the differing
                                                                           ranges, recursing
    a round without questions ends reconciliation; then both at once:
    [FORKS] OPS* END             <-->   [FORKS] OPS* END      planned pushes, ACK each OPS
    WANT(ids)                    <-->   WANT(ids)             ops that pending ops wait for
    GOT(runs)                    <-->   GOT(runs)             one run per wanted id
    DONE                         <-->   DONE                  "I will send no more WANT"

After reconciliation each side knows both sides' entries for the authors that differ, so each
side *pushes* what the other lacks. When in sync the whole exchange is SUMMARY, SAME+END+DONE,
END+DONE: one round trip, about 110 bytes, whatever the number of authors (an initiator with at
most 8 entries sends them along, so a small catch-up needs no second round trip). Ops are pushed in
causal order (merged across authors by lamport) in bounded batches; a side never has more than
``window`` unacknowledged batches in flight (backpressure). A sync that stops half way leaves a
consistent prefix of each author's chain behind, so the next sync resumes from the new heights.

END means "my planned pushes are done"; DONE means "I will send no more WANT" (sent once END
went both ways, our OPS are ACKed, our WANTs are answered and nothing more is missing that we
may ask for). A side answers WANTs until it has received DONE. The session is done when END
and DONE went both ways, every OPS is ACKed and every WANT answered.

Blame is for provable misbehaviour only: garbage, a bad signature, a broken chain, an op
outside what was announced or asked for, a message out of order. A limit (rounds, entries,
WANT budget) is a refusal with a reason, never blamed (:class:`SyncError` ``blame=False``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.crdt.chain import ForkProof
from node.crdt.op import Op, OpError

from . import wire
from .fetch import MAX_WANT_IDS, Fetcher
from .outbox import Outbox
from .plan import Inbound, LocalLog, local_entries, make_plan
from .reconcile import OPEN_ITEMS, Reconciler, frames_of
from .syncerror import SyncError
from .wire import (
    Ack,
    Done,
    End,
    Entry,
    Error,
    Forks,
    Got,
    Ops,
    Ranges,
    Refuse,
    Same,
    Summary,
    Want,
    WireError,
)

# Pushed ops are checked as each OPS frame comes (decoded, against the announced ranges) and
# ACKed at once, but held and ingested together once this many wait (and whenever the peer's
# pushes end): a catch-up's frames interleave every author's ops by lamport, ~10 of each per
# frame, and one ingest of several frames checks one signature per longer run (chain
# verification) and commits once.
HOLD_OPS = 2048

# Refusal reasons (stable codes).
NOT_MEMBER = "not_member"
UNKNOWN_COMMUNITY = "unknown_community"
BAD_VERSION = "bad_version"


# access(community, peer) -> None when the peer may sync this community, else a refusal reason.
Access = Callable[[bytes, bytes], str | None]


__all__ = [
    "BAD_VERSION",
    "NOT_MEMBER",
    "UNKNOWN_COMMUNITY",
    "Access",
    "LocalLog",
    "Stats",
    "SyncError",
    "SyncSession",
    "local_entries",
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
    rounds: int = 0  # reconciliation rounds received and sent
    differ: int = 0  # authors whose entries differed
    wants_out: int = 0  # ids asked for
    got_ops_in: int = 0  # ops received in GOT runs
    got_ops_out: int = 0
    ops_expected: int | None = None  # ops the peer's announced heights let it push to us
    outcomes: dict[str, int] = field(default_factory=dict)


class SyncSession:
    """One sync of one community with one peer. Create with ``community`` to initiate;
    ``compress`` on a ``/we/sync/2.1.0`` stream (``syncnet.session_on``): OPS batches then go
    as OPSZ when that is smaller, and the peer's may come so."""

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
        compress: bool = False,
    ):
        self.log, self.peer, self.community = log, peer, community
        self.compress = compress  # a 2.1 stream (wire.PROTOCOL_ID): OPS may go as OPSZ
        self.initiator = community is not None
        self.access = access or (lambda c, p: None)
        self.window = window
        self.batch_ops = min(batch_ops, wire.MAX_BATCH_OPS)
        self.batch_bytes = min(batch_bytes, wire.MAX_BATCH_BYTES)
        self.stats = Stats()
        self.refusal: str | None = None  # the reason when either side refused
        # new -> reconciling -> syncing -> done | refused | failed
        self.state = "new"
        self._reader = wire.FrameReader(compressed=compress)
        self._out = bytearray()
        self._rec: Reconciler | None = None
        self._mine: dict[bytes, Entry] = {}  # what we announced, by author
        self._outbox: Outbox | None = None
        self._inbound: Inbound | None = None  # what the peer may push (from the entries)
        self._proofs_out: list[bytes] = []
        # pushed ops checked but not ingested yet (``HOLD_OPS``): runs of one author each, and
        # where each author's latest run is in it
        self._held: list[list[Op]] = []
        self._held_at: dict[bytes, int] = {}
        self._held_ops = 0
        self._unacked = 0
        self._in_sync = False
        self._end_sent = self._peer_ended = False
        self._done_sent = self._peer_done = False
        self._fetch: Fetcher | None = None  # fetching by id, from the start of syncing
        self._skip_opening = False  # responder: SAME sent, the initiator's ITEMS round follows
        if self.initiator:
            self._open_log(community)
            entries = self._rec.entries
            self._send(Summary(community, self._rec.digest(), len(entries)))
            opening = self._rec.opened()  # our entries too, when we hold few
            for msg in frames_of(opening) if opening else ():
                self._send(msg)
            self.state = "reconciling"

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
            self._fail(exc.reason)
            raise

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer now (may be empty). At most one OPS batch a call, so
        that a writer sends it while the next is made: call again until it returns b""."""
        self._pump()
        out, self._out = bytes(self._out), bytearray()
        return out

    def abort(self, reason: str) -> bytes:
        """Give up locally (e.g. a timeout); returns a final ERROR frame to send."""
        self._fail(reason)
        return self.data_to_send()

    # ---- internals ------------------------------------------------------------------------
    def _send(self, msg: wire.Message) -> None:
        frame = wire.encode(msg, compress=self.compress)
        self._out += frame
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def _fail(self, reason: str) -> None:
        if not self.done:
            # the ops held so far were checked against what the peer announced: ingest them
            # (each run still chain-verified), so that the next sync resumes after them
            try:
                self._ingest_held()
            except SyncError:
                pass
            if reason:
                self._send(Error(reason[: wire.MAX_REASON]))
        self.state = "failed"

    def _open_log(self, community: bytes) -> None:
        entries = local_entries(self.log, community)
        self._rec = Reconciler(entries)
        self._mine = {e.author: e for e in entries}

    def _handle(self, msg: wire.Message) -> None:
        if isinstance(msg, Error):
            self.state = "failed"
            raise SyncError("peer_error", msg.reason, blame=False)
        if self.state == "new":
            if not isinstance(msg, Summary) or self.initiator:
                raise SyncError("unexpected", f"{type(msg).__name__} before SUMMARY")
            self._on_summary(msg)
        elif self.state == "reconciling":
            if isinstance(msg, Refuse) and self.initiator and self._rec.rounds == 0:
                self.refusal, self.state = msg.reason, "refused"
            elif isinstance(msg, Same) and self.initiator and self._rec.rounds == 0:
                self._start(in_sync=True)
            elif isinstance(msg, Ranges):
                self._on_ranges(msg)
            else:
                raise SyncError("unexpected", f"{type(msg).__name__} while reconciling")
        else:
            self._handle_syncing(msg)

    def _handle_syncing(self, msg: wire.Message) -> None:
        if isinstance(msg, Ranges) and self._skip_opening:
            self._skip_opening = msg.ranges[-1].hi != b""  # nothing to learn: we were the same
            return
        if isinstance(msg, Ops):
            if self._peer_ended:
                raise SyncError("unexpected", "OPS after END")
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
            self._ingest_held()  # no more pushes: what waits for them goes in now
        elif isinstance(msg, Want):
            if self._peer_done:
                raise SyncError("unexpected", "WANT after DONE")
            self._on_want(msg.ids)
        elif isinstance(msg, Got):
            self._on_got(msg.runs)
        elif isinstance(msg, Done):
            if self._peer_done or not self._peer_ended:
                raise SyncError("unexpected", "DONE twice or before END")
            self._peer_done = True
        else:
            raise SyncError("unexpected", f"{type(msg).__name__} while syncing")
        self._check_done()

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
        if summary.version != wire.VERSION:  # an answer, not a fault: versions may differ
            self.community, self.refusal, self.state = summary.community, BAD_VERSION, "refused"
            self._send(Refuse(BAD_VERSION))
            return
        if not self._admit(summary.community):
            return
        self._open_log(summary.community)
        self.state = "reconciling"
        opening = summary.authors <= OPEN_ITEMS  # the initiator's entries follow (ITEMS)
        if self._rec.digest() == summary.digest:
            self._send(Same())
            self._skip_opening = opening
            self._start(in_sync=True)
        elif opening:
            self._rec.await_opening()
        else:
            self._send_round(self._rec.first_round(summary.authors))

    def _on_ranges(self, msg: Ranges) -> None:
        answer = self._rec.receive(msg.ranges)
        if answer is None:
            return  # the round goes on in the next frame
        self.stats.rounds += 1
        if answer:
            self._send_round(answer)
        if self._rec.done:
            self._start(in_sync=False)

    def _send_round(self, round_: list[wire.Range]) -> None:
        self.stats.rounds += 1
        for msg in frames_of(round_):
            self._send(msg)

    def _start(self, *, in_sync: bool) -> None:
        rec = self._rec
        self._in_sync = in_sync
        mine = {a: self._mine[a] for a in rec.differ if a in self._mine}
        self.stats.differ = len(rec.differ)
        plan = make_plan(self.log, self.community, mine, rec.theirs)
        self._outbox, self._inbound, self._proofs_out = plan.outbox, plan.inbound, plan.proofs
        self.stats.ops_expected = plan.inbound.budget
        self._fetch = Fetcher(self.log, self.community, self._their_entry)
        self.state = "syncing"
        self._check_done()

    def _their_entry(self, author: bytes) -> Entry | None:
        """What the peer announced for ``author`` (equal to ours unless reconciled apart)."""
        if author in self._rec.differ:
            return self._rec.theirs.get(author)
        return self._mine.get(author)

    # ---- receiving ops --------------------------------------------------------------------
    def _ingest(self, runs: list[list[Op]]) -> None:
        """Ingest runs (one transaction when the log can), count outcomes, and tell the peer at
        once about forks they revealed (before the ACK or DONE that lets it finish)."""
        try:
            if hasattr(self.log, "ingest_ranges"):
                results = self.log.ingest_ranges(runs)
            else:
                results = [self.log.ingest_range(run) for run in runs]
        except OpError as exc:
            raise SyncError(exc.reason, exc.detail) from exc
        forked: set[bytes] = set()
        for run, outcomes in zip(runs, results, strict=True):
            for o in outcomes:
                status = getattr(o, "status", None)
                if status is None:  # a log that reports plain strings (not per op: str costs)
                    status = str(o)
                self.stats.outcomes[status] = self.stats.outcomes.get(status, 0) + 1
                if status == "invalid":
                    raise SyncError(getattr(o, "reason", "invalid") or "invalid", "op rejected")
                if status == "fork":
                    forked.add(run[0].author)
        self._fetch.look = True
        if forked:
            proofs = [
                p.encode() for p in self.log.fork_proofs(self.community) if p.author in forked
            ]
            for i in range(0, len(proofs), wire.MAX_PROOFS):
                self._send(Forks(tuple(proofs[i : i + wire.MAX_PROOFS])))

    def _on_ops(self, raws: Sequence[bytes]) -> None:
        self.stats.ops_in += len(raws)
        self.stats.op_bytes_in += sum(map(len, raws))
        for author, run in self._inbound.take(raws).items():
            at = self._held_at.get(author)
            if at is not None and run[0].prev == self._held[at][-1].id:
                self._held[at].extend(run)  # one chain: one signature for both
            else:  # (a gap, or a fork: ingested as its own run, as it came)
                self._held_at[author] = len(self._held)
                self._held.append(run)
        self._held_ops += len(raws)
        if self._held_ops >= HOLD_OPS or self._inbound.budget == 0:
            self._ingest_held()
        self._send(Ack(1))

    def _ingest_held(self) -> None:
        if self._held:
            held, self._held, self._held_at, self._held_ops = self._held, [], {}, 0
            self._ingest(held)

    def _on_forks(self, proofs: Sequence[bytes]) -> None:
        checked = []
        for data in proofs:
            try:
                proof = ForkProof.decode(data)
            except OpError as exc:
                raise SyncError(exc.reason, exc.detail) from exc
            if proof.community != self.community:
                raise SyncError("wrong_community", "fork proof of another community")
            checked.append(proof)
        if hasattr(self.log, "add_fork_proofs"):  # a FORKS frame in one store transaction
            self.log.add_fork_proofs(checked)
        else:
            for proof in checked:
                self.log.add_fork_proof(proof)
        self._fetch.look = True

    # ---- fetching by id ---------------------------------------------------------------------
    def _on_want(self, ids: Sequence[bytes]) -> None:
        fetch = self._fetch
        if fetch.ids_in + len(fetch.to_serve) + len(ids) > 4 * MAX_WANT_IDS:
            # past the budget ids get empty runs; this far past it, stop the session (a
            # limit, not blamed: another version may ask more)
            raise SyncError("limit_wants", "too many wanted ids in one session", blame=False)
        fetch.to_serve.extend(ids)

    def _on_got(self, runs: Sequence[Sequence[bytes]]) -> None:
        checked = self._fetch.take(runs)
        self.stats.got_ops_in += sum(map(len, checked))
        if checked:
            self._ingest(checked)

    def _serve_got(self) -> None:
        """Answer wanted ids, one GOT frame at a time while little output is queued (a WANT
        of 256 ids may need many frames; they are made as the writer drains)."""
        while len(self._out) < wire.MAX_FRAME:
            got = self._fetch.next_got()
            if got is None:
                return
            self.stats.got_ops_out += sum(map(len, got.runs))
            self._send(got)

    def _maybe_want(self) -> None:
        if self._done_sent:
            return
        want = self._fetch.want()
        if want is not None:
            self.stats.wants_out += len(want.ids)
            self._send(want)

    def _maybe_done(self) -> None:
        if (
            not self._done_sent
            and self._end_sent
            and (self._peer_ended or self._in_sync)
            and self._unacked == 0
            and self._fetch.settled()
        ):
            self._send(Done())
            self._done_sent = True

    # ---- sending --------------------------------------------------------------------------
    def _pump(self) -> None:
        if self.state != "syncing":
            return
        if self._proofs_out:
            for i in range(0, len(self._proofs_out), wire.MAX_PROOFS):
                self._send(Forks(tuple(self._proofs_out[i : i + wire.MAX_PROOFS])))
            self._proofs_out = []
        box = self._outbox
        # One OPS batch a call: the writer sends it while asking for the next (at the start
        # of a catch-up the peer then has its first ops a window's making sooner).
        if not box.empty() and self._unacked < self.window:
            batch = box.batch(self.batch_ops, self.batch_bytes)
            self._send(Ops(tuple(batch)))
            self._unacked += 1
            self.stats.ops_out += len(batch)
            self.stats.op_bytes_out += sum(map(len, batch))
        if box.empty() and not self._end_sent:
            self._send(End())
            self._end_sent = True
        self._serve_got()
        self._maybe_want()
        self._maybe_done()
        self._check_done()

    def _check_done(self) -> None:
        if (
            self.state == "syncing"
            and self._end_sent
            and self._peer_ended
            and self._done_sent
            and self._peer_done
            and self._unacked == 0
            and not self._fetch.wanted
            and not self._fetch.to_serve
            and self._outbox.empty()
        ):
            self.state = "done"
