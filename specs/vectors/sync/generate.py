"""Regenerate the sync wire vectors: ``python specs/vectors/sync/generate.py``.

Deterministic: fixed keys, fixed ops. ``tests/test_sync_vectors.py`` checks every vector
against the implementation (and that this script still produces the same file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from node.crdt.chain import ForkProof  # noqa: E402
from node.crdt.op import canonical  # noqa: E402
from node.protocol import wire  # noqa: E402
from node.protocol.memlog import MemoryLog  # noqa: E402
from node.protocol.sync import SyncSession  # noqa: E402
from tests.factory import genesis, key, next_op, twin  # noqa: E402

OUT = Path(__file__).with_name("vectors.json")


def frame_of(body: bytes) -> str:
    return (len(body).to_bytes(4, "big") + body).hex()


def build() -> dict:
    k = key(0)
    g = genesis(k, name="vectors")
    o2 = next_op(k, g, kind="profile.set", body={"display_name": "a"}, ts=1)
    o2b = twin(k, o2, body={"display_name": "b"})  # the same position: a fork of o2
    author = bytes(k.verify_key)
    entry = wire.Entry(author, 2, o2.id[:8])
    valid = {
        "summary": wire.Summary(g.id, wire.digest_of([entry]), 1),
        "summary_empty": wire.Summary(g.id, wire.digest_of([]), 0),
        "refuse": wire.Refuse("not_member"),
        "ops": wire.Ops((g.raw, o2.raw)),
        "ack": wire.Ack(1),
        "forks": wire.Forks((ForkProof.of(o2, o2b).encode(),)),
        "end": wire.End(),
        "error": wire.Error("timeout"),
        "same": wire.Same(),
        "ranges_fp": wire.Ranges(
            (
                wire.Range(author, wire.SKIP),
                wire.Range(b"", wire.FP, wire.fingerprint(wire.entry_hash(entry)), 1),
            )
        ),
        "ranges_items": wire.Ranges((wire.Range(b"", wire.ITEMS, entries=(entry,)),)),
        "ranges_reply_forked": wire.Ranges(
            (wire.Range(b"", wire.REPLY, entries=(wire.Entry(author, 1, g.id[:8], True),)),)
        ),
        "want": wire.Want((o2.id,)),
        "got": wire.Got(((g.raw, o2.raw), ())),
        "done": wire.Done(),
    }
    vectors = []
    for name, msg in valid.items():
        vectors.append(
            {"name": name, "valid": True, "message": describe(msg), "frame": wire.encode(msg).hex()}
        )
    e = [author, 1, b"\x00" * 8, False]
    invalid = {
        "garbage": ("00000004" + b"junk".hex(), "malformed"),
        "too_large": ("00100001", "frame_too_large"),
        "empty_frame": ("00000000", "empty_frame"),
        "non_canonical_int": ("00000006" + "9a0000000105", "not_canonical"),
        "unknown_type": (frame_of(canonical([99])), "unknown_message"),
        "hello_of_version_1": (frame_of(canonical([0, 1, g.id, [], []])), "unknown_message"),
        "summary_short_community": (
            frame_of(canonical([7, 2, b"\x00" * 31, b"\x00" * 32, 0])),
            "bad_message",
        ),
        "summary_short_digest": (frame_of(canonical([7, 2, g.id, b"\x00" * 31, 1])), "bad_message"),
        "ranges_unsorted_bounds": (
            frame_of(canonical([9, [[b"\x02", 0], [b"\x01", 0], [b"", 0]]])),
            "bad_message",
        ),
        "ranges_end_not_last": (frame_of(canonical([9, [[b"", 0], [b"\x01", 0]]])), "bad_message"),
        "ranges_unsorted_entries": (
            frame_of(canonical([9, [[b"", 2, [e, e]]]])),
            "bad_message",
        ),
        "ranges_entry_without_height_unforked": (
            frame_of(canonical([9, [[b"", 3, [[author, 0, b"", False]]]]])),
            "bad_message",
        ),
        "ranges_bad_mode": (frame_of(canonical([9, [[b"", 7]]])), "bad_message"),
        "want_empty": (frame_of(canonical([10, []])), "bad_message"),
        "want_short_id": (frame_of(canonical([10, [b"\x00" * 31]])), "bad_message"),
        "got_run_too_long": (frame_of(canonical([11, [[b"x"] * 257]])), "bad_message"),
        "ops_empty_batch": (frame_of(canonical([2, []])), "bad_message"),
        "ack_zero": (frame_of(canonical([3, 0])), "bad_message"),
        "end_with_field": (frame_of(canonical([5, 1])), "bad_message"),
        "done_with_field": (frame_of(canonical([12, 0])), "bad_message"),
        "not_an_array": (frame_of(canonical({"t": 0})), "bad_message"),
        "same_with_field": (frame_of(canonical([8, 0])), "bad_message"),
    }
    for name, (hexframe, reason) in invalid.items():
        vectors.append({"name": name, "valid": False, "frame": hexframe, "error": reason})
    # A complete in-sync exchange, byte for byte (both sides hold g and o2).
    a, b = MemoryLog(), MemoryLog()
    a.add([g, o2])
    b.add([g, o2])
    return {
        "version": wire.VERSION,
        "protocol": wire.PROTOCOL_ID,
        "max_frame": wire.MAX_FRAME,
        "vectors": vectors,
        "in_sync_transcript": in_sync_exchange(a, b, g.id),
    }


def in_sync_exchange(a, b, community: bytes) -> dict:
    """The frames of a sync between two logs that already agree: one round trip."""
    sa = SyncSession(a, community=community)
    sb = SyncSession(b)
    first = sa.data_to_send()
    sb.receive_data(first)
    reply = sb.data_to_send()
    sa.receive_data(reply)
    last = sa.data_to_send()
    sb.receive_data(last)
    assert sa.done and sb.done
    return {
        "initiator_summary": first.hex(),
        "responder_reply": reply.hex(),
        "initiator_end": last.hex(),
        "total_bytes": len(first) + len(reply) + len(last),
    }


def describe(msg) -> dict:
    obj = wire.to_obj(msg)
    return {"type": wire.NAMES[obj[0]], "fields": [_hex(x) for x in obj[1:]]}


def _hex(x):
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, list):
        return [_hex(v) for v in x]
    return x


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
