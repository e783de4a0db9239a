"""`we key`: back up, restore and re-protect the member key; accept a moved data dir.

A key backup holds only the key (encrypted), never the store: restoring a whole data dir from
an old backup would sign at seqs the key already used (the chain guard stops that; see
``node/identity/chainguard.py``). ``we key import`` puts a key backup into a new data dir,
whose node then learns the member's chain from peers before it signs.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..context import group, obj
from ..errors import UserError
from ..output import emit
from ._common import community_option, in_community
from .node_cmds import key_path

key = group("key", help="Back up, restore and re-protect this node's member key.")


@key.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(file: Path) -> None:
    """Write an encrypted backup of the key to FILE, under a passphrase of its own
    (asked twice, or $WE_NEW_PASSPHRASE). Restore it with `we key import FILE`."""
    from node.identity.device import load_cert
    from node.identity.keystore import export_key

    o = obj()
    cert = load_cert(o.data_dir)  # a device's backup carries its certificate
    extra = {"device_cert": cert.to_json()} if cert is not None else None
    ident = export_key(key_path(o.data_dir), file, extra=extra)
    data = {"member_id": ident.member_id, "file": str(file)}

    def render(c, d):
        c.print(f"Wrote a key backup of {d['member_id']} to {d['file']}.")
        c.print(
            "Keep it offline. Restore it with `we key import FILE` into a new data dir: that "
            "node signs with a new key of its own, certified by this one, so no copy can fork "
            "your chain (`--same-key` restores this very key, and the node then waits for "
            "peers to confirm your chain before it signs)."
        )

    emit(o, data, render)


@key.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--same-key",
    is_flag=True,
    help="Restore the backed-up key itself instead of a new device of it (only when no other "
    "copy of it will ever sign again; the node first learns its chain from peers).",
)
def import_(file: Path, same_key: bool) -> None:
    """Set up this data dir (which must have no key yet) from FILE: a key backup (`we key
    export`) or a device file (`we device add`).

    From a backup, this node gets a NEW key, certified by the backed-up one as a device of
    the same member: it signs for you without ever touching the old key's chain, so an old
    backup, or a laptop that still runs, can never fork it. $WE_PASSPHRASE: the file's
    passphrase, which this node's key keeps."""
    from node.identity import Identity
    from node.identity.chainguard import mark_restored
    from node.identity.device import DeviceCert, certify, save_cert
    from node.identity.keyfile import CorruptKeystoreError
    from node.identity.keystore import import_key, read_extra, unlock_secret

    o = obj()
    dest = key_path(o.data_dir)
    if dest.exists():
        raise UserError(
            f"{o.data_dir} already has a key",
            hint="import into a new data dir: `we --data-dir NEW key import FILE`",
            code="key_exists",
            exit_code=1,
        )
    try:
        carried = read_extra(file, "device_cert")
    except CorruptKeystoreError as exc:  # its own hint would send us back here
        raise UserError(
            f"{file}: {exc.problem}",
            hint="import the file `we key export` or `we device add` wrote; if that file is "
            "damaged, another copy of it",
            code="damaged_keystore",
        ) from None
    o.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert = DeviceCert.from_json(carried).check() if carried else None
    if same_key or read_extra(file, "device_new"):
        ident = import_key(file, dest, None)  # this very key: wait for peers before signing
        mark_restored(o.data_dir, ident.public_key)
        how = "key"
    else:
        secret = unlock_secret(file)
        backed_up = Identity.load(file, secret)
        member = cert.member if cert is not None else backed_up.public_key
        ident = Identity.generate()
        cert = certify(backed_up, member, ident.public_key)
        ident.save(dest, secret)
        how = "device"
    if cert is not None:
        save_cert(o.data_dir, cert)
    member_id = _member_id(cert.member if cert is not None else ident.public_key)
    data = {"member_id": member_id, "key": ident.member_id, "as": how, "data_dir": str(o.data_dir)}

    def render(c, d):
        if d["as"] == "device":
            c.print(f"This data dir is a new device of {d['member_id']} (key {d['key']}).")
            c.print(
                "Next: `we daemon`, then `we community join` your communities: the device "
                "links itself there, and everything it signs counts as yours."
            )
        else:
            c.print(f"Restored {d['key']} into {d['data_dir']}.")
            c.print(
                "Next: `we daemon` and join your communities again; the node signs in a "
                "community once a peer there has confirmed its chain (`we status` shows it)."
            )

    emit(o, data, render)


def _member_id(key_: bytes) -> str:
    from node.identity import member_id

    return member_id(key_)


@key.command("passwd")
def passwd() -> None:
    """Change the key's passphrase (the current one: asked or $WE_PASSPHRASE; the new one:
    asked twice or $WE_NEW_PASSPHRASE)."""
    from node.identity.keystore import change_passphrase

    o = obj()
    ident = change_passphrase(key_path(o.data_dir))
    emit(
        o,
        {"member_id": ident.member_id, "changed": True},
        lambda c, d: c.print("Passphrase changed. A running daemon keeps the key it has."),
    )


@key.command("adopt")
def adopt() -> None:
    """Accept this data dir's store as your whole chain: after a move whose old copy will
    never run again, or a restore of ops that were never sent to anyone. Signing then
    continues from what the store holds."""
    o = obj()
    data = o.backend().call("adopt_chain")

    def render(c, d):
        c.print("This data dir's chain is adopted: the node signs from what its store holds.")
        c.print("If another copy of this key ever signs again, your chain forks.")

    emit(o, data, render)


device = group("device", help="Your other devices: keys that sign for you, each its own chain.")


@device.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def device_add(file: Path) -> None:
    """Make a key for a new device of yours and write it, with the certificate this node's
    key signs for it, to FILE, under a passphrase of its own (asked twice, or
    $WE_NEW_PASSPHRASE). On the new device: `we key import FILE`, then `we daemon`."""
    from node.identity import Identity
    from node.identity.device import certify, load_cert

    o = obj()
    if file.exists():
        raise UserError(f"{file} exists", hint="name a new file", code="file_exists")
    signer = Identity.load(key_path(o.data_dir))
    mine = load_cert(o.data_dir)
    member = mine.member if mine is not None else signer.public_key
    new = Identity.generate()
    cert = certify(signer, member, new.public_key)
    from node.identity.passphrase import new_passphrase

    extra = {"device_cert": cert.to_json(), "device_new": True}
    new.save(file, new_passphrase(file), extra=extra)
    data = {"member_id": _member_id(member), "device": new.member_id, "file": str(file)}

    def render(c, d):
        c.print(f"Wrote a new device key {d['device']} to {d['file']}.")
        c.print(
            "Move it to the device (it holds a private key: delete it once imported), then "
            "there: `we key import FILE` and `we community join` your communities."
        )

    emit(o, data, render)


def _key_of(b, cid: str, text: str) -> str:
    """The hex key of a device (or of the member itself) of this member from a member id,
    or a hex or member id prefix."""
    from node.identity import member_id

    st = b.call("status")
    rows = b.query("devices", community=cid, member=st["member_key"]) or []
    keys = [st["member_key"], *(r["device"] for r in rows)]
    hits = [k for k in keys if k.startswith(text.lower()) or member_id(bytes.fromhex(k)) == text]
    hits = hits or [k for k in keys if member_id(bytes.fromhex(k)).startswith(text)]
    if len(set(hits)) != 1:
        raise UserError(
            f"{text!r} names {'no' if not hits else 'more than one'} key of yours here",
            hint="`we device list` shows your keys; give more of one",
            code="ambiguous" if hits else "unknown_device",
            exit_code=3,
        )
    return hits[0]


@device.command("list")
@community_option
def device_list(community) -> None:
    """Your keys in a community: the member key and every linked device, with its state."""
    from node.identity import member_id

    o, b, cid = in_community(community)
    st = b.call("status")
    rows = b.query("devices", community=cid, member=st["member_key"]) or []
    here = st["public_key"]
    out = [
        {
            "key": st["member_key"],
            "member_id": member_id(bytes.fromhex(st["member_key"])),
            "role": "member key",
            "status": "active"
            if b.query("key_cut", community=cid, member=st["member_key"]) is None
            else "revoked",
            "this_node": st["member_key"] == here,
        }
    ]
    for r in rows:
        out.append(
            {
                "key": r["device"],
                "member_id": member_id(bytes.fromhex(r["device"])),
                "role": "device",
                "status": r["status"],
                "linked_ts": r["ts"],
                "this_node": r["device"] == here,
            }
        )

    def render(c, d):
        for r in d["devices"]:
            mark = "  (this node)" if r["this_node"] else ""
            c.print(f"{r['member_id']}  {r['role']:<10} {r['status']}{mark}")

    emit(o, {"community": cid, "devices": out}, render)


@device.command("revoke")
@click.argument("key_or_id")
@community_option
def device_revoke(key_or_id: str, community) -> None:
    """Revoke one of your keys (a lost laptop): what it signs from now on, or signed without
    having seen this, does not count, and devices it added that nobody had seen are revoked
    with it."""
    o, b, cid = in_community(community)
    target = _key_of(b, cid, key_or_id)
    op = b.publish(cid, "device.revoke", {"device": "hex:" + target})
    emit(
        o,
        {"community": cid, "device": target, "op_id": op["op_id"]},
        lambda c, d: c.print(f"Revoked key {target[:16]} in community {cid[:12]}."),
    )
