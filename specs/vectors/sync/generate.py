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


def zstd_raw(data: bytes, size: int | None = None, *, stated: bool = True) -> bytes:
    """A zstd frame (RFC 8878) holding ``data`` in one raw (stored) block, built by hand so
    that the vectors do not depend on a compressor's version: magic, a descriptor (single
    segment, 4-byte content size = ``size``, default ``len(data)``; or, not ``stated``, no
    size and a 1 KiB window), the block header (last, raw, length), the bytes."""
    magic = bytes.fromhex("28b52ffd")
    if stated:
        head = bytes([0xA0]) + (len(data) if size is None else size).to_bytes(4, "little")
    else:
        head = bytes([0x00, 0x00])
    block = ((len(data) << 3) | 1).to_bytes(3, "little")
    return magic + head + block + data


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
    # On a 2.1 stream (``"stream": "2.1"``) OPSZ carries an OPS body in a zstd frame: it
    # decodes to the OPS message whose plain frame is ``plain``.
    ops_body = canonical(wire.to_obj(valid["ops"]))
    opsz = canonical([wire.OPSZ, zstd_raw(ops_body)])
    vectors.append(
        {
            "name": "opsz",
            "valid": True,
            "stream": "2.1",
            "message": describe(valid["ops"]),
            "frame": frame_of(opsz),
            "plain": wire.encode(valid["ops"]).hex(),
        }
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
    packed = zstd_raw(ops_body)
    invalid_21 = {
        "opsz_not_zstd": ([wire.OPSZ, b"junk"], "malformed"),
        "opsz_size_not_stated": ([wire.OPSZ, zstd_raw(ops_body, stated=False)], "bad_message"),
        "opsz_states_too_much": (
            [wire.OPSZ, zstd_raw(ops_body, wire.MAX_FRAME + 1)],
            "frame_too_large",
        ),
        "opsz_size_wrong": ([wire.OPSZ, zstd_raw(ops_body, len(ops_body) + 1)], "malformed"),
        "opsz_bytes_after": ([wire.OPSZ, packed + b"x"], "malformed"),
        "opsz_two_fields": ([wire.OPSZ, packed, 0], "bad_message"),
        "opsz_holds_ack": ([wire.OPSZ, zstd_raw(canonical([3, 1]))], "bad_message"),
        "opsz_in_opsz": ([wire.OPSZ, zstd_raw(opsz)], "unknown_message"),
    }
    for name, (obj, reason) in invalid_21.items():
        frame = frame_of(canonical(obj))
        vectors.append(
            {"name": name, "valid": False, "stream": "2.1", "frame": frame, "error": reason}
        )
    # a node from before 2.1 (a 2.0 stream) knows no OPSZ
    vectors.append(
        {"name": "opsz_on_2_0", "valid": False, "frame": frame_of(opsz), "error": "unknown_message"}
    )
    # A complete in-sync exchange, byte for byte (both sides hold g and o2).
    a, b = MemoryLog(), MemoryLog()
    a.add([g, o2])
    b.add([g, o2])
    return {
        "version": wire.VERSION,
        "protocol": wire.PROTOCOL_ID,
        "protocols": list(wire.PROTOCOLS),
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
