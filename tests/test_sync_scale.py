"""Sync at any size: range-based reconciliation of height entries (``specs/sync.md``).

The defect this guards against: 10,001 one-op authors made HELLO exceed the wire's author
limit, both sides failed with ``bad_message`` and banned each other. Now there is no author
limit an honest community can reach; the in-sync check is one round trip and ~100 bytes at
100,000 authors; a few differences cost a few kilobytes.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.protocol import reconcile, wire
from node.protocol.memlog import MemoryLog
from node.protocol.reconcile import Reconciler, frames_of
from node.protocol.sync import SyncError, SyncSession
from node.service.peers import PENALTY, penalty_for
from tests.factory import chain, first_op, genesis, key
from tests.sync_helpers import half_trips, run_pair

G = genesis(key(0))
C = G.id


class BulkLog(MemoryLog):
    """A MemoryLog plus many authors that both sides hold alike (heights only).

    Signing 100,000 real one-op authors costs ~40 s on the 2-core test box, and the ops of
    authors whose entries match never travel: the session only reads their heights. Ops of
    the authors that differ are real, signed and checked."""

    def __init__(self, bulk: dict[bytes, tuple[int, bytes]]):
        super().__init__()
        self.bulk = bulk

    def heights(self, community):
        out = super().heights(community)
        if community == C:
            out.update(self.bulk)
        return out


def bulk(n: int, seed: int = 7) -> dict[bytes, tuple[int, bytes]]:
    rng = random.Random(seed)
    return {rng.randbytes(32): (1, rng.randbytes(32)) for _ in range(n)}


BULK = bulk(100_000)


def test_100k_authors_in_sync_is_one_round_trip_and_tiny():
    a, b = BulkLog(BULK), BulkLog(BULK)
    a.add([G]), b.add([G])
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    flights = half_trips(sa, sb)
    assert flights == 3  # SUMMARY; SAME+END+DONE; END+DONE (the initiator waits one trip)
    total = sa.stats.bytes_out + sb.stats.bytes_out
    assert total < 120, total
    assert sa.state == sb.state == "done"


def _few_apart(n_bulk: int):
    """Two logs sharing ``n_bulk`` authors, each with a few real authors the other lacks,
    and one shared real author that is ahead on one side."""
    shared = bulk(n_bulk, seed=n_bulk)
    a, b = BulkLog(shared), BulkLog(shared)
    both = chain(key(1), G, 10, deps=[G])
    only_a = [op for i in (2, 3, 4) for op in chain(key(i), G, 3, deps=[G])]
    only_b = [op for i in (5, 6) for op in chain(key(i), G, 2, deps=[G])]
    a.add([G, *both, *only_a])
    b.add([G, *both[:4], *only_b])
    return a, b


@pytest.mark.parametrize("n", [10_001, 100_000])
def test_authors_out_of_sync_by_a_few_converge_with_few_bytes(n):
    a, b = _few_apart(n)
    union = a.all_ids(C) | b.all_ids(C)
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    flights = half_trips(sa, sb)
    assert a.all_ids(C) == b.all_ids(C) == union
    assert a.heights(C) == b.heights(C)
    assert sa.stats.differ == sb.stats.differ == 6
    recon = sa.stats.bytes_out + sb.stats.bytes_out - sa.stats.op_bytes_out - sb.stats.op_bytes_out
    # a few KB of fingerprints and entries, whatever n (100,000 heights would be 4.7 MB)
    assert recon < 30_000, recon
    assert flights <= 14, flights


@pytest.fixture(scope="module")
def one_op_authors():
    """10,001 real one-op authors (each signed by its own key)."""
    return [first_op(key(i), G, [G]) for i in range(1, 10_002)]


def test_10001_one_op_authors_catch_up_from_empty(one_op_authors):
    a, b = MemoryLog(), MemoryLog()
    a.add([G, *one_op_authors], verify=False)
    b.add([G])
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    run_pair(sa, sb)
    assert b.all_ids(C) == a.all_ids(C)
    assert sb.stats.ops_in == len(one_op_authors)
    assert sa.state == sb.state == "done"


def test_10001_one_op_authors_a_few_apart(one_op_authors):
    a, b = MemoryLog(), MemoryLog()
    a.add([G, *one_op_authors], verify=False)
    b.add([G, *one_op_authors[5:]], verify=False)
    extra = chain(key(20_000), G, 3, deps=[G])
    b.add(extra)
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    run_pair(sa, sb)
    assert a.all_ids(C) == b.all_ids(C)
    assert sb.stats.ops_in == 5 and sa.stats.ops_in == 3
    assert sa.stats.bytes_out + sb.stats.bytes_out < 30_000


# ---- the reconciliation itself, as a property -------------------------------------------


def by_author(e: wire.Entry) -> bytes:
    return e.author


def reconcile_pair(mine: list[wire.Entry], theirs: list[wire.Entry]):
    """Run two reconcilers to the end through the real wire encoding; returns them and the
    largest frame."""
    ra, rb = Reconciler(sorted(mine, key=by_author)), Reconciler(sorted(theirs, key=by_author))
    if ra.digest() == rb.digest():
        return ra, rb, 0
    opening = ra.opened()
    if opening:  # few entries: they come with the SUMMARY
        rb.await_opening()
        pending, src, dst, biggest = frames_of(opening), ra, rb, 0
    else:
        pending, src, dst, biggest = frames_of(rb.first_round(len(mine))), rb, ra, 0
    for _ in range(200):
        answer = None
        for msg in pending:
            frame = wire.encode(msg)
            biggest = max(biggest, len(frame))
            [decoded] = wire.FrameReader().feed(frame)
            answer = dst.receive(decoded.ranges)
        if not answer:
            assert dst.done and src.done
            return ra, rb, biggest
        pending = frames_of(answer)
        src, dst = dst, src
    raise AssertionError("reconciliation did not end")


def entry(rng: random.Random, forked_ok: bool = True) -> wire.Entry:
    author = rng.randbytes(32)
    if forked_ok and rng.random() < 0.05:
        return wire.Entry(author, 0, b"", True)
    return wire.Entry(author, rng.randrange(1, 5), rng.randbytes(8), rng.random() < 0.05)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 3000),
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(0, 2**32),
)
def test_reconciliation_finds_exactly_the_differing_authors(shared, only_a, only_b, changed, seed):
    rng = random.Random(seed)
    common = [entry(rng) for _ in range(shared)]
    a = common + [entry(rng) for _ in range(only_a)]
    b = list(common) + [entry(rng) for _ in range(only_b)]
    for i in rng.sample(range(len(common)), min(changed, len(common))):
        e = b[i]
        b[i] = wire.Entry(e.author, e.seq + 1, rng.randbytes(8), e.forked)
    ra, rb, biggest = reconcile_pair(a, b)
    amap, bmap = {e.author: e for e in a}, {e.author: e for e in b}
    expected = {x for x in amap.keys() | bmap.keys() if amap.get(x) != bmap.get(x)}
    assert ra.differ == rb.differ == expected
    assert ra.theirs == {x: bmap[x] for x in expected if x in bmap}
    assert rb.theirs == {x: amap[x] for x in expected if x in amap}
    assert biggest <= wire.MAX_FRAME


def test_40k_entries_against_none_fit_in_frames():
    rng = random.Random(3)
    a = [entry(rng) for _ in range(40_000)]
    ra, rb, biggest = reconcile_pair(a, [])
    assert len(rb.theirs) == 40_000
    assert biggest <= wire.MAX_FRAME


def test_100k_a_few_apart_rounds_and_bytes():
    rng = random.Random(4)
    a = [entry(rng) for _ in range(100_000)]
    b = list(a)
    for i in (5, 50_000, 99_000):
        b[i] = wire.Entry(b[i].author, b[i].seq + 1, b[i].head)
    ra, rb, _ = reconcile_pair(a, b)
    assert len(ra.differ) == 3
    assert ra.rounds + rb.rounds <= 12


# ---- limits refuse, they never blame -----------------------------------------------------


def test_a_limit_is_a_refusal_with_a_reason_not_blame(monkeypatch):
    monkeypatch.setattr(reconcile, "MAX_ROUNDS", 1)
    a, b = _few_apart(5_000)
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    sides, errors = [sa, sb], []
    for i in range(20):
        src, dst = sides[i % 2], sides[(i + 1) % 2]
        try:
            dst.receive_data(src.data_to_send())
        except SyncError as exc:
            errors.append(exc)
        if sa.done and sb.done:
            break
    assert [(e.reason, e.blame) for e in errors] == [
        ("limit_rounds", False),  # the side that hit the limit says why ...
        ("peer_error", False),  # ... and the other reads ERROR: nobody is blamed
    ]


def test_version_mismatch_is_a_refusal():
    b = MemoryLog()
    sb = SyncSession(b)
    digest = hashlib.sha256(b"").digest()
    sb.receive_data(wire.encode(wire.Summary(C, digest, 0, version=9)))
    [msg] = wire.FrameReader().feed(sb.data_to_send())
    assert msg == wire.Refuse("bad_version") and sb.state == "refused"


def test_penalties_only_for_provable_misbehaviour():
    for reason in ("bad_signature", "chain_broken", "malformed", "bad_range", "unexpected_op"):
        assert penalty_for(reason) == PENALTY["invalid"]
    for reason in ("limit_rounds", "limit_entries", "bad_version", "peer_error"):
        assert penalty_for(reason) < PENALTY["invalid"]
