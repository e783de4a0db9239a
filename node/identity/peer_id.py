"""Member ids: the libp2p peer id of a member's Ed25519 key, written as base58 text.

A node's libp2p key is its member key, so the member id *is* the peer id (``12D3KooW...``).
The derivation is spelled out here instead of importing libp2p, because importing libp2p costs
most of a second and the identity layer must stay cheap and free of networking:

    protobuf PublicKey{ Type = Ed25519 (1), Data = 32 key bytes }
        = 08 01 12 20 <key>                          (36 bytes)
    identity multihash (code 0x00, length 36)
        = 00 24 08 01 12 20 <key>                    (38 bytes)
    member id = base58btc(multihash), no multibase prefix

Keys of 42 bytes or fewer are "inlined" by libp2p (identity multihash, not SHA-256), which is
why an Ed25519 peer id carries the public key itself and can be turned back into it.
"""

from __future__ import annotations

import base58

KEY_SIZE = 32
# protobuf field 1 (varint) = 1 (Ed25519), field 2 (bytes) of length 32
_PROTOBUF_PREFIX = b"\x08\x01\x12\x20"
# identity multihash: code 0x00, digest length 36
_MULTIHASH_PREFIX = b"\x00\x24"
_PREFIX = _MULTIHASH_PREFIX + _PROTOBUF_PREFIX
_ENCODED_SIZE = len(_PREFIX) + KEY_SIZE
# base58 of 38 bytes is at most 52 characters; bound the input before decoding it
_MAX_TEXT = 60


# Every member id starts so: the base58 of the fixed prefix above and the key's first bits.
ID_START = "12D3KooW"


def looks_like_member_id(text: str) -> bool:
    """Whether ``text`` has the shape of a member id or of the start of one (``12D3KooW...``,
    in any case, as typed prefixes are matched): such text names a member by id only."""
    return text.strip().casefold().startswith(ID_START.casefold())


def holds_member_id(text: str) -> bool:
    """Whether ``text`` holds something shaped like a member id anywhere (``Bob (12D3KooW...)``
    too): a display name that does could pass for another member where ids are shown."""
    return ID_START.casefold() in text.casefold()


class MemberIdError(ValueError):
    """The text is not the member id of an Ed25519 key."""


def member_id(pubkey: bytes) -> str:
    """The member id (libp2p peer id, base58) of a 32-byte Ed25519 public key."""
    if type(pubkey) is not bytes or len(pubkey) != KEY_SIZE:
        raise ValueError("an Ed25519 public key is exactly 32 bytes")
    return base58.b58encode(_PREFIX + pubkey).decode("ascii")


def pubkey_from_member_id(text: str) -> bytes:
    """The 32-byte Ed25519 public key named by a member id. Raises :class:`MemberIdError`."""
    if not isinstance(text, str):
        raise MemberIdError(f"a member id is text, not {type(text).__name__}")
    shown = text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
    if not text or len(text) > _MAX_TEXT or not text.isascii():
        raise MemberIdError(f"{shown!r} is not a member id (expected 12D3KooW... base58 text)")
    try:
        raw = base58.b58decode(text)
    except ValueError as exc:
        raise MemberIdError(f"{shown!r} is not a member id: not base58 ({exc})") from exc
    if len(raw) != _ENCODED_SIZE or not raw.startswith(_PREFIX):
        raise MemberIdError(
            f"{shown!r} is not a member id: not an inlined Ed25519 libp2p peer id "
            "(expected 12D3KooW...)"
        )
    pubkey = raw[len(_PREFIX) :]
    # base58 has no single spelling for leading zero bytes; accept only the canonical text
    if member_id(pubkey) != text:
        raise MemberIdError(f"{shown!r} is not a member id: non-canonical base58")
    return pubkey
