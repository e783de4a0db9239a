"""OPSZ, a 2.1 stream's compressed OPS batch (``specs/sync.md``, "Compressed batches"): any
batch comes back as it went, it is compressed only when that is smaller, and a frame that
states a size past the bound is refused before anything is unpacked."""

from __future__ import annotations

import os
import tracemalloc

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crdt.op import canonical
from node.protocol import wire
from tests.factory import history

_, OPS = history(5, 600, seed=11)


def _type(frame: bytes) -> str:
    return wire.NAMES[wire.cbor2.loads(frame[wire.LEN_PREFIX :])[0]]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=700), min_size=1, max_size=wire.MAX_BATCH_OPS))
def test_any_batch_comes_back_as_it_went(raws):
    msg = wire.Ops(tuple(raws))
    plain, frame = wire.encode(msg), wire.encode(msg, compress=True)
    assert len(frame) <= len(plain)
    assert _type(frame) in ("OPS", "OPSZ")
    assert wire.FrameReader(compressed=True).feed(frame) == [msg]
    assert wire.FrameReader(compressed=True).feed(plain) == [msg]  # plain OPS stays valid


def test_ops_go_compressed_and_random_bytes_do_not():
    batch = wire.Ops(tuple(op.raw for op in OPS[:512]))
    frame = wire.encode(batch, compress=True)
    assert _type(frame) == "OPSZ"
    assert len(frame) < len(wire.encode(batch)) / 2  # ~2.5 x on these ops
    noise = wire.Ops(tuple(os.urandom(300) for _ in range(100)))
    assert _type(wire.encode(noise, compress=True)) == "OPS"


def test_a_bomb_is_refused_before_it_is_unpacked():
    """64 MiB of zeros compress to a few KiB: the stated size is checked first, so nothing
    near that size is ever allocated."""
    bomb = zstandard.ZstdCompressor(level=1).compress(b"\x00" * (64 << 20))
    body = canonical([wire.OPSZ, bomb])
    frame = len(body).to_bytes(wire.LEN_PREFIX, "big") + body
    tracemalloc.start()
    try:
        with pytest.raises(wire.WireError) as err:
            wire.FrameReader(compressed=True).feed(frame)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.reason == "frame_too_large"
    assert peak < 1 << 20, peak
