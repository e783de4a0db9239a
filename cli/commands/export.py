"""Export records as ValueFlows JSON-LD or CSV, or the exact signed ops (``--ops``) that
``we import`` reads back (for bug reports and replays).

The ops file is one JSON object: ``{"format": "we-ops/1", "community": hex, "ops": [hex],
"fork_proofs": [hex]}``: each op the exact signed CBOR bytes, author by author in seq order."""

from __future__ import annotations

import json
import sys

import click

from ..context import command
from ._common import community_option, in_community

CHUNK = 64 * 1024


@command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonld", "csv"]), default="jsonld", show_default=True
)
@click.option(
    "--what",
    type=click.Choice(["all", "offers", "needs", "contributions", "attestations"]),
    default="all",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file (default: stdout).",
)
@click.option(
    "--ops",
    "ops",
    is_flag=True,
    help="The exact signed ops of the community (for a bug report or a replay; "
    "`we import FILE` reads them), instead of records.",
)
@community_option
def export(fmt, what, output, ops, community) -> None:
    """Offers, needs, contributions and attestations as ValueFlows JSON-LD or CSV; or, with
    --ops, every signed op of the community."""
    o, b, cid = in_community(community)
    if ops:
        text = json.dumps(_all_ops(b, cid), sort_keys=True) + "\n"
        fmt, what = "we-ops/1", "ops"
    else:
        data = b.query("export", community=cid, format=fmt, what=what)
        text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=True) + "\n"
    if not output:
        sys.stdout.write(text)
        return
    from rich.console import Console
    from rich.progress import Progress

    raw = text.encode()
    with Progress(transient=True, console=Console(stderr=True)) as p:
        task = p.add_task(f"writing {output}", total=len(raw))
        with open(output, "wb") as f:
            for i in range(0, len(raw), CHUNK):
                f.write(raw[i : i + CHUNK])
                p.update(task, advance=len(raw[i : i + CHUNK]))
    if o.json:
        click.echo(json.dumps({"file": output, "bytes": len(raw), "format": fmt, "what": what}))
    else:
        click.echo(f"Wrote {len(raw)} bytes to {output}", err=True)


def _all_ops(b, cid: str) -> dict:
    from rich.console import Console

    ops: list[str] = []
    proofs: list[str] = []
    after = None
    with Console(stderr=True).status("reading ops...") as status:
        while True:
            page = b.call("export_ops", {"community": cid, "after": after, "limit": 2000})
            ops += page["ops"]
            proofs += page["fork_proofs"]
            status.update(f"reading ops... {len(ops)}")
            after = page["next"]
            if after is None:
                break
    return {"format": "we-ops/1", "community": cid, "ops": ops, "fork_proofs": proofs}


IMPORT_BATCH = 512 * 1024  # hex characters a request carries (the socket takes 1 MiB a line)


@command("import")
@click.argument("file", type=click.File("r"))
def import_(file) -> None:
    """Read ops written by `we export --ops` (a bug report, a backup) into this node: each is
    checked like an op from a peer; the community is followed (a daemon then syncs it)."""
    from ..context import obj
    from ..errors import bad_value
    from ..output import emit

    try:
        doc = json.load(file)
        raws = list(doc["ops"])
    except (ValueError, KeyError, TypeError):
        raise bad_value(
            f"{file.name} is not an ops file", "write one with `we export --ops -o FILE`"
        ) from None
    if doc.get("format") != "we-ops/1" or not all(isinstance(r, str) for r in raws):
        raise bad_value(f"{file.name} is not a we-ops/1 file", "write one with `we export --ops`")
    from rich.console import Console
    from rich.progress import Progress

    o = obj()
    b = o.backend()
    statuses: dict[str, int] = {}
    communities: set[str] = set()
    batch: list[str] = []
    size = 0
    # a large file takes a while (each op is checked as from a peer): how far, on a terminal
    shown = Progress(
        transient=True, console=Console(stderr=True), disable=o.json or not sys.stderr.isatty()
    )
    with shown:
        task = shown.add_task(f"importing {len(raws):,} ops", total=len(raws))
        for raw in [*raws, None]:
            if raw is None or (batch and size + len(raw) > IMPORT_BATCH):
                if batch:
                    r = b.call("import_ops", {"ops": batch})
                    for k, v in r["statuses"].items():
                        statuses[k] = statuses.get(k, 0) + v
                    communities |= set(r["communities"])
                    shown.update(task, advance=len(batch))
                batch, size = [], 0
            if raw is not None:
                batch.append(raw)
                size += len(raw)
    data = {"ops": len(raws), "statuses": statuses, "communities": sorted(communities)}
    emit(
        o,
        data,
        lambda c, d: c.print(
            f"Imported {d['ops']} ops: "
            + ", ".join(f"{n} {k}" for k, n in sorted(d["statuses"].items()))
        ),
    )
