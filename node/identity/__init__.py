"""Identity: the member's Ed25519 key (``keystore.py``), its encrypted file (``keyfile.py``) and
passphrase (``passphrase.py``), member (peer) ids, device keys and the chain guard.

Importing this package starts no networking and does not import libp2p (only
:meth:`Identity.libp2p_keypair` does, when the host needs the key).
"""

from .keyfile import (
    CorruptKeystoreError,
    InsecurePermissionsError,
    KeystoreError,
    KeystoreExistsError,
    KeystoreNotFoundError,
    WrongPassphraseError,
)
from .keystore import Identity, read_public_key
from .passphrase import PASSPHRASE_ENV, PassphraseUnavailableError
from .peer_id import (
    ID_START,
    MemberIdError,
    holds_member_id,
    looks_like_member_id,
    member_id,
    pubkey_from_member_id,
)

__all__ = [
    "ID_START",
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
    "holds_member_id",
    "looks_like_member_id",
    "member_id",
    "pubkey_from_member_id",
    "read_public_key",
]
