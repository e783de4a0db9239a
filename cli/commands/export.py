"""Export records as ValueFlows JSON-LD or CSV."""

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
@community_option
def export(fmt, what, output, community) -> None:
    """Offers, needs, contributions and attestations as ValueFlows JSON-LD or CSV."""
    o, b, cid = in_community(community)
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
