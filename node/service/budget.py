"""Per-peer CPU budgets: how much of this node's processor one peer's input may use.

Every op, proof or request a peer sends costs CPU here (decoding, signatures, rules), and a
hostile peer can choose the costliest inputs. Each peer has a token bucket of CPU seconds:
it refills at ``rate`` seconds per second up to ``burst``, and the service charges it the
process time spent on that peer's input. A peer in debt is not punished (honest peers sending
a big catch-up hit it too): its input waits (sync reads pause until the debt is repaid) or is
dropped where the protocol is lossy anyway (gossip; sync fetches it later). So no peer gets
more than ``rate`` of a core for long, whatever it sends. Plain data, no I/O: the clock is
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CpuBudget:
    rate: float = 0.5  # CPU seconds per second a peer may use in the long run
    burst: float = 5.0  # what a quiet peer may spend at once (a large catch-up, say)
    _buckets: dict[str, list[float]] = field(default_factory=dict)  # peer -> [tokens, at]

    def _bucket(self, peer: str, now: float) -> list[float]:
        b = self._buckets.get(peer)
        if b is None:
            b = self._buckets[peer] = [self.burst, now]
        else:
            b[0] = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
        return b

    def charge(self, peer: str, seconds: float, now: float) -> None:
        self._bucket(peer, now)[0] -= seconds

    def debt(self, peer: str, now: float) -> float:
        """How long (seconds of wall time) the peer's input should wait: 0 when in budget."""
        tokens = self._bucket(peer, now)[0]
        return 0.0 if tokens >= 0 else -tokens / self.rate

    def forget(self, peer: str) -> None:
        self._buckets.pop(peer, None)


@dataclass
class LoopLag:
    """How late this node's own event loop runs. A sleeper task wakes every ``tick`` seconds
    and reports here (:meth:`woke`); waking ``threshold`` seconds late or more means the node is
    starved (its process shares the CPU with too much). A peer's timeout seen meanwhile says
    nothing about the peer: we may not have read what it sent in time. Plain data: the clock is
    passed in."""

    tick: float = 0.5
    threshold: float = 1.0
    last_tick: float | None = None  # when the sleeper last woke
    last_late: float = float("-inf")  # when it last woke late

    def woke(self, slept_at: float, now: float) -> None:
        if now - slept_at - self.tick >= self.threshold:
            self.last_late = now
        self.last_tick = now

    def starved(self, now: float, window: float) -> bool:
        """Was the loop late within the last ``window`` seconds, or is it late now (the
        sleeper is overdue: it has not run yet after the stall that fired this timeout)?"""
        overdue = self.last_tick is not None and now - self.last_tick >= self.tick + self.threshold
        return overdue or now - self.last_late <= window
