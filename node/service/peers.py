"""Peer book: scores, bans, known addresses and reconnect backoff. Plain data, no I/O.

Scores start at 0 and go down with misbehaviour; at or below ``BAN_SCORE`` a peer is
disconnected and banned for ``BAN_SECONDS`` (its connections are dropped on sight, its
streams refused). Honest network trouble (a reset stream, a dead connection) costs nothing.
As in GossipSub v1.1 peer scoring, a score decays back toward 0 (half-life
``SCORE_HALF_LIFE``, computed lazily from the time of the last change: no timers), and the
evidence is weighed: provable misbehaviour (garbage, a bad signature, a broken chain) bans at
once; a stream the peer opened and never wrote a byte to (``silent``: it holds our slots) costs
a quarter of the way; a session that went quiet half way (``timeout``) is weak evidence, since a
CPU-starved honest peer does it too: timeouts alone never take a score below ``WEAK_FLOOR``, so
they never ban (issue 14: four timeouts of slow honest peers banned them for 10 minutes, the
whole heal delay of a 50-node swarm).

The book is bounded (:meth:`PeerBook.prune`, run by the dialer): a peer that is neither
connected, configured, banned nor scored down is forgotten once it goes (nothing to remember about it); past
``MAX_PEERS`` the least bad disconnected peers go first, then the oldest bans. A learned address
that failed ``MAX_DIAL_FAILURES`` times in a row is dropped; configured ones (``pinned``) stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.protocol.addrs import dialable

BAN_SCORE = -100
BAN_SECONDS = 600.0
SCORE_HALF_LIFE = 120.0  # seconds: a -100 ban score is back to -3 when the ban ends
PENALTY = {
    "invalid": 100,  # forged signature, broken chain, malformed frame: disconnect at once
    "silent": 30,  # opened a stream and never wrote a byte: holds our slot (4 in a minute ban)
    "flood": 20,  # over its gossip budget
    "timeout": 10,  # a session went quiet half way (or our stream was never answered)
    "other": 10,
}
WEAK = {"timeout"}  # what honest slowness does too: never bans on its own
WEAK_FLOOR = -50
BACKOFF_MIN, BACKOFF_MAX = 0.5, 60.0
MAX_PEERS = 1024
MAX_DIALS = 512
MAX_DIAL_FAILURES = 10  # ~8 minutes of backoff: a member's old address is gone


def is_weak(reason: str) -> bool:
    """Evidence an honest but slow peer gives too (see ``WEAK_FLOOR``)."""
    return reason != "silent" and "timeout" in reason


def penalty_for(reason: str) -> int:
    """Provable misbehaviour (garbage, a bad signature, a broken chain, an op outside what was
    announced) bans at once; a limit or a version mismatch is never blamed: the sync session
    reports those with ``blame=False`` and they do not reach here."""
    if reason == "silent":
        return PENALTY["silent"]
    if "timeout" in reason:
        return PENALTY["timeout"]
    if "flood" in reason:
        return PENALTY["flood"]
    if reason.startswith("gossip_") or reason in BLAME_INVALID or "SyncError" in reason:
        return PENALTY["invalid"]
    if "DecodeError" in reason or "malformed" in reason:
        return PENALTY["invalid"]
    return PENALTY["other"]


BLAME_INVALID = {
    "bad_signature",
    "chain_broken",
    "malformed",
    "not_canonical",
    "frame_too_large",
    "empty_frame",
    "unknown_message",
    "bad_message",
    "unexpected",
    "unexpected_op",
    "bad_range",  # a reconciliation range that answers nothing we asked
    "wrong_community",
    "too_large",
    "after_end",
}


@dataclass
class Peer:
    member_id: str
    score: float = 0.0  # as of ``scored_at``: read it through PeerBook.score (it decays)
    scored_at: float = 0.0
    banned_until: float = 0.0
    connected: bool = False
    last_seen: float | None = None
    rtt_ms: int | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class Dial:
    addr: str
    member_id: str
    next_try: float = 0.0
    backoff: float = BACKOFF_MIN
    failures: int = 0
    pinned: bool = False  # configured (bootstrap, an explicit connect): never dropped


class PeerBook:
    def __init__(self, me: str):
        self.me = me
        self.peers: dict[str, Peer] = {}
        self.dials: dict[str, Dial] = {}  # addr -> dial state
        self.blocked: set[str] = set()  # administratively cut (tests: partitions)

    def get(self, member_id: str) -> Peer:
        p = self.peers.get(member_id)
        if p is None:
            p = self.peers[member_id] = Peer(member_id)
        return p

    def score(self, member_id: str, now: float) -> float:
        """The peer's score now (0 for an unknown peer)."""
        p = self.peers.get(member_id)
        if p is None:
            return 0.0
        self._decay(p, now)
        return p.score

    @staticmethod
    def _decay(p: Peer, now: float) -> None:
        if p.score and now > p.scored_at:
            p.score *= 0.5 ** ((now - p.scored_at) / SCORE_HALF_LIFE)
            if p.score > -1.0:
                p.score = 0.0  # forgiven: the book may forget the peer
        p.scored_at = max(p.scored_at, now)

    def penalize(self, member_id: str, reason: str, now: float) -> bool:
        """Score the peer down; True when it must be disconnected and banned now."""
        p = self.get(member_id)
        self._decay(p, now)
        cost = penalty_for(reason)
        if is_weak(reason):
            p.score = min(p.score, max(p.score - cost, WEAK_FLOOR))
        else:
            p.score -= cost
        p.reasons = (p.reasons + [reason])[-10:]
        if p.score <= BAN_SCORE and p.banned_until <= now:
            p.banned_until = now + BAN_SECONDS
            return True
        return False

    def is_banned(self, member_id: str, now: float) -> bool:
        if member_id in self.blocked:
            return True
        p = self.peers.get(member_id)
        return p is not None and p.banned_until > now

    def add_addr(self, addr: str, pinned: bool = False) -> None:
        if "/p2p/" not in addr or not dialable(addr):
            return
        member = addr.rsplit("/p2p/", 1)[1]
        if member == self.me:
            return
        if addr in self.dials:
            self.dials[addr].pinned |= pinned
            return
        if len(self.dials) >= MAX_DIALS and not self._evict_dial():
            return
        self.dials[addr] = Dial(addr, member, pinned=pinned)

    def _evict_dial(self) -> bool:
        """Make room for one address: the learned one that failed most goes."""
        learned = [d for d in self.dials.values() if not d.pinned]
        if not learned:
            return False
        worst = max(learned, key=lambda d: (d.failures, d.next_try))
        del self.dials[worst.addr]
        return True

    def prune(self, now: float, connected: set[str]) -> None:
        for addr, d in list(self.dials.items()):
            if not d.pinned and d.failures >= MAX_DIAL_FAILURES:
                del self.dials[addr]
        pinned = {d.member_id for d in self.dials.values() if d.pinned}
        keep = {}
        for m, p in self.peers.items():
            self._decay(p, now)
            if m in connected or m in pinned or p.banned_until > now or p.score < 0:
                keep[m] = p
        if len(keep) > MAX_PEERS:
            # least bad disconnected first, then the bans that end soonest; connected stay
            order = sorted(
                (p for p in keep.values() if p.member_id not in connected),
                key=lambda p: (
                    p.banned_until > now,
                    -p.score if p.banned_until <= now else 0,
                    p.banned_until,
                ),
            )
            for p in order[: len(keep) - MAX_PEERS]:
                del keep[p.member_id]
        self.peers = keep

    def due(self, now: float, connected: set[str]) -> list[Dial]:
        out = []
        for d in self.dials.values():
            if d.member_id in connected or self.is_banned(d.member_id, now):
                continue
            if d.next_try <= now:
                out.append(d)
        return out

    def dial_failed(self, d: Dial, now: float) -> None:
        d.failures += 1
        d.next_try = now + d.backoff
        d.backoff = min(d.backoff * 2, BACKOFF_MAX)

    def dial_ok(self, d: Dial) -> None:
        d.failures, d.backoff, d.next_try = 0, BACKOFF_MIN, 0.0
