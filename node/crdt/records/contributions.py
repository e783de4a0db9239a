"""Contributions (ValueFlows EconomicEvent) and attestations.

A contribution is recorded by its contributor and is never edited in place: a later
``contribution.correct`` by the contributor supersedes some fields (or retracts it), and bumps
the contribution's *version*. An attestation (confirm or dispute) by another member records
the version it saw: the number of corrections in its causal past. Only attestations of the
current version count, so a correction asks attesters to look again; that is decided by
causal past, so every node agrees.

One attestation per member per contribution: a member's later attestation replaces their
earlier one (their chain is linear, so "later" is the same everywhere). Each (contribution,
attester) pair has its own small row, so an attestation never rewrites the contribution row;
entries keep the attester's seq so that views restricted to a cut (a proposal's vector clock)
can pick the latest attestation inside it.
"""

from __future__ import annotations

import hashlib

from ..op import Op
from ..state import Context, Filed, Rejected, Summary, group, ordered_by, summarized_by
from .common import (
    ATTESTATION,
    CONTRIBUTION,
    PROJECT,
    charter_at,
    community_row,
    in_past,
    note_member,
    op_meta,
    require_member,
    require_ref,
    timeline,
)
from .schema import (
    Field,
    boolean,
    check_body,
    integer,
    key32,
    list_of,
    one_of,
    opt,
    quantity,
    record,
    skill,
    text,
    url,
)

ACTIONS = ("work", "deliver-service", "cite")
FIELDS = {
    "project": opt(key32),  # absent: a contribution to the community itself
    "action": Field(one_of(*ACTIONS)),
    "effort_minutes": opt(integer(1, 10_000_000)),
    "quantity": opt(quantity),
    "skill": opt(skill),
    "evidence": opt(list_of(url, 16)),
    "note": opt(text(2000, lines=True)),
    "at": Field(integer(0)),  # ms: when the work happened; not after the op's ts
}
CORRECTABLE = {k: opt(f.check) for k, f in FIELDS.items() if k not in ("project", "action")}
CORRECT = {
    "id": Field(key32),
    "set": opt(record(CORRECTABLE)),
    "retract": opt(boolean),
    "note": opt(text(2000, lines=True)),
}
ATTEST = {
    "contribution": Field(key32),
    "verdict": Field(one_of("confirm", "dispute")),
    "note": opt(text(2000, lines=True)),
}


def _check_fields(op: Op, ctx: Context, fields: dict) -> None:
    if "effort_minutes" not in fields and "quantity" not in fields:
        raise Rejected("bad_body", f"{op.kind}: needs effort_minutes or quantity")
    if fields["at"] > op.ts:
        raise Rejected("bad_body", f"{op.kind}: 'at' is after the op's ts")
    minutes = fields.get("effort_minutes")
    if minutes is not None:
        com = community_row(ctx.state, op.community_id)
        bound = (charter_at(com, ctx, op_meta(op, ctx)).get("contribution") or {}).get(
            "max_minutes"
        )
        if bound is not None and minutes > bound:
            raise Rejected(
                "too_many_minutes",
                f"the charter allows at most {bound} minutes in one record: split the work "
                "into records of the days it was done",
            )


def contribution_record(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, FIELDS)
    m = require_member(op, ctx)
    _check_fields(op, ctx, body)
    if "project" in body:
        require_ref(op, ctx, PROJECT, body["project"], "project")
    note_member(ctx, m, op)
    ctx.state.put(
        CONTRIBUTION,
        op.id,
        {
            "c": m.community,
            "id": op.id,
            "contributor": m.member,
            "by": op.author,  # the key whose chain corrects it (and whose seq is "seq")
            "project": body.get("project"),
            "seq": op.seq,
            "ts": op.ts,
            "base": dict(body),  # as recorded; views apply the corrections (score.py)
            "corrections": [],  # [contributor seq, op id, changes, retract]
            "retracted": False,
            "verdicts": [],  # see tally_verdict
        },
    )


def contribution_correct(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, CORRECT)
    m = require_member(op, ctx)
    row = require_ref(op, ctx, CONTRIBUTION, body["id"], "contribution")
    if row.get("by", row["contributor"]) != op.author:
        if row["contributor"] == m.member:
            raise Rejected("other_device", "correct it from the device that recorded it")
        raise Rejected("not_author", "only the contributor corrects a contribution")
    if row["retracted"]:
        raise Rejected("retracted", "the contribution was retracted")
    changes = dict(body.get("set", {}))
    retract = body.get("retract", False)
    if not changes and not retract:
        raise Rejected("bad_body", f"{op.kind}: needs 'set' or 'retract'")
    fields = current_fields(row)
    fields.update(changes)
    _check_fields(op, ctx, fields)
    note_member(ctx, m, op)
    corrections = [*row["corrections"], [op.seq, op.id, changes, retract]]
    ctx.state.put(
        CONTRIBUTION,
        row["id"],
        {**row, "corrections": corrections, "retracted": retract},
    )


def attestation_set(op: Op, ctx: Context) -> None:
    body = check_body(op.kind, op.body, ATTEST)
    m = require_member(op, ctx)
    row = require_ref(op, ctx, CONTRIBUTION, body["contribution"], "contribution")
    if row["contributor"] == m.member:
        raise Rejected("own_contribution", "a member cannot attest their own contribution")
    x = op_meta(op, ctx)
    version = sum(1 for c in row["corrections"] if in_past(ctx, ctx.causal.meta(c[1]), x))
    note_member(ctx, m, op)
    key = row["id"] + m.member
    att = ctx.state.get(ATTESTATION, key) or {
        "c": m.community,
        "contribution": row["id"],
        "attester": m.member,
        # [verdict, version, seq, op id, signing key, lamport], sorted by (lamport, key,
        # seq): the member's latest verdict is the last one, whichever device gave it.
        "entries": [],
    }
    entry = [body["verdict"], version, op.seq, op.id, op.author, op.lamport]
    entries = sorted([*att["entries"], entry], key=lambda e: (e[5], e[4], e[2]))
    ctx.state.put(ATTESTATION, key, {**att, "entries": entries})
    if entries[-1] is entry:  # the attester's latest verdict changed (not an older one late)
        verdicts = row["verdicts"]
        if att["entries"]:
            verdicts = tally_verdict(verdicts, att["entries"][-1], -1)
        verdicts = tally_verdict(verdicts, entry, 1)
        if verdicts != row["verdicts"]:  # the same verdict again rewrites nothing
            ctx.state.put(CONTRIBUTION, row["id"], {**row, "verdicts": verdicts})


def tally_verdict(verdicts: list, entry: list, n: int) -> list:
    """``verdicts`` (a contribution row's ``[version, confirms, disputes]`` per version, by
    version: the attesters' latest verdicts counted, so that the score table reads one row
    per contribution, not its attestations) with ``n`` more of ``entry``'s verdict on its
    version. Each attester's latest verdict is counted once, whatever order they came in."""
    verdict, version = entry[0], entry[1]
    out, found = [], False
    for v, confirms, disputes in verdicts:
        if v == version:
            found = True
            if verdict == "confirm":
                confirms += n
            else:
                disputes += n
        if confirms or disputes:
            out.append([v, confirms, disputes])
    if not found:
        out.append([version, n, 0] if verdict == "confirm" else [version, 0, n])
        out.sort()
    return out


def project_rank(project: bytes | None) -> int:
    """A contribution's rank in its groups: 0 without a project, else a 23-bit hash of the
    project (1 .. 2^23 - 1: three bytes an index entry). A member's work on one project is
    then one step of the index: ``state.rows_in(CONTRIBUTION, group(c, member),
    project_rank(p))`` (callers check ``project``: two projects may share a rank)."""
    if project is None:
        return 0
    return 1 + int.from_bytes(hashlib.blake2b(project, digest_size=3).digest()) % (2**23 - 1)


def current_fields(row: dict) -> dict:
    """The fields of a contribution's latest version: as recorded, every correction applied
    (``score.contribution_view`` applies those inside a cut)."""
    fields = dict(row["base"])
    for correction in row["corrections"]:
        fields.update(correction[2])
    return fields


def by_contributor(key: bytes, row: dict) -> Filed:
    """A contribution is listed under its contributor in the community (a member's score and
    contributions read theirs, not the community's), ranked by its project
    (``project_rank``); under its project and its current skill (whom its attestation is asked
    of: the project's team, the members who list the skill; ``views.attestations_asked``),
    rank 0; and in its community's time line, by the time of the work (the activity feed reads
    the newest). Its attestations need no order: their keys start with the contribution's id
    (a prefix scan)."""
    c, project, fields = row["c"], row["project"], current_fields(row)
    filed = [(group(c, row["contributor"]), project_rank(project))]
    if project is not None:
        filed.append((of_project(c, project), 0))
    if "skill" in fields:
        filed.append((using_skill(c, fields["skill"]), 0))
    filed.append((timeline(c), fields["at"]))
    return tuple(filed)


def of_project(community: bytes, project: bytes) -> bytes:
    """The group of a project's contributions."""
    return group(community, b"project", project)


def using_skill(community: bytes, skill: str) -> bytes:
    """The group of the contributions whose current version names ``skill``."""
    return group(community, b"skill", skill.encode())


def contribution_summary(key: bytes, row: dict) -> Summary:
    """What the score table reads of every contribution (``score.scores_and_counts`` of the
    whole state), grouped by its community (the whole id: a short hash could be shared):
    ``[contributor, at, effort minutes (0 without), version, retracted, confirms,
    disputes]`` of its latest version, the verdicts on that version counted."""
    fields = current_fields(row)
    version = len(row["corrections"])
    retracted = any(correction[3] for correction in row["corrections"])
    confirms = disputes = 0
    for v, c, d in row["verdicts"]:
        if v == version:
            confirms, disputes = c, d
    return row["c"], [
        row["contributor"],
        fields["at"],
        fields.get("effort_minutes", 0),
        version,
        retracted,
        confirms,
        disputes,
    ]


ordered_by(CONTRIBUTION, by_contributor)
summarized_by(CONTRIBUTION, contribution_summary)

HANDLERS = {
    "contribution.record": contribution_record,
    "contribution.correct": contribution_correct,
    "attestation.set": attestation_set,
}
