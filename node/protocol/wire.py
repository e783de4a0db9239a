"""Sync wire format: length-prefixed canonical CBOR frames (``specs/sync.md``).

A frame is a 4-byte big-endian length ``N`` (1 <= N <= MAX_FRAME) followed by ``N`` bytes of
canonical CBOR encoding one message: an array whose first element is the message type.
Decoding is strict (canonical form, exact shapes, bounds) so that garbage from a peer becomes a
clear :class:`WireError` instead of an exception deep inside the node.

Every per-frame bound here is one an honest sender meets by splitting (lists go over several
frames); no bound limits how many authors a community may have.

On a ``/we/sync/2.1.0`` stream an OPS message may travel compressed, as OPSZ (zstd); on a
``/we/sync/2.0.0`` stream (a node from before 2.1) it never does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from hashlib import sha256 as _sha256
from typing import Any

import cbor2
import zstandard

from node.crdt.op import ID_SIZE, KEY_SIZE, canonical

VERSION = 2
PROTOCOL_ID = "/we/sync/2.1.0"  # version 2; OPS batches go compressed (OPSZ) when smaller
PROTOCOL_PLAIN = "/we/sync/2.0.0"  # version 2 without OPSZ: what nodes before 2.1 speak
PROTOCOLS = (PROTOCOL_ID, PROTOCOL_PLAIN)  # offered in this order; either may be answered
ZSTD_LEVEL = 1  # ops compress ~2.5 x at level 1 (keys, community ids and bodies repeat)
MAX_FRAME = 1024 * 1024  # a frame never exceeds 1 MiB
LEN_PREFIX = 4
MAX_BATCH_OPS = 512
MAX_BATCH_BYTES = 512 * 1024  # ops payload per batch (one op of up to 64 KiB always fits)
MAX_PROOFS = 64  # fork proofs in one FORKS message
HEAD_PREFIX = 8  # bytes of the head op id carried in entries (detects divergent chains)
FP_SIZE = 16  # bytes of a range fingerprint
MAX_RANGES = 4096  # ranges in one RANGES frame
MAX_ENTRIES = 8192  # height entries in one RANGES frame (all its ranges together)
MAX_WANT = 256  # ids in one WANT frame (and runs in one GOT frame)
MAX_RUN = 256  # ops in one GOT run
MAX_REASON = 200

# 0 was HELLO in version 1 (a full height list in one frame); it is gone.
REFUSE, OPS, ACK, FORKS, END, ERROR, SUMMARY, SAME, RANGES, WANT, GOT, DONE, OPSZ = range(1, 14)
NAMES = {
    1: "REFUSE",
    2: "OPS",
    3: "ACK",
    4: "FORKS",
    5: "END",
    6: "ERROR",
    7: "SUMMARY",
    8: "SAME",
    9: "RANGES",
    10: "WANT",
    11: "GOT",
    12: "DONE",
    13: "OPSZ",
}

# Range modes (second element of a range).
SKIP, FP, ITEMS, REPLY = range(4)


class WireError(ValueError):
    """Bytes from a peer that are not a valid frame/message. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True, order=True)
class Entry:
    """What one side holds of one author: its height (``seq`` 0 = no heights entry, which
    happens only for an author forked at seq 1), the head prefix, and whether it holds a
    fork proof for the author."""

    author: bytes
    seq: int
    head: bytes  # first HEAD_PREFIX bytes of the id of the op at ``seq`` (b"" when seq is 0)
    forked: bool = False

    def obj(self) -> list[Any]:
        return [self.author, self.seq, self.head, self.forked]


@dataclass(frozen=True, slots=True)
class Range:
    """One range of a reconciliation round. Its lower bound is the previous range's ``hi``
    (b"" at the start of a round); ``hi`` is exclusive, b"" = the end of the key space."""

    hi: bytes
    mode: int  # SKIP | FP | ITEMS | REPLY
    fp: bytes = b""  # FP: fingerprint of the sender's entries in the range
    count: int = 0  # FP: how many entries the sender holds in the range
    entries: tuple[Entry, ...] = ()  # ITEMS / REPLY: the sender's entries in the range


@dataclass(frozen=True, slots=True)
class Summary:
    """The opening: the digest of everything the initiator holds for the community."""

    community: bytes
    digest: bytes  # digest_of(the initiator's entries)
    authors: int  # how many entries (informative: lets the responder pick how to answer)
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: str


@dataclass(frozen=True, slots=True)
class Ops:
    ops: tuple[bytes, ...]  # encoded ops, causal order


@dataclass(frozen=True, slots=True)
class Ack:
    batches: int


@dataclass(frozen=True, slots=True)
class Forks:
    proofs: tuple[bytes, ...]  # ForkProof.encode() each


@dataclass(frozen=True, slots=True)
class End:
    """The sender has pushed everything it planned."""


@dataclass(frozen=True, slots=True)
class Error:
    reason: str


@dataclass(frozen=True, slots=True)
class Same:
    """The responder's answer to a SUMMARY whose digest equals its own."""


@dataclass(frozen=True, slots=True)
class Ranges:
    """A part of a reconciliation round (a round may span several frames)."""

    ranges: tuple[Range, ...]


@dataclass(frozen=True, slots=True)
class Want:
    ids: tuple[bytes, ...]  # op ids the sender lacks


@dataclass(frozen=True, slots=True)
class Got:
    """Answers to the oldest unanswered wanted ids, in order: one run per id (ascending seq,
    ending at the wanted op; empty = not served)."""

    runs: tuple[tuple[bytes, ...], ...]


@dataclass(frozen=True, slots=True)
class Done:
    """The sender will send no more WANT."""


Message = Summary | Refuse | Ops | Ack | Forks | End | Error | Same | Ranges | Want | Got | Done


def entry_hash(e: Entry) -> bytes:
    """SHA-256(author || seq (8 bytes, big-endian) || head (8 bytes, zeros when seq is 0) ||
    forked (1 byte)), first FP_SIZE bytes. Fixed-width on purpose: cheap for 100,000 entries."""
    head = e.head or bytes(HEAD_PREFIX)
    data = e.author + e.seq.to_bytes(8, "big") + head + (b"\x01" if e.forked else b"\x00")
    return _sha256(data).digest()[:FP_SIZE]


def fingerprint(hashes: bytes) -> bytes:
    """Fingerprint of a range from the concatenated entry hashes in it (ascending author)."""
    return hashlib.sha256(hashes).digest()[:FP_SIZE]


def digest_of(entries: list[Entry] | tuple[Entry, ...]) -> bytes:
    """SUMMARY digest: SHA-256 of the concatenated entry hashes (ascending author)."""
    return hashlib.sha256(b"".join(entry_hash(e) for e in entries)).digest()


def _range_obj(r: Range) -> list[Any]:
    if r.mode == FP:
        return [r.hi, FP, r.fp, r.count]
    if r.mode in (ITEMS, REPLY):
        return [r.hi, r.mode, [e.obj() for e in r.entries]]
    return [r.hi, SKIP]


def to_obj(msg: Message) -> list[Any]:
    if isinstance(msg, Summary):
        return [SUMMARY, msg.version, msg.community, msg.digest, msg.authors]
    if isinstance(msg, Refuse):
        return [REFUSE, msg.reason]
    if isinstance(msg, Ops):
        return [OPS, list(msg.ops)]
    if isinstance(msg, Ack):
        return [ACK, msg.batches]
    if isinstance(msg, Forks):
        return [FORKS, list(msg.proofs)]
    if isinstance(msg, End):
        return [END]
    if isinstance(msg, Error):
        return [ERROR, msg.reason]
    if isinstance(msg, Same):
        return [SAME]
    if isinstance(msg, Ranges):
        return [RANGES, [_range_obj(r) for r in msg.ranges]]
    if isinstance(msg, Want):
        return [WANT, list(msg.ids)]
    if isinstance(msg, Got):
        return [GOT, [list(run) for run in msg.runs]]
    if isinstance(msg, Done):
        return [DONE]
    raise TypeError(f"not a sync message: {msg!r}")


def encode(msg: Message, *, compress: bool = False) -> bytes:
    """One complete frame (length prefix + canonical CBOR). With ``compress`` (a 2.1 stream),
    an OPS message goes as OPSZ when that is smaller."""
    body = canonical(to_obj(msg))
    if compress and type(msg) is Ops:
        packed = canonical([OPSZ, zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)])
        if len(packed) < len(body):
            body = packed
    if len(body) > MAX_FRAME:
        raise WireError("frame_too_large", f"{len(body)} bytes > {MAX_FRAME}")
    return len(body).to_bytes(LEN_PREFIX, "big") + body


def _need(cond: bool, detail: str) -> None:
    if not cond:
        raise WireError("bad_message", detail)


def _uint(x: Any) -> bool:
    return type(x) is int and 0 <= x < 2**64


def _text(x: Any) -> bool:
    return type(x) is str and len(x) <= MAX_REASON


def _entry(x: Any) -> Entry:
    _need(type(x) is list and len(x) == 4, "entry")
    a, s, head, forked = x
    _need(type(a) is bytes and len(a) == KEY_SIZE, "entry author")
    _need(_uint(s), "entry seq")
    _need(type(forked) is bool, "entry forked")
    if s == 0:  # no heights entry: only an author forked at its first op
        _need(head == b"" and forked, "entry without height")
    else:
        _need(type(head) is bytes and len(head) == HEAD_PREFIX, "entry head")
    return Entry(a, s, head, forked)


def _ranges(rs: Any) -> Ranges:
    _need(type(rs) is list and 0 < len(rs) <= MAX_RANGES, "range count")
    out: list[Range] = []
    n_entries = 0
    for i, r in enumerate(rs):
        _need(type(r) is list and len(r) >= 2, "range")
        hi, mode = r[0], r[1]
        _need(type(hi) is bytes and len(hi) <= KEY_SIZE, "range bound")
        _need(hi != b"" or i == len(rs) - 1, "only the last range may end the key space")
        _need(i == 0 or hi == b"" or out[-1].hi < hi, "range bounds ascend")
        if mode == SKIP:
            _need(len(r) == 2, "SKIP range")
            out.append(Range(hi, SKIP))
        elif mode == FP:
            _need(len(r) == 4, "FP range")
            _need(type(r[2]) is bytes and len(r[2]) == FP_SIZE, "fingerprint")
            _need(_uint(r[3]), "count")
            out.append(Range(hi, FP, r[2], r[3]))
        elif mode in (ITEMS, REPLY):
            _need(len(r) == 3 and type(r[2]) is list, "entry range")
            n_entries += len(r[2])
            _need(n_entries <= MAX_ENTRIES, "entries in one frame")
            entries = tuple(_entry(e) for e in r[2])
            _need(all(x.author < y.author for x, y in zip(entries, entries[1:])), "entry order")
            out.append(Range(hi, mode, entries=entries))
        else:
            _need(False, "range mode")
    return Ranges(tuple(out))


def _unpacked(data: Any) -> bytes:
    """The OPS body inside an OPSZ: one zstd frame that states its size (at most a frame's),
    nothing after it. The size is checked before anything is allocated: zstd would make room
    for whatever size a frame states."""
    _need(type(data) is bytes, "OPSZ has bytes")
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise WireError("malformed", f"OPSZ is not zstd ({exc})") from exc
    if size > MAX_FRAME:
        raise WireError("frame_too_large", f"OPSZ holds {size} bytes > {MAX_FRAME}")
    _need(size > 0, "OPSZ states its size")
    try:
        unpacker = zstandard.ZstdDecompressor(max_window_size=MAX_FRAME)
        return unpacker.decompress(data, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise WireError("malformed", f"OPSZ does not decompress ({exc})") from exc


def decode_body(body: bytes, *, compressed: bool = False) -> Message:
    """Decode the CBOR part of one frame into a message, strictly. ``compressed``: a 2.1
    stream, where OPSZ is an OPS message (on a 2.0 stream it is an unknown type)."""
    try:
        obj = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises several exception types on garbage
        raise WireError("malformed", f"not valid CBOR ({exc.__class__.__name__})") from exc
    _need(type(obj) is list and len(obj) >= 1 and type(obj[0]) is int, "not a typed array")
    if canonical(obj) != body:
        raise WireError("not_canonical", "frame is not canonical CBOR")
    t, args = obj[0], obj[1:]
    if t == OPSZ and compressed:
        _need(len(args) == 1, "OPSZ has one field")
        inner = decode_body(_unpacked(args[0]))  # an OPSZ in an OPSZ is an unknown type
        _need(type(inner) is Ops, "OPSZ holds OPS")
        return inner
    if t == SUMMARY:
        _need(len(args) == 4, "SUMMARY has 4 fields")
        version, community, digest, authors = args
        _need(_uint(version), "version")
        _need(type(community) is bytes and len(community) == ID_SIZE, "community")
        _need(type(digest) is bytes and len(digest) == 32, "digest")
        _need(_uint(authors), "authors")
        return Summary(community, digest, authors, version)
    if t in (REFUSE, ERROR):
        _need(len(args) == 1 and _text(args[0]), "reason text")
        return Refuse(args[0]) if t == REFUSE else Error(args[0])
    if t == OPS:
        _need(len(args) == 1 and type(args[0]) is list, "OPS has a list")
        ops = args[0]
        _need(0 < len(ops) <= MAX_BATCH_OPS, "batch op count")
        _need(all(type(o) is bytes for o in ops), "ops are byte strings")
        return Ops(tuple(ops))
    if t == ACK:
        _need(len(args) == 1 and _uint(args[0]) and 1 <= args[0] <= 64, "ACK count")
        return Ack(args[0])
    if t == FORKS:
        _need(len(args) == 1 and type(args[0]) is list, "FORKS has a list")
        _need(0 < len(args[0]) <= MAX_PROOFS, "proof count")
        _need(all(type(p) is bytes for p in args[0]), "proofs are byte strings")
        return Forks(tuple(args[0]))
    if t in (END, SAME, DONE):
        _need(not args, f"{NAMES[t]} has no fields")
        return End() if t == END else Same() if t == SAME else Done()
    if t == RANGES:
        _need(len(args) == 1, "RANGES has a list")
        return _ranges(args[0])
    if t == WANT:
        _need(len(args) == 1 and type(args[0]) is list, "WANT has a list")
        ids = args[0]
        _need(0 < len(ids) <= MAX_WANT, "want id count")
        _need(all(type(i) is bytes and len(i) == ID_SIZE for i in ids), "want ids")
        return Want(tuple(ids))
    if t == GOT:
        _need(len(args) == 1 and type(args[0]) is list, "GOT has a list")
        runs = args[0]
        _need(0 < len(runs) <= MAX_WANT, "run count")
        for run in runs:
            _need(type(run) is list and len(run) <= MAX_RUN, "run")
            _need(all(type(o) is bytes for o in run), "ops are byte strings")
        return Got(tuple(tuple(run) for run in runs))
    raise WireError("unknown_message", f"type {t}")


class FrameReader:
    """Accumulates bytes and yields complete decoded messages (sans-IO)."""

    def __init__(self, max_frame: int = MAX_FRAME, *, compressed: bool = False):
        self._buf = bytearray()
        self._max = max_frame
        self._compressed = compressed  # a 2.1 stream: OPSZ decodes to OPS

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= LEN_PREFIX:
            n = int.from_bytes(self._buf[:LEN_PREFIX], "big")
            if n == 0 or n > self._max:
                raise WireError("frame_too_large" if n else "empty_frame", f"length {n}")
            if len(self._buf) < LEN_PREFIX + n:
                break
            body = bytes(self._buf[LEN_PREFIX : LEN_PREFIX + n])
            del self._buf[: LEN_PREFIX + n]
            out.append(decode_body(body, compressed=self._compressed))
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
