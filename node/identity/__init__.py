"""Identity: the member's Ed25519 key, its encrypted keystore, and member (peer) ids.

Importing this package starts no networking and does not import libp2p (only
:meth:`Identity.libp2p_keypair` does, when the host needs the key).
"""

from .keystore import (
    PASSPHRASE_ENV,
    CorruptKeystoreError,
    Identity,
    InsecurePermissionsError,
    KeystoreError,
    KeystoreExistsError,
    KeystoreNotFoundError,
    PassphraseUnavailableError,
    WrongPassphraseError,
    read_public_key,
)
from .peer_id import MemberIdError, member_id, pubkey_from_member_id

__all__ = [
    "PASSPHRASE_ENV",
    "CorruptKeystoreError",
    "Identity",
    "InsecurePermissionsError",
    "KeystoreError",
    "KeystoreExistsError",
    "KeystoreNotFoundError",
    "MemberIdError",
    "PassphraseUnavailableError",
    "WrongPassphraseError",
    "member_id",
    "pubkey_from_member_id",
    "read_public_key",
]
