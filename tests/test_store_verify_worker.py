"""Store.ingest shares the signature checks of a large batch with a worker process (when a
second core is there): the outcomes, the log and the state are exactly those of the
one-thread path, bad signatures anywhere in the batch included, whether the worker answers,
dies or answers out of turn."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import node.store.verify as verify_mod
from node.crdt import sigcheck
from node.crdt.op import canonical, signing_input_of
from node.crdt.replica import Replica
from node.store import Store
from tests.factory import PUT_HANDLERS as HANDLERS
from tests.factory import keys

KEYS = keys(4)
VERIFY_CHUNK = verify_mod.VERIFY_CHUNK
OPS = 3 * VERIFY_CHUNK + 7  # several chunks and a partial tail


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


class CountingWorker(verify_mod.SigWorker):
    """The real worker process, counting the chunks sent to it."""

    def __init__(self):
        super().__init__()
        self.chunks = 0

    def send(self, checks):
        self.chunks += 1
        return super().send(checks)


class DyingWorker(CountingWorker):
    """A worker process killed after its first chunk: what it was sent, and everything after,
    is checked by the ingesting thread."""

    def send(self, checks):
        serial = super().send(checks)
        self._proc.kill()
        self._proc.wait()
        return serial


class MuddledWorker(CountingWorker):
    """A worker whose replies come back out of turn (a bug, or bytes from elsewhere)."""

    def receive(self):
        self.sent.rotate(1)
        return super().receive()


class Trickle:
    """A pipe that takes at most ``size`` bytes a write, as an unbuffered pipe does when a
    signal comes while it is full: the rest is the writer's to send."""

    def __init__(self, pipe, size=1000):
        self.pipe, self.size = pipe, size

    def write(self, data):
        return self.pipe.write(bytes(data[: self.size]))

    def close(self):
        self.pipe.close()


class TricklingWorker(CountingWorker):
    def __init__(self):
        super().__init__()
        self._proc.stdin = Trickle(self._proc.stdin)


def _run(path, batch, worker):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verify_mod, "worker", lambda: worker)
        mp.setattr(verify_mod, "_BROKEN", False)
        with Store.open(path, HANDLERS) as s:
            out = [(o.op_id, o.status, o.reason) for o in s.ingest(batch)]
            result = out, s.heights(LOG[0].id), sorted(s.state.items())
            return result, verify_mod._BROKEN


@settings(max_examples=15, deadline=None)
@given(
    forged=st.sets(st.integers(0, OPS), max_size=6),
    dupes=st.lists(st.integers(0, OPS), max_size=4),
    junk=st.booleans(),
)
def test_worker_process_gives_the_one_thread_outcomes(tmp_path_factory, forged, dupes, junk):
    batch = [_forged(op.raw) if i in forged else op.raw for i, op in enumerate(LOG)]
    batch += [LOG[i].raw for i in dupes] + ([b"junk"] if junk else [])
    worker = CountingWorker()
    try:
        alone, _ = _run(tmp_path_factory.mktemp("one") / "n.db", batch, None)
        split, gave_up = _run(tmp_path_factory.mktemp("two") / "n.db", batch, worker)
    finally:
        worker.stop()
    assert worker.chunks >= 1 and not gave_up  # the worker did check signatures
    assert split == alone
    statuses = [status for _, status, _ in split[0][: len(LOG)]]
    assert statuses.count("invalid") == len(forged)


@pytest.mark.parametrize(
    "kind, gives_up", [(DyingWorker, True), (MuddledWorker, True), (TricklingWorker, False)]
)
def test_a_failing_worker_changes_no_verdict(tmp_path, kind, gives_up):
    """A worker that dies or answers out of turn is given up; a pipe that takes requests in
    parts still delivers each whole (the worker answers all)."""
    forged = {2, VERIFY_CHUNK + 1, OPS - 1}
    batch = [_forged(op.raw) if i in forged else op.raw for i, op in enumerate(LOG)]
    worker = kind()
    try:
        alone, _ = _run(tmp_path / "one.db", batch, None)
        split, gave_up = _run(tmp_path / "two.db", batch, worker)
    finally:
        worker.stop()
    assert worker.chunks >= 1 and gave_up == gives_up
    assert split == alone
    assert [s for _, s, _ in split[0]].count("invalid") == len(forged)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(max_size=300), st.sampled_from(["good", "bad_sig", "other_key"])),
        max_size=12,
    ),
    st.integers(0, 2**32 - 1),
)
def test_the_worker_frames_give_the_verdicts_of_a_check_here(items, serial):
    checks = []
    for message, how in items:
        signed = KEYS[0].sign(message)
        sig = signed.signature if how != "bad_sig" else bytes(64)
        author = bytes((KEYS[0] if how != "other_key" else KEYS[1]).verify_key)
        checks.append((author, sig, message))
    request = sigcheck.pack_request(serial, checks)
    assert int.from_bytes(request[:4], "big") == len(request) - 4
    got_serial, bad = sigcheck.unpack_reply(sigcheck.check_request(request[4:]))
    assert got_serial == serial
    assert bad == [i for i, (_, how) in enumerate(items) if how != "good"]


def test_the_worker_runs_our_code_not_the_working_directorys(tmp_path, monkeypatch):
    """The worker is started as `python -m node.crdt.sigcheck`, which puts the working
    directory first on the import path: a folder holding its own `node` package ran instead
    (and the batch waited for a worker that had ended)."""
    from cli_helpers import plant_package

    mark = plant_package(tmp_path, "node.crdt.sigcheck")
    monkeypatch.chdir(tmp_path)
    forged = {2, VERIFY_CHUNK + 1}
    batch = [_forged(op.raw) if i in forged else op.raw for i, op in enumerate(LOG)]
    worker = CountingWorker()
    try:
        split, gave_up = _run(tmp_path / "two.db", batch, worker)
    finally:
        worker.stop()
    assert worker.chunks >= 1 and not gave_up and not mark.exists()
    assert [s for _, s, _ in split[0]].count("invalid") == len(forged)


def test_a_batch_given_up_half_way_leaves_the_worker_usable():
    """An exception while applying ends a batch with replies still in flight: the next batch
    skips them and keeps the worker (it does not fall back to one core for good)."""
    ops = LOG[1:]
    forged = {3, 2 * VERIFY_CHUNK + 1}
    messages = [
        (op, signing_input_of(op) if i not in forged else b"forged " + signing_input_of(op))
        for i, op in enumerate(ops)
    ]
    worker = verify_mod.SigWorker()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(verify_mod, "worker", lambda: worker)
            mp.setattr(verify_mod, "_BROKEN", False)
            first = verify_mod.BatchChecks()
            for i, (op, message) in enumerate(messages):
                first.add(i, op, message)
            first.close()
            first.verdicts_through(0)  # then the batch is given up: the rest is in flight
            if not worker.sent:  # the worker was quick and answered all it got: one more
                worker.send(first._chunks[-1])  # request, whose reply no batch waits for
            assert worker.sent
            again = verify_mod.BatchChecks()
            for i, (op, message) in enumerate(messages):
                again.add(i, op, message)
            assert again.close() == []
            bad = again.verdicts_through(len(messages))
            assert sorted(i for i, _ in bad) == sorted(forged)
            assert not verify_mod._BROKEN and verify_mod.worker() is worker
    finally:
        worker.stop()
