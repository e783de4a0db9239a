"""Export records as ValueFlows JSON-LD or CSV."""

from __future__ import annotations

import sys

import click

from ..context import command, obj
from ._common import community_option, pick_community


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
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    data = b.query("export", community=cid, format=fmt, what=what)
    text = (
        data if isinstance(data, str) else __import__("json").dumps(data, indent=2, sort_keys=True)
    )
    if output:
        from rich.progress import Progress

        with Progress(
            transient=True, console=__import__("rich.console").console.Console(stderr=True)
        ) as p:
            task = p.add_task(f"writing {output}", total=len(text))
            with open(output, "w") as f:
                for i in range(0, len(text), 65536):
                    f.write(text[i : i + 65536])
                    p.update(task, advance=min(65536, len(text) - i))
        if o.json:
            click.echo(__import__("json").dumps({"file": output, "bytes": len(text.encode())}))
        else:
            click.echo(f"Wrote {output}", err=True)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
