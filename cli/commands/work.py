"""Projects, contributions, attestations and contribution scores."""

from __future__ import annotations

import click

from ..context import command, group, obj
from ..output import Shortener, emit, rel_time, table
from ..parse import DATE_HELP, parse_hours, parse_when
from ._common import community_option, oid, pick_community, pick_member, pick_record


def _op_id(op) -> str:
    return op["id"] if isinstance(op, dict) else op


@group("project", help="Shared efforts that contributions point to.")
def project() -> None:
    pass


@project.command("create")
@click.argument("name")
@click.option("--description", default="")
@community_option
def project_create(name, description, community) -> None:
    """Start a project."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    op = b.publish(cid, "project.create", {"name": name, "description": description})
    pid = _op_id(op)
    emit(o, {"id": pid, "name": name}, lambda c, d: c.print(f"Created project {pid[:12]}: {name}"))


@project.command("list")
@community_option
def project_list(community) -> None:
    """Projects in the community."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rows = list(b.query("projects", community=cid) or [])
    short = Shortener(r["id"] for r in rows)
    emit(
        o,
        rows,
        lambda c, d: c.print(
            table(
                None,
                ["id", "name", "contributions", "created"],
                [
                    [
                        short(r["id"]),
                        r.get("name"),
                        r.get("contributions"),
                        rel_time(r.get("created")),
                    ]
                    for r in d
                ],
            )
        ),
    )


@command("contribute")
@click.argument("project_id")
@click.option("--hours", required=True, help="Effort in hours (1.5) or minutes (90m).")
@click.option("--skill", default="", help="Skill used (a tag).")
@click.option("--what", "description", default="", help="What you did.")
@click.option("--evidence", multiple=True, help="A link to evidence (repeatable).")
@click.option("--when", default="now", help=f"When: {DATE_HELP}.")
@click.option(
    "--action",
    type=click.Choice(["work", "deliver-service", "cite"]),
    default="work",
    show_default=True,
)
@community_option
def contribute(project_id, hours, skill, description, evidence, when, action, community) -> None:
    """Record a contribution to a project; peers then attest it."""
    o = obj()
    b = o.backend()
    minutes = parse_hours(hours)
    at = parse_when(when)
    cid = pick_community(b, community)
    proj = pick_record(b, "projects", "project", project_id, cid)
    body = {
        "project": oid(proj["id"]),
        "action": action,
        "effort_minutes": minutes,
        "evidence": list(evidence),
        "at": at,
    }
    if skill:
        body["skill"] = skill
    if description:
        body["note"] = description
    op = b.publish(cid, "contribution.record", body, deps=[proj["id"]])
    rid = _op_id(op)
    emit(
        o,
        {"id": rid, "project": proj["id"], "effort_minutes": minutes},
        lambda c, d: c.print(f"Recorded contribution {rid[:12]} ({minutes} min)"),
    )


@command("attest")
@click.argument("contribution_id")
@click.option("--dispute", is_flag=True, help="Dispute instead of confirming.")
@click.option("--note", default="")
@community_option
def attest(contribution_id, dispute, note, community) -> None:
    """Confirm (or --dispute) someone else's contribution."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = pick_record(b, "contributions", "contribution", contribution_id, cid)
    verdict = "dispute" if dispute else "confirm"
    body = {"contribution": oid(rec["id"]), "verdict": verdict}
    if note:
        body["note"] = note
    op = b.publish(cid, "attestation.set", body, deps=[rec["id"]])
    emit(
        o,
        {"id": rec["id"], "op": _op_id(op), "verdict": verdict},
        lambda c, d: c.print(f"{verdict.title()}ed contribution {rec['id'][:12]}"),
    )


@command("score")
@click.argument("who", required=False)
@click.option("--at", default="now", help=f"Compute at this time: {DATE_HELP}.")
@community_option
def score(who, at, community) -> None:
    """Contribution scores (confirmed effort, decayed by the charter's half-life)."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    args = {"community": cid, "now": parse_when(at)}
    if who:
        args["member"] = pick_member(b, who, cid)
    rows = list(b.query("scores", **args) or [])
    short = Shortener(r["member_id"] for r in rows)
    emit(
        o,
        rows,
        lambda c, d: c.print(
            table(
                "Contribution scores",
                ["member", "name", "score", "confirmed"],
                [
                    [
                        short(r["member_id"]),
                        r.get("name"),
                        _frac(r.get("score")),
                        r.get("confirmed"),
                    ]
                    for r in d
                ],
            )
        ),
    )


def _frac(x) -> str:
    if isinstance(x, list) and len(x) == 2 and x[1]:
        whole, rem = divmod(x[0] * 100, x[1])
        return f"{whole // 100}.{whole % 100:02d}"
    return "" if x is None else str(x)
