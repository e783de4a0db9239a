"""Ed25519 checks in a process of their own: ``python -m node.crdt.sigcheck``.

A store checks the signatures of a large batch on the machine's second core. A thread cannot
do that well: PyNaCl lets go of the GIL inside ``crypto_sign_open``, but the thread needs it
back after every signature, and the ingesting thread (decoding and applying, pure Python)
holds it up to the interpreter's switch interval each time, so a worker thread checked about
half what it could. This process has its own interpreter and imports only ``op.py`` (and
``opform.py``).

The exchange over its stdin and stdout is frames, each a 4-byte big-endian length then:

* request: serial (4 bytes), then per signature: author (32), signature (64), the length of
  the signed message (4), the message;
* reply: the request's serial (4), then the 4-byte positions (in the request) of the
  signatures that do not verify.

The framing is plain functions (no I/O); :func:`serve` is the loop around them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import BinaryIO

from node.crdt.op import KEY_SIZE, SIG_SIZE, OpError, verify_signature

_U32 = 4


def _u32(n: int) -> bytes:
    return n.to_bytes(_U32, "big")


def frame(payload: bytes) -> bytes:
    return _u32(len(payload)) + payload


def pack_request(serial: int, checks: Iterable[tuple[bytes, bytes, bytes]]) -> bytes:
    """``checks``: (author, signature, signed message) each."""
    parts = [_u32(serial)]
    for author, sig, message in checks:
        parts += (author, sig, _u32(len(message)), message)
    return frame(b"".join(parts))


def check_request(payload: bytes) -> bytes:
    """The reply payload to a request payload: its serial, then the failed positions."""
    view = memoryview(payload)
    bad, pos, n = [], _U32, 0
    while pos < len(payload):
        author = bytes(view[pos : pos + KEY_SIZE])
        pos += KEY_SIZE
        sig = bytes(view[pos : pos + SIG_SIZE])
        pos += SIG_SIZE
        size = int.from_bytes(view[pos : pos + _U32], "big")
        pos += _U32
        try:
            verify_signature(author, bytes(view[pos : pos + size]), sig)
        except OpError:
            bad.append(n)
        pos += size
        n += 1
    return payload[:_U32] + b"".join(map(_u32, bad))


def unpack_reply(payload: bytes) -> tuple[int, list[int]]:
    """(serial, positions of the signatures that do not verify)."""
    serial = int.from_bytes(payload[:_U32], "big")
    bad = [int.from_bytes(payload[i : i + _U32], "big") for i in range(_U32, len(payload), _U32)]
    return serial, bad


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer requests until the input ends (the store's process closed it or died)."""
    while True:
        head = _read_exactly(inp, _U32)
        if head is None:
            return
        payload = _read_exactly(inp, int.from_bytes(head, "big"))
        if payload is None:
            return
        out.write(frame(check_request(payload)))
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
