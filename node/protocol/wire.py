"""Sync wire format: length-prefixed canonical CBOR frames (``specs/sync.md``).

A frame is a 4-byte big-endian length ``N`` (1 <= N <= MAX_FRAME) followed by ``N`` bytes of
canonical CBOR encoding one message: an array whose first element is the message type.
Decoding is strict (canonical form, exact shapes, bounds) so that garbage from a peer becomes a
clear :class:`WireError` instead of an exception deep inside the node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2

from node.crdt.op import ID_SIZE, KEY_SIZE, canonical

VERSION = 1
PROTOCOL_ID = "/we/sync/1.0.0"
MAX_FRAME = 1024 * 1024  # a frame never exceeds 1 MiB
LEN_PREFIX = 4
MAX_AUTHORS = 10_000  # heights entries in one hello
MAX_BATCH_OPS = 512
MAX_BATCH_BYTES = 512 * 1024  # ops payload per batch (one op of up to 64 KiB always fits)
MAX_PROOFS = 64  # fork proofs in one FORKS message
HEAD_PREFIX = 8  # bytes of the head op id carried in heights (detects divergent chains)
MAX_REASON = 200

HELLO, REFUSE, OPS, ACK, FORKS, END, ERROR, SUMMARY, SAME = range(9)
NAMES = {
    0: "HELLO",
    1: "REFUSE",
    2: "OPS",
    3: "ACK",
    4: "FORKS",
    5: "END",
    6: "ERROR",
    7: "SUMMARY",
    8: "SAME",
}


class WireError(ValueError):
    """Bytes from a peer that are not a valid frame/message. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class Height:
    author: bytes
    seq: int
    head: bytes  # first HEAD_PREFIX bytes of the id of the author's op at ``seq``


@dataclass(frozen=True, slots=True)
class Hello:
    community: bytes
    heights: tuple[Height, ...]  # sorted by author, unique
    forked: tuple[bytes, ...]  # authors this side holds a fork proof for, sorted
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
    pass


@dataclass(frozen=True, slots=True)
class Error:
    reason: str


@dataclass(frozen=True, slots=True)
class Summary:
    """A HELLO condensed to a digest: what an initiator with many authors sends first."""

    community: bytes
    digest: bytes  # digest_of(the HELLO it stands for)
    authors: int
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Same:
    """The responder's answer to a SUMMARY whose digest equals its own HELLO's."""


Message = Hello | Refuse | Ops | Ack | Forks | End | Error | Summary | Same


def digest_of(hello: Hello) -> bytes:
    """SHA-256 of the canonical [heights, forked] part of a HELLO (community and version are
    compared separately)."""
    obj = to_obj(hello)
    return hashlib.sha256(canonical([obj[3], obj[4]])).digest()


def to_obj(msg: Message) -> list[Any]:
    if isinstance(msg, Hello):
        hs = [[h.author, h.seq, h.head] for h in msg.heights]
        return [HELLO, msg.version, msg.community, hs, list(msg.forked)]
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
    if isinstance(msg, Summary):
        return [SUMMARY, msg.version, msg.community, msg.digest, msg.authors]
    if isinstance(msg, Same):
        return [SAME]
    raise TypeError(f"not a sync message: {msg!r}")


def encode(msg: Message) -> bytes:
    """One complete frame (length prefix + canonical CBOR)."""
    body = canonical(to_obj(msg))
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


def decode_body(body: bytes) -> Message:
    """Decode the CBOR part of one frame into a message, strictly."""
    try:
        obj = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises several exception types on garbage
        raise WireError("malformed", f"not valid CBOR ({exc.__class__.__name__})") from exc
    _need(type(obj) is list and len(obj) >= 1 and type(obj[0]) is int, "not a typed array")
    if canonical(obj) != body:
        raise WireError("not_canonical", "frame is not canonical CBOR")
    t, args = obj[0], obj[1:]
    if t == HELLO:
        _need(len(args) == 4, "HELLO has 4 fields")
        version, community, hs, forked = args
        _need(_uint(version), "version")
        _need(type(community) is bytes and len(community) == ID_SIZE, "community")
        _need(type(hs) is list and len(hs) <= MAX_AUTHORS, "heights")
        heights = []
        for h in hs:
            _need(type(h) is list and len(h) == 3, "height entry")
            a, s, head = h
            _need(type(a) is bytes and len(a) == KEY_SIZE, "height author")
            _need(_uint(s) and s >= 1, "height seq")
            _need(type(head) is bytes and len(head) == HEAD_PREFIX, "height head")
            heights.append(Height(a, s, head))
        _need(all(x.author < y.author for x, y in zip(heights, heights[1:])), "heights order")
        _need(type(forked) is list and len(forked) <= MAX_AUTHORS, "forked")
        _need(all(type(a) is bytes and len(a) == KEY_SIZE for a in forked), "forked author")
        _need(all(x < y for x, y in zip(forked, forked[1:])), "forked order")
        return Hello(community, tuple(heights), tuple(forked), version)
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
    if t == END:
        _need(not args, "END has no fields")
        return End()
    if t == SUMMARY:
        _need(len(args) == 4, "SUMMARY has 4 fields")
        version, community, digest, authors = args
        _need(_uint(version), "version")
        _need(type(community) is bytes and len(community) == ID_SIZE, "community")
        _need(type(digest) is bytes and len(digest) == 32, "digest")
        _need(_uint(authors) and authors <= MAX_AUTHORS, "authors")
        return Summary(community, digest, authors, version)
    if t == SAME:
        _need(not args, "SAME has no fields")
        return Same()
    raise WireError("unknown_message", f"type {t}")


class FrameReader:
    """Accumulates bytes and yields complete decoded messages (sans-IO)."""

    def __init__(self, max_frame: int = MAX_FRAME):
        self._buf = bytearray()
        self._max = max_frame

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
            out.append(decode_body(body))
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
