"""Store.ingest checks signatures on a worker thread for large batches (when a second core is
there): the outcomes, the log and the state are exactly those of the one-thread path, bad
signatures anywhere in the batch included, and an op is never applied before its verdict."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import node.store.store as store_mod
from node.crdt.op import canonical
from node.crdt.replica import Replica
from node.store import Store
from tests.factory import PUT_HANDLERS as HANDLERS
from tests.factory import keys

KEYS = keys(4)
OPS = 3 * store_mod.VERIFY_CHUNK + 7  # several chunks and a partial tail


def _log() -> list:
    r = Replica(HANDLERS)
    genesis = r.compose(KEYS[0], b"", "community.create", {"name": "c"})
    r.ingest(genesis)
    ops = [genesis]
    for i in range(OPS):
        op = r.compose(KEYS[1 + i % 3], genesis.id, "put", {"name": "ab"[i % 2], "value": i}, ts=i)
        assert r.ingest(op).status == "applied"
        ops.append(op)
    return ops


LOG = _log()


def _forged(raw: bytes) -> bytes:
    m = cbor2.loads(raw)
    m["sig"] = bytes(64)
    return canonical(m)


class CountingPool:
    """The real worker pool, counting the chunks handed to it."""

    def __init__(self, pool):
        self.pool, self.chunks = pool, 0

    def submit(self, fn, *args):
        self.chunks += 1
        return self.pool.submit(fn, *args)


def _run(path, batch, pool):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_mod, "_verifier", lambda: pool)
        with Store.open(path, HANDLERS) as s:
            out = [(o.op_id, o.status, o.reason) for o in s.ingest(batch)]
            return out, s.heights(LOG[0].id), sorted(s.state.items())


@settings(max_examples=15, deadline=None)
@given(
    forged=st.sets(st.integers(0, OPS), max_size=6),
    dupes=st.lists(st.integers(0, OPS), max_size=4),
    junk=st.booleans(),
)
def test_worker_thread_gives_the_one_thread_outcomes(tmp_path_factory, forged, dupes, junk):
    batch = [_forged(op.raw) if i in forged else op.raw for i, op in enumerate(LOG)]
    batch += [LOG[i].raw for i in dupes] + ([b"junk"] if junk else [])
    pool = CountingPool(store_mod.ThreadPoolExecutor(max_workers=1))
    try:
        alone = _run(tmp_path_factory.mktemp("one") / "n.db", batch, None)
        worker = _run(tmp_path_factory.mktemp("two") / "n.db", batch, pool)
    finally:
        pool.pool.shutdown()
    assert pool.chunks >= 3  # the worker did check signatures
    assert worker == alone
    statuses = [status for _, status, _ in worker[0][: len(LOG)]]
    assert statuses.count("invalid") == len(forged)
