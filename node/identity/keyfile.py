"""The keystore file: how the member's key is kept on disk (no passphrase prompting here,
no :class:`~node.identity.Identity`: bytes in and out, and every check of a damaged file).

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
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from .peer_id import member_id

MAGIC = "we-keystore"
VERSION = 1
ENCRYPTED = "argon2id-secretbox"
PLAINTEXT = "plaintext"
KDF_ALG = "argon2id13"
_argon = nacl.pwhash.argon2id
# INTERACTIVE (64 MiB, ~0.1 s) by default so a Raspberry Pi can open its key; callers may ask
# for MODERATE. Files may not ask for more than SENSITIVE (a damaged file must not exhaust RAM).
DEFAULT_OPSLIMIT = _argon.OPSLIMIT_INTERACTIVE
DEFAULT_MEMLIMIT = _argon.MEMLIMIT_INTERACTIVE
# What to do about a damaged key file. Not "restore a backup of the data dir": an old store
# would sign at seqs the key already used (the chain guard stops that, but only the key
# file needs to come back).
RESTORE_KEY = (
    "bring back just this file from a key backup (`we key import FILE` in a new data dir "
    "restores one made by `we key export`)"
)
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
    """The file is truncated, damaged, or not a keystore of a version this code reads.
    ``problem``: what is wrong with it, without what to do (which depends on the file's use)."""

    def __init__(self, path: str | os.PathLike[str], message: str, problem: str = ""):
        super().__init__(path, message)
        self.problem = problem or message


class InsecurePermissionsError(KeystoreError):
    """The file can be read or written by group or others."""


def seal(
    path: Path,
    seed: bytes,
    public_key: bytes,
    secret: bytes | None,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The bytes of a keystore file holding ``seed``: in a box under ``secret`` (a
    passphrase), or in plain text when ``secret`` is None (tests and demos). ``extra``: more
    fields (covered by the checksum)."""
    doc: dict[str, Any] = {
        "magic": MAGIC,
        "version": VERSION,
        "key_type": "ed25519",
        "public_key": public_key.hex(),
        "member_id": member_id(public_key),
    }
    if secret is None:
        doc["protection"] = PLAINTEXT
        doc["secret_seed_plaintext"] = seed.hex()
    else:
        salt = nacl.utils.random(_argon.SALTBYTES)
        key = derive(path, secret, salt, opslimit, memlimit)
        doc["protection"] = ENCRYPTED
        doc["kdf"] = {
            "alg": KDF_ALG,
            "salt": salt.hex(),
            "opslimit": opslimit,
            "memlimit": memlimit,
        }
        doc["box"] = bytes(nacl.secret.SecretBox(key).encrypt(seed)).hex()
    doc.update(extra or {})
    doc["checksum"] = checksum(doc)
    return (json.dumps(doc, indent=2) + "\n").encode()


def unseal(path: Path, doc: Mapping[str, Any], secret: Callable[[], bytes]) -> bytes:
    """The 32-byte seed of a keystore document (:func:`read_doc`); ``secret()`` (the
    passphrase) is asked for only when the seed is in a box."""
    if doc["protection"] == PLAINTEXT:
        seed = hex_field(path, doc, "secret_seed_plaintext", 32)
    else:
        kdf = doc["kdf"]
        key = derive(
            path, secret(), bytes.fromhex(kdf["salt"]), kdf.get("opslimit"), kdf.get("memlimit")
        )
        try:
            seed = nacl.secret.SecretBox(key).decrypt(bytes.fromhex(doc["box"]))
        except nacl.exceptions.CryptoError:
            raise WrongPassphraseError(
                path, "wrong passphrase (check it, or WE_PASSPHRASE, and try again)"
            ) from None
    if len(seed) != 32:
        raise CorruptKeystoreError(path, "secret seed is not 32 bytes; " + RESTORE_KEY)
    return seed


def derive(path: Path, secret: bytes, salt: bytes, opslimit: Any, memlimit: Any) -> bytes:
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


def checksum(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_new(path: Path, data: bytes) -> None:
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


def read_doc(path: Path) -> dict[str, Any]:
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
        data = f.read(MAX_FILE_SIZE + 1)
    doc = parse(path, data)  # first: a file that is no key at all is said to be none
    if mode & 0o077:
        raise InsecurePermissionsError(
            path,
            f"mode {stat.S_IMODE(mode):04o} lets other users read or change the key; "
            f"run `chmod 600 {path}` (and consider the key exposed)",
        )
    return doc


def parse(path: Path, data: bytes) -> dict[str, Any]:
    def corrupt(what: str) -> CorruptKeystoreError:
        return CorruptKeystoreError(path, f"{what}; the file is damaged; " + RESTORE_KEY, what)

    def alien(what: str) -> CorruptKeystoreError:
        problem = f"not a `we` key file ({what})"
        return CorruptKeystoreError(path, f"{problem}; if it was one, " + RESTORE_KEY, problem)

    if len(data) > MAX_FILE_SIZE:
        raise alien(f"over {MAX_FILE_SIZE} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise corrupt("not valid JSON (truncated?)") from None
    if not isinstance(doc, dict) or doc.get("magic") != MAGIC:
        raise alien(f"no {MAGIC!r} mark")
    if doc.get("version") != VERSION:
        raise CorruptKeystoreError(
            path, f"keystore version {doc.get('version')!r} is not supported; upgrade `we`"
        )
    if doc.get("checksum") != checksum(doc):
        raise corrupt("checksum mismatch")
    if doc.get("key_type") != "ed25519":
        raise corrupt("key_type is not ed25519")
    if doc.get("member_id") != member_id(hex_field(path, doc, "public_key", 32)):
        raise corrupt("member_id does not match public_key")
    protection = doc.get("protection")
    if protection == ENCRYPTED:
        kdf = doc.get("kdf")
        if not isinstance(kdf, dict) or kdf.get("alg") != KDF_ALG:
            raise corrupt("kdf section missing")
        hex_field(path, kdf, "salt", _argon.SALTBYTES)
        if not isinstance(doc.get("box"), str):
            raise corrupt("box missing")
        try:
            bytes.fromhex(doc["box"])
        except ValueError:
            raise corrupt("box is not hex") from None
    elif protection != PLAINTEXT:
        raise corrupt(f"unknown protection {protection!r}")
    return doc


def hex_field(path: Path, doc: Mapping[str, Any], name: str, size: int) -> bytes:
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
