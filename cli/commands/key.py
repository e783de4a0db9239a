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
from .node_cmds import key_path

key = group("key", help="Back up, restore and re-protect this node's member key.")


@key.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(file: Path) -> None:
    """Write an encrypted backup of the key to FILE, under a passphrase of its own
    (asked twice, or $WE_NEW_PASSPHRASE). Restore it with `we key import FILE`."""
    from node.identity.keystore import export_key

    o = obj()
    ident = export_key(key_path(o.data_dir), file)
    data = {"member_id": ident.member_id, "file": str(file)}

    def render(c, d):
        c.print(f"Wrote a key backup of {d['member_id']} to {d['file']}.")
        c.print(
            "Keep it offline. Restore it with `we key import FILE` into a new data dir: that "
            "node checks your chain with peers before it signs, so it cannot fork it."
        )

    emit(o, data, render)


@key.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Restore a key backup (from `we key export`) into this data dir, which must have no
    key yet. The node learns your chain from peers before it signs ($WE_PASSPHRASE: the
    backup's passphrase, which the restored key keeps)."""
    from node.identity.chainguard import mark_restored
    from node.identity.keystore import import_key

    o = obj()
    dest = key_path(o.data_dir)
    if dest.exists():
        raise UserError(
            f"{o.data_dir} already has a key",
            hint="import into a new data dir: `we --data-dir NEW key import FILE`",
            code="key_exists",
            exit_code=1,
        )
    o.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ident = import_key(file, dest, None)
    mark_restored(o.data_dir, ident.public_key)
    data = {"member_id": ident.member_id, "data_dir": str(o.data_dir)}

    def render(c, d):
        c.print(f"Restored {d['member_id']} into {d['data_dir']}.")
        c.print(
            "Next: `we daemon` and join your communities again; the node signs in a community "
            "once a peer there has confirmed your chain (`we status` shows it)."
        )

    emit(o, data, render)


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
