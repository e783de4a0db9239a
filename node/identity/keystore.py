"""The member's Ed25519 identity, and its keystore file's lifecycle: create, open, change the
passphrase, export a copy, import one. The file format is in ``keyfile.py``; where the
passphrase comes from, in ``passphrase.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing

from .keyfile import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    RESTORE_KEY,
    CorruptKeystoreError,
    KeystoreExistsError,
    hex_field,
    read_doc,
    seal,
    unseal,
    write_new,
)
from .passphrase import new_passphrase, passphrase_bytes
from .peer_id import member_id


@dataclass(frozen=True, slots=True, eq=False)
class Identity:
    """An Ed25519 key pair: the member's signing key, public key and member (peer) id."""

    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> Identity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        return cls(nacl.signing.SigningKey(seed))

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def member_id(self) -> str:
        return member_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """A detached Ed25519 signature."""
        return self.signing_key.sign(message).signature

    def libp2p_keypair(self) -> Any:
        """The same key as a ``libp2p.crypto.keys.KeyPair`` for the host (imports libp2p)."""
        from libp2p.crypto.ed25519 import Ed25519PrivateKey
        from libp2p.crypto.keys import KeyPair

        private = Ed25519PrivateKey.from_bytes(bytes(self.signing_key))
        return KeyPair(private, private.get_public_key())

    def __repr__(self) -> str:  # never show the secret
        return f"Identity({self.member_id})"

    # ---- keystore ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes | None = None,
        *,
        insecure_plaintext: bool = False,
        opslimit: int = DEFAULT_OPSLIMIT,
        memlimit: int = DEFAULT_MEMLIMIT,
    ) -> Identity:
        """Generate a new identity and save it to a new keystore file at ``path``."""
        identity = cls.generate()
        identity.save(
            path,
            passphrase,
            insecure_plaintext=insecure_plaintext,
            opslimit=opslimit,
            memlimit=memlimit,
        )
        return identity

    def save(
        self,
        path: str | os.PathLike[str],
        passphrase: str | bytes | None = None,
        *,
        insecure_plaintext: bool = False,
        opslimit: int = DEFAULT_OPSLIMIT,
        memlimit: int = DEFAULT_MEMLIMIT,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Write this identity to a new keystore file (mode 0600). Never overwrites.
        ``extra``: more fields for the file (covered by its checksum), e.g. ``device_cert``."""
        path = Path(path)
        if path.exists() or path.is_symlink():  # before asking for a passphrase
            raise KeystoreExistsError(
                path, "a key already exists here; refusing to overwrite it (move it away first)"
            )
        secret = None if insecure_plaintext else passphrase_bytes(path, passphrase, confirm=True)
        data = seal(
            path,
            bytes(self.signing_key),
            self.public_key,
            secret,
            opslimit=opslimit,
            memlimit=memlimit,
            extra=extra,
        )
        write_new(path, data)

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> Identity:
        """Open a keystore file. Raises a :class:`KeystoreError` subclass saying what is wrong."""
        path = Path(path)
        doc = read_doc(path)
        seed = unseal(path, doc, lambda: passphrase_bytes(path, passphrase, confirm=False))
        identity = cls.from_seed(seed)
        if identity.public_key.hex() != doc["public_key"]:
            raise CorruptKeystoreError(
                path, "the secret key does not match the public key; " + RESTORE_KEY
            )
        return identity


def read_public_key(path: str | os.PathLike[str]) -> bytes:
    """The public key recorded in a keystore, without asking for the passphrase."""
    path = Path(path)
    return hex_field(path, read_doc(path), "public_key", 32)


def change_passphrase(
    path: str | os.PathLike[str], old: str | bytes | None = None, new: str | bytes | None = None
) -> Identity:
    """Re-encrypt the keystore at ``path`` under a new passphrase (``we key passwd``). The
    new file is written beside it, flushed, then renamed over: a crash leaves one of them."""
    path = Path(path)
    identity = Identity.load(path, old)
    secret = new_passphrase(path, new)
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    identity.save(tmp, secret)
    os.replace(tmp, path)
    return identity


def export_key(
    path: str | os.PathLike[str],
    to: str | os.PathLike[str],
    passphrase: str | bytes | None = None,
    new: str | bytes | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Identity:
    """Write an encrypted copy of the key at ``path`` to ``to`` (``we key export``), under
    a passphrase of its own. Never overwrites; the same file format as a keystore.
    ``extra``: more fields (a device key's certificate, ``device_cert``)."""
    identity = Identity.load(path, passphrase)
    identity.save(to, new_passphrase(Path(to), new), extra=extra)
    return identity


def read_extra(path: str | os.PathLike[str], name: str) -> Any:
    """A field that :meth:`Identity.save` wrote with ``extra`` (None if absent)."""
    return read_doc(Path(path)).get(name)


def unlock_secret(path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> bytes:
    """The passphrase of the keystore at ``path`` (argument, ``WE_PASSPHRASE`` or asked), as
    bytes, for opening it and protecting a key made from it with the same passphrase."""
    return passphrase_bytes(Path(path), passphrase, confirm=False)


def import_key(
    backup: str | os.PathLike[str], path: str | os.PathLike[str], passphrase: str | bytes | None
) -> Identity:
    """Check that ``backup`` opens with ``passphrase`` and copy it to ``path`` (a data dir's
    key file, which must not exist): the key keeps the backup's passphrase."""
    identity = Identity.load(backup, passphrase)
    write_new(Path(path), Path(backup).read_bytes())
    return identity
