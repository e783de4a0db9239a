"""Export records as ValueFlows JSON-LD or CSV, or the exact signed ops (``--ops``) that
``we import`` reads back (for bug reports and replays).

The ops file is one JSON object: ``{"format": "we-ops/1", "community": hex, "ops": [hex],
"fork_proofs": [hex]}``: each op the exact signed CBOR bytes, author by author in seq order."""

from __future__ import annotations

import json
import sys

import click

from node.crdt.text import counted

from ..context import command
from ..output import emit
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

    try:
        doc = json.load(file)
        raws = list(doc["ops"])
    except (ValueError, KeyError, TypeError):
        raise bad_value(
            f"{file.name} is not an ops file", "write one with `we export --ops -o FILE`"
        ) from None
    if doc.get("format") != "we-ops/1" or not all(isinstance(r, str) for r in raws):
        raise bad_value(f"{file.name} is not a we-ops/1 file", "write one with `we export --ops`")
    o = obj()
    if not raws:
        emit(o, {"ops": 0, "statuses": {}, "invalid": [], "communities": []}, _said(file.name))
        return
    b = o.backend()
    outcomes, communities = _ingest(o, b, raws)
    invalid = [
        {"position": i + 1, "reason": reason or "invalid"}
        for i, (_, status, reason) in enumerate(outcomes)
        if status == INVALID
    ]
    if len(invalid) == len(raws):
        raise bad_value(
            f"none of the {counted(len(raws), 'op')} in {file.name} is a valid op "
            f"({_positions(invalid)}); nothing was imported",
            "was the file edited or cut short? write it again with `we export --ops -o FILE`",
        )
    data = {
        "ops": len(raws),
        "statuses": _final_state(b, outcomes),
        "invalid": invalid,
        "communities": sorted(communities),
    }
    emit(o, data, _said(file.name))


INVALID, DUPLICATE = "invalid", "duplicate"
# How the outcome of an import is said: in this order, each with what the store did.
SAID = {
    "applied": "applied",
    "pending": "pending (waiting for ops they depend on; a daemon fetches them from peers)",
    "rejected": "rejected by the community's rules",
    "void": "void (their author forked)",
    "dropped": "not kept (the pending area is full; sync fetches them again)",
    DUPLICATE: "already here",
    INVALID: "invalid, not imported",
}


def _ingest(o, b, raws: list[str]) -> tuple[list[list[str]], set[str]]:
    """Send the ops a batch at a time: each op's outcome (id, status, reason) in file order,
    and the communities they belong to. An op that is not even hex is invalid here (sent, it
    would fail its whole batch)."""
    from rich.console import Console
    from rich.progress import Progress

    outcomes: list[list[str]] = [["", INVALID, "not hex"]] * len(raws)
    communities: set[str] = set()
    batch: list[int] = []  # places in the file
    size = 0
    # a large file takes a while (each op is checked as from a peer): how far, on a terminal
    shown = Progress(
        transient=True, console=Console(stderr=True), disable=o.json or not sys.stderr.isatty()
    )
    with shown:
        task = shown.add_task(f"importing {len(raws):,} ops", total=len(raws))
        for i in [*(i for i, raw in enumerate(raws) if _is_hex(raw)), None]:
            if i is None or (batch and size + len(raws[i]) > IMPORT_BATCH):
                if batch:
                    r = b.call("import_ops", {"ops": [raws[k] for k in batch]})
                    for k, outcome in zip(batch, r["outcomes"], strict=True):
                        outcomes[k] = outcome
                    communities |= set(r["communities"])
                    shown.update(task, advance=len(batch))
                batch, size = [], 0
            if i is not None:
                batch.append(i)
                size += len(raws[i])
    return outcomes, communities


def _is_hex(raw: str) -> bool:
    try:
        bytes.fromhex(raw)
    except ValueError:
        return False
    return True


STATUS_PAGE = 5000  # ids an op_status call may carry


def _final_state(b, outcomes: list[list[str]]) -> dict[str, int]:
    """How many of the imported ops are applied, pending, rejected... once the whole file is
    in: an op that waited when it arrived is applied when an op listed after it brings its
    deps, so the outcome each op got on arrival would call it pending."""
    counts: dict[str, int] = {}
    ids = []
    for oid, status, _ in outcomes:
        if status in (INVALID, DUPLICATE):  # final: never stored by this import
            counts[status] = counts.get(status, 0) + 1
        else:
            ids.append(oid)
    for i in range(0, len(ids), STATUS_PAGE):
        for status in b.call("op_status", {"ids": ids[i : i + STATUS_PAGE]})["statuses"]:
            status = status or "dropped"  # not held: the pending area let it go
            counts[status] = counts.get(status, 0) + 1
    return counts


def _positions(invalid: list[dict], shown: int = 5) -> str:
    """Which ops were invalid, by their place in the file: "op 3: bad_signature, ..."."""
    words = [f"op {x['position']}: {x['reason']}" for x in invalid[:shown]]
    if len(invalid) > shown:
        words.append(f"{len(invalid) - shown} more")
    return ", ".join(words)


def _said(name: str):
    def render(c, d) -> None:
        if not d["ops"]:
            c.print(f"{name} holds no ops: nothing to import.", markup=False)
            return
        statuses = d["statuses"]
        order = [*SAID, *sorted(set(statuses) - set(SAID))]
        parts = [f"{statuses[k]} {SAID.get(k, k)}" for k in order if k in statuses]
        c.print(f"Imported {counted(d['ops'], 'op')}: " + "; ".join(parts) + ".", markup=False)
        if d["invalid"]:
            c.print(f"Invalid (by place in the file): {_positions(d['invalid'])}.", markup=False)

    return render
