"""specs/vectors/sync/vectors.json against the implementation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from node.protocol import wire

DIR = Path(__file__).resolve().parents[1] / "specs" / "vectors" / "sync"
DATA = json.loads((DIR / "vectors.json").read_text())


@pytest.mark.parametrize("v", DATA["vectors"], ids=lambda v: v["name"])
def test_vector(v):
    frame = bytes.fromhex(v["frame"])
    reader = wire.FrameReader(compressed=v.get("stream") == "2.1")
    if v["valid"]:
        [msg] = reader.feed(frame)
        assert wire.NAMES[wire.to_obj(msg)[0]] == v["message"]["type"]
        assert wire.encode(msg) == bytes.fromhex(v.get("plain", v["frame"]))
    else:
        with pytest.raises(wire.WireError) as err:
            reader.feed(frame)
        assert err.value.reason == v["error"]


def test_in_sync_transcript_and_generator_are_current():
    spec = importlib.util.spec_from_file_location("gen_sync_vectors", DIR / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.build() == DATA  # the file is what the generator produces today
    t = DATA["in_sync_transcript"]
    assert t["total_bytes"] < 200  # one author: its entry comes with the SUMMARY
    msgs = wire.FrameReader().feed(bytes.fromhex(t["responder_reply"]))
    assert [type(m).__name__ for m in msgs] == ["Same", "End", "Done"]
    msgs = wire.FrameReader().feed(bytes.fromhex(t["initiator_end"]))
    assert [type(m).__name__ for m in msgs] == ["End", "Done"]
