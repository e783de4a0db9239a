"""The member's Ed25519 identity and its keystore file (encrypted at rest).

Keystore file format, version 1: one UTF-8 JSON object, mode 0600, never overwritten::

    {
      "magic": "we-keystore",          # identifies the file
      "version": 1,                    # format version; unknown versions are refused
      "key_type": "ed25519",
      "public_key": "<64 hex>",        # lets tools show the member id without the passphrase
      "member_id": "12D3KooW...",      # informational, must match public_key
      "protection": "argon2id-secretbox" | "plaintext",
      # protection == "argon2id-secretbox":
      "kdf": {"alg": "argon2id13", "salt": "<32 hex>", "opslimit": int, "memlimit": int},
      "box": "<hex of nonce(24) + XSalsa20-Poly1305 ciphertext of the 32-byte seed>",
      # protection == "plaintext" (only with insecure_plaintext=True, for tests and demos):
      "secret_seed_plaintext": "<64 hex>",
      "checksum": "<64 hex>"           # SHA-256 of the canonical JSON of all other fields
    }

The box key is ``argon2id(passphrase, salt, opslimit, memlimit)`` (32 bytes, PyNaCl
``nacl.pwhash.argon2id.kdf``); the box is ``nacl.secret.SecretBox``. The checksum only tells an
accidentally damaged file apart from a wrong passphrase (it is no protection: the box is).
The seed decrypted or read from the file must give ``public_key``, else the file is corrupt.

The passphrase comes from the ``passphrase`` argument, else the ``WE_PASSPHRASE`` environment
variable, else an interactive prompt (getpass) when stdin is a terminal.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from getpass import getpass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from .peer_id import member_id

MAGIC = "we-keystore"
VERSION = 1
PASSPHRASE_ENV = "WE_PASSPHRASE"
ENCRYPTED = "argon2id-secretbox"
PLAINTEXT = "plaintext"
KDF_ALG = "argon2id13"
_argon = nacl.pwhash.argon2id
# INTERACTIVE (64 MiB, ~0.1 s) by default so a Raspberry Pi can open its key; callers may ask
# for MODERATE. Files may not ask for more than SENSITIVE (a damaged file must not exhaust RAM).
DEFAULT_OPSLIMIT = _argon.OPSLIMIT_INTERACTIVE
NEW_PASSPHRASE_ENV = "WE_NEW_PASSPHRASE"  # the new one for `we key passwd` / `we key export`
# What to do about a damaged key file. Not "restore a backup of the data dir": an old store
# would sign at seqs the key already used (the chain guard stops that, but only the key
# file needs to come back).
RESTORE_KEY = (
    "bring back just this file from a key backup (`we key import FILE` in a new data dir "
    "restores one made by `we key export`)"
)
DEFAULT_MEMLIMIT = _argon.MEMLIMIT_INTERACTIVE
MAX_FILE_SIZE = 4096


class KeystoreError(Exception):
    """A keystore could not be created or opened. The message names the file and what to do."""

    def __init__(self, path: str | os.PathLike[str], message: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {message}")


class KeystoreExistsError(KeystoreError):
    """Refused to overwrite an existing key."""


class KeystoreNotFoundError(KeystoreError):
    """No keystore at that path."""


class WrongPassphraseError(KeystoreError):
    """The passphrase does not open the keystore."""


class CorruptKeystoreError(KeystoreError):
    """The file is truncated, damaged, or not a keystore of a version this code reads."""


class InsecurePermissionsError(KeystoreError):
    """The file can be read or written by group or others."""


class PassphraseUnavailableError(KeystoreError):
    """No passphrase was given, WE_PASSPHRASE is unset and there is no terminal to ask on."""


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
        if path.exists() or path.is_symlink():
            raise KeystoreExistsError(
                path, "a key already exists here; refusing to overwrite it (move it away first)"
            )
        seed = bytes(self.signing_key)
        doc: dict[str, Any] = {
            "magic": MAGIC,
            "version": VERSION,
            "key_type": "ed25519",
            "public_key": self.public_key.hex(),
            "member_id": self.member_id,
        }
        if insecure_plaintext:
            doc["protection"] = PLAINTEXT
            doc["secret_seed_plaintext"] = seed.hex()
        else:
            secret = _passphrase_bytes(path, passphrase, confirm=True)
            salt = nacl.utils.random(_argon.SALTBYTES)
            key = _derive(path, secret, salt, opslimit, memlimit)
            doc["protection"] = ENCRYPTED
            doc["kdf"] = {
                "alg": KDF_ALG,
                "salt": salt.hex(),
                "opslimit": opslimit,
                "memlimit": memlimit,
            }
            doc["box"] = bytes(nacl.secret.SecretBox(key).encrypt(seed)).hex()
        doc.update(extra or {})
        doc["checksum"] = _checksum(doc)
        _write_new(path, (json.dumps(doc, indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> Identity:
        """Open a keystore file. Raises a :class:`KeystoreError` subclass saying what is wrong."""
        path = Path(path)
        doc = _read_doc(path)
        if doc["protection"] == PLAINTEXT:
            seed = _hex(path, doc, "secret_seed_plaintext", 32)
        else:
            kdf = doc["kdf"]
            secret = _passphrase_bytes(path, passphrase, confirm=False)
            salt = bytes.fromhex(kdf["salt"])
            key = _derive(path, secret, salt, kdf.get("opslimit"), kdf.get("memlimit"))
            try:
                seed = nacl.secret.SecretBox(key).decrypt(bytes.fromhex(doc["box"]))
            except nacl.exceptions.CryptoError:
                raise WrongPassphraseError(
                    path, "wrong passphrase (check it, or WE_PASSPHRASE, and try again)"
                ) from None
        if len(seed) != 32:
            raise CorruptKeystoreError(path, "secret seed is not 32 bytes; " + RESTORE_KEY)
        identity = cls.from_seed(seed)
        if identity.public_key.hex() != doc["public_key"]:
            raise CorruptKeystoreError(
                path, "the secret key does not match the public key; " + RESTORE_KEY
            )
        return identity


def read_public_key(path: str | os.PathLike[str]) -> bytes:
    """The public key recorded in a keystore, without asking for the passphrase."""
    path = Path(path)
    return _hex(path, _read_doc(path), "public_key", 32)


def resolve_passphrase(
    path: Path,
    passphrase: str | bytes | None,
    *,
    confirm: bool,
    env: Mapping[str, str] = os.environ,
) -> str | bytes:
    """Explicit argument, else ``WE_PASSPHRASE``, else a prompt on a terminal."""
    if passphrase is not None:
        return passphrase
    if env.get(PASSPHRASE_ENV):
        return env[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise PassphraseUnavailableError(
            path, f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal to be asked"
        )
    first = getpass(f"Passphrase for {path}: ")
    if confirm and getpass("Repeat the passphrase: ") != first:
        raise KeystoreError(path, "the two passphrases differ; try again")
    return first


def _passphrase_bytes(path: Path, passphrase: str | bytes | None, *, confirm: bool) -> bytes:
    secret = resolve_passphrase(path, passphrase, confirm=confirm)
    secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not secret:
        raise KeystoreError(
            path, "empty passphrase; give one (or use insecure_plaintext for tests and demos)"
        )
    return secret


def _derive(path: Path, secret: bytes, salt: bytes, opslimit: Any, memlimit: Any) -> bytes:
    ok = (
        type(opslimit) is int
        and type(memlimit) is int
        and len(salt) == _argon.SALTBYTES
        and _argon.OPSLIMIT_MIN <= opslimit <= _argon.OPSLIMIT_SENSITIVE
        and _argon.MEMLIMIT_MIN <= memlimit <= _argon.MEMLIMIT_SENSITIVE
    )
    if not ok:
        raise CorruptKeystoreError(path, "key derivation parameters out of range; " + RESTORE_KEY)
    return _argon.kdf(
        nacl.secret.SecretBox.KEY_SIZE, secret, salt, opslimit=opslimit, memlimit=memlimit
    )


def _checksum(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise KeystoreExistsError(
            path, "a key already exists here; refusing to overwrite it (move it away first)"
        ) from None
    try:
        os.fchmod(fd, 0o600)  # the umask may only remove bits; make the mode exact
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)  # never leave a half-written key behind
        raise
    os.close(fd)


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeystoreNotFoundError(path, "no keystore here; create one first") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeystoreError(
                path, "is a symbolic link; keystores are opened only as real files (use its target)"
            ) from None
        raise KeystoreError(path, f"cannot open the keystore ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise CorruptKeystoreError(path, "not a regular file")
        if mode & 0o077:
            raise InsecurePermissionsError(
                path,
                f"mode {stat.S_IMODE(mode):04o} lets other users read or change the key; "
                f"run `chmod 600 {path}` (and consider the key exposed)",
            )
        data = f.read(MAX_FILE_SIZE + 1)
    return _parse(path, data)


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    def corrupt(what: str) -> CorruptKeystoreError:
        return CorruptKeystoreError(path, f"{what}; the file is damaged; " + RESTORE_KEY)

    if len(data) > MAX_FILE_SIZE:
        raise corrupt("file too large for a keystore")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise corrupt("not valid JSON (truncated?)") from None
    if not isinstance(doc, dict) or doc.get("magic") != MAGIC:
        raise corrupt("not a we keystore (magic missing)")
    if doc.get("version") != VERSION:
        raise CorruptKeystoreError(
            path, f"keystore version {doc.get('version')!r} is not supported; upgrade `we`"
        )
    if doc.get("checksum") != _checksum(doc):
        raise corrupt("checksum mismatch")
    if doc.get("key_type") != "ed25519":
        raise corrupt("key_type is not ed25519")
    if doc.get("member_id") != member_id(_hex(path, doc, "public_key", 32)):
        raise corrupt("member_id does not match public_key")
    protection = doc.get("protection")
    if protection == ENCRYPTED:
        kdf = doc.get("kdf")
        if not isinstance(kdf, dict) or kdf.get("alg") != KDF_ALG:
            raise corrupt("kdf section missing")
        _hex(path, kdf, "salt", _argon.SALTBYTES)
        if not isinstance(doc.get("box"), str):
            raise corrupt("box missing")
        try:
            bytes.fromhex(doc["box"])
        except ValueError:
            raise corrupt("box is not hex") from None
    elif protection != PLAINTEXT:
        raise corrupt(f"unknown protection {protection!r}")
    return doc


def _hex(path: Path, doc: Mapping[str, Any], name: str, size: int) -> bytes:
    value = doc.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise CorruptKeystoreError(
            path, f"{name} is not {size} bytes of hex; the file is damaged; " + RESTORE_KEY
        )
    return raw


def new_passphrase(path: Path, passphrase: str | bytes | None = None) -> bytes:
    """A new passphrase: the argument, else ``WE_NEW_PASSPHRASE``, else asked twice."""
    env = (
        {PASSPHRASE_ENV: os.environ[NEW_PASSPHRASE_ENV]}
        if os.environ.get(NEW_PASSPHRASE_ENV)
        else {}
    )
    if passphrase is None and not env and sys.stdin.isatty():
        first = getpass(f"New passphrase for {path}: ")
        if getpass("Repeat the new passphrase: ") != first:
            raise KeystoreError(path, "the two passphrases differ; try again")
        passphrase = first
    secret = resolve_passphrase(path, passphrase, confirm=False, env=env)
    if not secret:
        raise KeystoreError(path, f"empty passphrase; give one ({NEW_PASSPHRASE_ENV})")
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


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
    return _read_doc(Path(path)).get(name)


def unlock_secret(path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> bytes:
    """The passphrase of the keystore at ``path`` (argument, ``WE_PASSPHRASE`` or asked), as
    bytes, for opening it and protecting a key made from it with the same passphrase."""
    return _passphrase_bytes(Path(path), passphrase, confirm=False)


def import_key(
    backup: str | os.PathLike[str], path: str | os.PathLike[str], passphrase: str | bytes | None
) -> Identity:
    """Check that ``backup`` opens with ``passphrase`` and copy it to ``path`` (a data dir's
    key file, which must not exist): the key keeps the backup's passphrase."""
    identity = Identity.load(backup, passphrase)
    _write_new(Path(path), Path(backup).read_bytes())
    return identity
