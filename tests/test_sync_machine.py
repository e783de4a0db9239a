"""The sans-IO sync state machine, wired to another one in memory (no network)."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crdt.chain import ForkProof
from node.crdt.op import canonical
from node.protocol import wire
from node.protocol.memlog import MemoryLog
from node.protocol.outbox import Outbox
from node.protocol.sync import SyncError, SyncSession
from tests.factory import chain, genesis, history, key, twin
from tests.sync_helpers import drain, log_of, run_pair

C, OPS = history(4, 300, seed=1)


def prefix_log(ops, keep):
    """Each author's chain cut to a prefix of at most keep[author] ops, and further where an
    op names a dep that was cut: a causally closed log (nothing pending), as a node holds."""
    count: dict[bytes, int] = {}
    kept: set[bytes] = set()
    chosen = []
    for op in ops:
        n = count.get(op.author, 0)
        if n == op.seq - 1 and n < keep.get(op.author, 0) and set(op.deps) <= kept:
            chosen.append(op)
            kept.add(op.id)
            count[op.author] = n + 1
    log = log_of(chosen)
    assert not log.pending
    return log


def test_in_sync_is_one_round_trip_and_small():
    a, b = log_of(OPS), log_of(OPS)
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    first = sa.data_to_send()
    sb.receive_data(first)
    reply = sb.data_to_send()
    sa.receive_data(reply)
    assert sa.data_to_send()  # the initiator's END
    assert sa.done
    total = len(first) + len(reply) + sa.stats.bytes_out - len(first)
    assert total < 600, total
    assert sa.stats.ops_in == sa.stats.ops_out == 0


def test_catch_up_from_empty_in_bounded_batches():
    a, b = log_of(OPS), MemoryLog()
    sa, sb = SyncSession(a, community=C, batch_ops=50), SyncSession(b)
    run_pair(sa, sb)
    assert b.all_ids(C) == a.all_ids(C)
    assert sb.stats.ops_in == len(OPS)
    assert sb.stats.frames_in >= len(OPS) // 50
    assert set(sb.stats.outcomes) <= {"applied", "pending"}
    assert b.pending_ids(C) == set()  # causal order: whatever waited was released at once


def test_both_directions_at_once():
    g = genesis(key(0))
    mine, theirs = chain(key(1), g, 30, deps=[g]), chain(key(2), g, 40, deps=[g])
    a, b = log_of([g, *mine]), log_of([g, *theirs])
    sa, sb = SyncSession(a, community=g.id), SyncSession(b)
    run_pair(sa, sb)
    assert a.all_ids(g.id) == b.all_ids(g.id) == {o.id for o in [g, *mine, *theirs]}
    assert sa.stats.ops_in == 40 and sb.stats.ops_in == 30


def test_window_bounds_unacked_batches():
    a, b = log_of(OPS), MemoryLog()
    sa, sb = SyncSession(a, community=C, batch_ops=10, window=3), SyncSession(b)
    sb.receive_data(sa.data_to_send())
    sa.receive_data(sb.data_to_send())
    first = sa.data_to_send()
    assert sum(isinstance(m, wire.Ops) for m in wire.FrameReader().feed(first)) == 1
    burst = first + drain(sa)
    msgs = wire.FrameReader().feed(burst)
    assert sum(isinstance(m, wire.Ops) for m in msgs) == 3  # then it waits for ACKs
    assert sa.data_to_send() == b""
    sb.receive_data(burst)
    sa.receive_data(sb.data_to_send())
    assert sum(isinstance(m, wire.Ops) for m in wire.FrameReader().feed(drain(sa))) == 3


def test_interrupted_sync_resumes_from_heights():
    a, b = log_of(OPS), MemoryLog()
    sa, sb = SyncSession(a, community=C, batch_ops=20, window=1), SyncSession(b)
    for _ in range(5):  # a few batches, then the connection "drops"
        x = sa.data_to_send()
        sb.receive_data(x)
        sa.receive_data(sb.data_to_send())
    sb.abort("disconnected")  # what the adapter does (syncnet.drive): the held ops go in
    got = len(b.all_ids(C))
    assert 0 < got < len(OPS)
    sa2, sb2 = SyncSession(a, community=C), SyncSession(b)
    run_pair(sa2, sb2)
    assert b.all_ids(C) == a.all_ids(C)
    assert sb2.stats.ops_in == len(OPS) - got  # nothing sent twice


def test_members_only_refusal_is_clear():
    a, b = log_of(OPS), log_of(OPS[:1])
    sa = SyncSession(a, community=C, peer=b"x")
    sb = SyncSession(b, peer=b"x", access=lambda c, p: "not_member")
    run_pair(sa, sb)
    assert sa.state == "refused" and sa.refusal == "not_member"
    assert sb.state == "refused"
    assert len(b.all_ids(C)) == 1


def _reconciled(a_log, b_log):
    """Two sessions run until the responder has reconciled (then it waits for pushes)."""
    sa, sb = SyncSession(a_log, community=C), SyncSession(b_log)
    for _ in range(20):
        data = sa.data_to_send()
        while data:  # frame by frame: stop before the pushes that follow reconciliation
            n = 4 + int.from_bytes(data[:4], "big")
            sb.receive_data(data[:n])
            data = data[n:]
            if sb.state == "syncing":
                return sa, sb
        sa.receive_data(sb.data_to_send())
    raise AssertionError("no reconciliation")


def announce(entries) -> bytes:
    """What a (hostile) responder sends to claim it holds ``entries``: the REPLY round that
    answers the ITEMS an initiator with few entries sends along with its SUMMARY."""
    rng = wire.Range(b"", wire.REPLY, entries=tuple(sorted(entries)))
    return wire.encode(wire.Ranges((rng,)))


def frame(obj) -> bytes:
    body = canonical(obj)
    return len(body).to_bytes(4, "big") + body


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"\x00\x00\x00\x04garb", "malformed"),
        (b"\xff\xff\xff\xff", "frame_too_large"),
        (b"\x00\x00\x00\x00", "empty_frame"),
        (
            len(b"\x9a\x00\x00\x00\x01\x05").to_bytes(4, "big") + b"\x9a\x00\x00\x00\x01\x05",
            "not_canonical",
        ),
        (frame([99]), "unknown_message"),
        (frame([wire.ACK, 5]), "unexpected"),
        (frame([wire.OPS, [b"junk"]]), "malformed"),
    ],
)
def test_garbage_frames_are_clear_errors(data, reason):
    _, victim = _reconciled(log_of(OPS), MemoryLog())
    with pytest.raises(SyncError) as err:
        victim.receive_data(data)
    assert err.value.reason == reason and err.value.blame
    assert victim.done
    tail = wire.FrameReader().feed(victim.data_to_send())
    assert isinstance(tail[-1], wire.Error)


def test_garbage_before_summary():
    sb = SyncSession(MemoryLog())
    with pytest.raises(SyncError):
        sb.receive_data(frame([wire.END]))


def test_forged_signature_is_rejected():
    g = OPS[0]
    second = [o for o in OPS if o.author == g.author][1]
    forged_map = cbor2.loads(second.raw)
    forged_map["body"] = {"i": -1}  # changed content, original signature
    # a hostile peer announces height 2 for the genesis author, then sends a forged op
    victim_log = MemoryLog()
    victim = SyncSession(victim_log, community=C)
    victim.receive_data(announce([wire.Entry(g.author, 2, second.id[:8])]))
    with pytest.raises(SyncError) as err:
        victim.receive_data(frame([wire.OPS, [g.raw, canonical(forged_map)]]))
    assert err.value.reason == "bad_signature"
    assert victim_log.all_ids(C) == set()


def test_broken_chain_and_out_of_range_ops_are_rejected():
    author = OPS[0].author
    mine = [o for o in OPS if o.author == author][:5]
    victim = SyncSession(MemoryLog(), community=C)
    victim.receive_data(announce([wire.Entry(author, 5, mine[-1].id[:8])]))
    with pytest.raises(SyncError) as err:
        victim.receive_data(frame([wire.OPS, [mine[0].raw, mine[2].raw]]))
    assert err.value.reason == "chain_broken"
    victim = SyncSession(MemoryLog(), community=C)
    victim.receive_data(announce([wire.Entry(author, 2, mine[1].id[:8])]))
    with pytest.raises(SyncError) as err:
        victim.receive_data(frame([wire.OPS, [o.raw for o in mine[:3]]]))
    assert err.value.reason == "unexpected_op"


def test_fork_is_detected_and_proof_travels():
    k = key(0)
    chain = [o for o in OPS if o.author == bytes(k.verify_key)]
    x = chain[3]
    forked = twin(k, x, body={"twin": True})
    a = prefix_log(OPS, {o.author: 99 for o in OPS})
    b = log_of([o for o in OPS if not (o.author == x.author and o.seq >= x.seq)] + [forked])
    c = log_of(OPS)
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    run_pair(sa, sb)
    assert len(a.fork_proofs(C)) == 1 and len(b.fork_proofs(C)) == 1
    assert c.fork_proofs(C) == []
    sc, sa2 = SyncSession(c, community=C), SyncSession(b)
    run_pair(sc, sa2)
    [proof] = c.fork_proofs(C)
    assert isinstance(proof, ForkProof) and {proof.a.id, proof.b.id} == {x.id, forked.id}


authors = sorted({o.author for o in OPS})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 120), min_size=len(authors), max_size=len(authors)),
    st.lists(st.integers(0, 120), min_size=len(authors), max_size=len(authors)),
    st.integers(1, 40),
    st.integers(1, 4),
    st.booleans(),
    st.booleans(),
)
def test_random_partial_logs_converge(ka, kb, batch, window, a_first, compress):
    a = prefix_log(OPS, dict(zip(authors, ka, strict=True)))
    b = prefix_log(OPS, dict(zip(authors, kb, strict=True)))
    union = a.all_ids(C) | b.all_ids(C)
    s1 = SyncSession(a, community=C, batch_ops=batch, window=window, compress=compress)
    s2 = SyncSession(b, batch_ops=batch, window=window, compress=compress)
    if a_first:
        run_pair(s1, s2)
    else:
        run_pair(s2, s1)
    assert a.all_ids(C) == b.all_ids(C) == union
    assert a.heights(C) == b.heights(C)


def test_log_growing_during_a_session_is_not_a_protocol_error():
    """Ops that arrive by gossip between HELLO and the peer's pushes are duplicates, not an
    attack: both sides plan from the heights they *announced*."""
    authors = sorted({op.author for op in OPS})
    a = prefix_log(OPS, dict.fromkeys(authors, 10))
    b = log_of(OPS)
    sa, sb = SyncSession(a, community=C), SyncSession(b)
    sb.receive_data(sa.data_to_send())
    a.add([o for o in OPS if o.author == authors[0]])  # gossip delivers meanwhile
    run_pair(sa, sb)
    assert a.all_ids(C) == b.all_ids(C)
    assert sa.stats.outcomes.get("duplicate", 0) > 0


def test_in_sync_with_many_authors_stays_small_via_summary():
    c, ops = history(50, 2000, seed=3)
    a, b = log_of(ops), log_of(ops)
    sa, sb = SyncSession(a, community=c), SyncSession(b)
    first = sa.data_to_send()
    sb.receive_data(first)
    reply = sb.data_to_send()
    assert [type(m).__name__ for m in wire.FrameReader().feed(reply)] == ["Same", "End", "Done"]
    sa.receive_data(reply)
    last = sa.data_to_send()
    assert sa.done
    assert len(first) + len(reply) + len(last) < 150


def test_summary_mismatch_reconciles():
    authors = sorted({op.author for op in OPS})
    a = log_of(OPS)
    b = prefix_log(OPS, dict.fromkeys(authors, 20))
    sa, sb = SyncSession(b, community=C), SyncSession(a)
    first = sa.data_to_send()
    assert isinstance(wire.FrameReader().feed(first)[0], wire.Summary)
    sb.receive_data(first)
    run_pair(sa, sb)
    assert a.all_ids(C) == b.all_ids(C)
    assert sa.stats.ops_in > 0


def test_the_first_ops_go_out_after_a_few_of_each_authors_are_read():
    """The pusher merges every author's ops by lamport, so it reads some of each before its
    first batch: a few (``Outbox.FIRST``), not a refill's worth, so that the peer's first
    ops do not wait for most of the log to be read; later reads fill up as authors run dry."""
    c, ops = history(20, 2000, seed=3)
    full, empty = log_of(ops), MemoryLog()
    read: list[int] = []
    ops_from = full.ops_from

    def counted(*args):
        got = ops_from(*args)
        read.append(len(got))
        return got

    full.ops_from = counted
    sa, sb = SyncSession(empty, community=c), SyncSession(full)
    sb.receive_data(sa.data_to_send())  # the initiator holds nothing: SUMMARY + ITEMS
    authors = len({op.author for op in ops})
    assert len(read) == authors and sum(read) == authors * Outbox.FIRST
    run_pair(sa, sb)
    assert empty.all_ids(c) == full.all_ids(c)
    assert max(read) == Outbox.CHUNK and sum(read) == len(ops)  # each op read once


def test_a_2_1_session_sends_its_batches_compressed():
    """On a 2.1 stream both sides push OPS batches as OPSZ (ops compress: keys, community ids
    and bodies repeat); what arrives is the same log."""
    a, b = log_of(OPS), MemoryLog()
    sa, sb = SyncSession(b, community=C, compress=True), SyncSession(a, compress=True)
    run_pair(sa, sb)
    assert b.all_ids(C) == a.all_ids(C)
    assert sa.stats.ops_in == len(OPS)
    assert sa.stats.bytes_in < sa.stats.op_bytes_in / 1.5, sa.stats


def test_a_compressed_batch_is_unknown_to_a_2_0_session():
    """Why the stream protocol decides: a node from before 2.1 (a 2.0 session) reads OPSZ as
    an unknown message, a violation, so it is sent only on a 2.1 stream."""
    a, b = log_of(OPS), MemoryLog()
    sa, sb = SyncSession(b, community=C), SyncSession(a, compress=True)
    with pytest.raises(SyncError) as err:
        run_pair(sa, sb)
    assert err.value.reason == "unknown_message" and err.value.blame
