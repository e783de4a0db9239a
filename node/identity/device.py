"""This node's device certificate: when the node's key is a *device* of a member (another key
of the same person: ``specs/records.md`` §3.7), ``device.cert`` in the data dir holds the
certificate that a key of the member signed for it. The node then signs for that member: its
first op in a community is the ``device.link`` that carries the certificate.

A certificate is not an op: signing one takes no position in any chain, so the key that signs
it (a root restored from a backup, a laptop) can never fork its chain by doing so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from node.crdt.op import OpError, verify_signature
from node.crdt.records.devices import cert_message

CERT_FILE = "device.cert"


class CertError(Exception):
    """A certificate that does not verify, or a file that holds none."""


@dataclass(frozen=True)
class DeviceCert:
    member: bytes  # the member's root key: the member id
    device: bytes  # the key certified
    by: bytes  # the key that signed (the root, or a linked device of the member)
    sig: bytes

    def body(self) -> dict:
        """The ``device.link`` body."""
        return {"member": self.member, "by": self.by, "sig": self.sig}

    def check(self) -> DeviceCert:
        try:
            verify_signature(self.by, cert_message(self.member, self.device), self.sig)
        except OpError:
            raise CertError("the device certificate does not verify") from None
        return self

    def to_json(self) -> dict:
        return {k: getattr(self, k).hex() for k in ("member", "device", "by", "sig")}

    @classmethod
    def from_json(cls, doc: dict) -> DeviceCert:
        try:
            return cls(**{k: bytes.fromhex(doc[k]) for k in ("member", "device", "by", "sig")})
        except (KeyError, TypeError, ValueError):
            raise CertError("not a device certificate") from None


def certify(signer, member: bytes, device: bytes) -> DeviceCert:
    """A certificate for ``device`` as a device of ``member``, signed by ``signer`` (an
    :class:`~node.identity.Identity`: the member's root or one of its devices)."""
    sig = signer.sign(cert_message(member, device))
    return DeviceCert(member, device, signer.public_key, sig)


def load_cert(data_dir: str | os.PathLike[str]) -> DeviceCert | None:
    path = Path(data_dir) / CERT_FILE
    if not path.exists():
        return None
    try:
        return DeviceCert.from_json(json.loads(path.read_text())).check()
    except (ValueError, CertError) as exc:
        raise CertError(f"{path}: {exc}; remove it to sign as this key alone") from None


def save_cert(data_dir: str | os.PathLike[str], cert: DeviceCert) -> None:
    path = Path(data_dir) / CERT_FILE
    tmp = path.with_name(CERT_FILE + ".new")
    tmp.write_text(json.dumps(cert.to_json(), indent=1) + "\n")
    os.replace(tmp, path)
