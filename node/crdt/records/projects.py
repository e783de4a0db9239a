"""Projects: a shared effort that contributions point to (co-creation).

Any member creates a project and is its creator. The creator and the maintainers may update
name and description; concurrent updates by different maintainers merge per field,
last-writer-wins by op order key. Only the creator changes the maintainer list, so its
versions are linear (the creator's chain); a maintainer's right to update is judged against
the latest version in the update's causal past.
"""

from __future__ import annotations

from ..op import Op
from ..state import Context, Filed, Rejected, group, ordered_by
from .common import (
    PROJECT,
    in_past,
    lww_update,
    note_member,
    op_meta,
    order_key,
    require_member,
    require_ref,
    timeline,
)
from .schema import Field, check_body, key32, list_of, opt, record, text

FIELDS = {
    "name": Field(text(200, min_len=1)),
    "description": opt(text(4000, lines=True)),
    "maintainers": opt(list_of(key32, 32, unique=True)),
}
UPDATE = {
    "id": Field(key32),
    "set": Field(record({name: opt(f.check) for name, f in FIELDS.items()})),
}


def project_create(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, FIELDS)
    m = require_member(op, ctx)
    note_member(ctx, m, op)
    maintainers = sorted(body.get("maintainers", []))
    key = order_key(op)
    fields = {"name": body["name"], "description": body.get("description", "")}
    ctx.state.put(
        PROJECT,
        op.id,
        {
            "c": m.community,
            "id": op.id,
            "creator": m.member,
            "by": op.author,  # the key that changes its maintainers (one chain orders them)
            "ts": op.ts,
            "fields": fields,
            "keys": {name: key for name in fields},
            "maintainers": maintainers,
            "versions": [[op.seq, op.id, maintainers]],  # creator seq, op id, maintainers
        },
    )


def maintainers_in_past(row: dict, op: Op, ctx: Context) -> list[bytes]:
    x = op_meta(op, ctx)
    for _seq, version_id, maintainers in reversed(row["versions"]):
        if in_past(ctx, ctx.causal.meta(version_id), x):
            return maintainers
    return []


def project_update(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, UPDATE)
    m = require_member(op, ctx)
    row = require_ref(op, ctx, PROJECT, body["id"], "project")
    changes = dict(body["set"])
    if not changes:
        raise Rejected("bad_body", f"{op.kind}: 'set' is empty")
    is_creator = row["creator"] == m.member
    if "maintainers" in changes and not is_creator:
        raise Rejected("not_allowed", "only the project's creator changes its maintainers")
    if "maintainers" in changes and row.get("by", row["creator"]) != op.author:
        raise Rejected("other_device", "change the maintainers from the device that made it")
    if not is_creator and m.member not in maintainers_in_past(row, op, ctx):
        raise Rejected("not_allowed", "only the creator and maintainers update a project")
    note_member(ctx, m, op)
    new = lww_update(row, {k: v for k, v in changes.items() if k != "maintainers"}, order_key(op))
    if "maintainers" in changes:
        maintainers = sorted(changes["maintainers"])
        new["maintainers"] = maintainers
        new["versions"] = [*row["versions"], [op.seq, op.id, maintainers]]
    ctx.state.put(PROJECT, row["id"], new)


def runners(row: dict) -> set[bytes]:
    """The project's team: its creator and its maintainers."""
    return {row["creator"], *row["maintainers"]}


def by_runner(key: bytes, row: dict) -> Filed:
    """A project is listed under each member of its team in the community (the projects a
    member runs: whose contributions they are asked to attest), ranked by the team's size:
    rank 1 in a member's group are the projects they run alone; and in its community's time
    line, by the time it was started (lists of projects read the newest end)."""
    c, team = row["c"], runners(row)
    return (*((group(c, m), len(team)) for m in sorted(team)), (timeline(c), row["ts"]))


ordered_by(PROJECT, by_runner)

HANDLERS = {"project.create": project_create, "project.update": project_update}
