"""Projects, contributions, attestations and contribution scores."""

from __future__ import annotations

import click

from node.crdt.text import counted
from node.service.parse import DATE_HELP, parse_hours, parse_skill, parse_when

from ..context import command, group
from ..errors import bad_value
from ..output import Shortener, emit, emit_table, more_line, now_ms, rel_time
from ._common import (
    community_option,
    in_community,
    me,
    member_key,
    member_label,
    mid,
    names,
    oid,
    page_options,
    paginate,
    pick_member,
    pick_record,
)

project = group("project", help="Shared efforts that contributions point to.")


@project.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.option(
    "--maintainer",
    "maintainers",
    multiple=True,
    help="A co-maintainer (member id, prefix or name).",
)
@community_option
def project_create(name, description, maintainers, community) -> None:
    """Start a project (you are its creator)."""
    o, b, cid = in_community(community)
    body = {"name": name, "description": description}
    if maintainers:
        body["maintainers"] = [member_key(pick_member(b, m, cid)) for m in maintainers]
    op = b.publish(cid, "project.create", body)
    pid = op["op_id"]
    emit(
        o,
        {"id": pid, "name": name},
        lambda c, d: c.print(f"Created project {pid[:12]}: {d['name']}"),
    )


@project.command("list")
@community_option
@page_options
def project_list(community, limit, page) -> None:
    """Projects in the community, the latest started first."""
    o, b, cid = in_community(community)
    if limit:  # read from the community's newest end, a page at a time
        latest = b.query("projects", community=cid, newest=page * limit + 1) or []
    else:
        latest = (b.query("projects", community=cid) or [])[::-1]
    rows, more = paginate(list(latest), limit, page)
    for r in rows:  # each shown project's work (its group), not every contribution
        mine = b.query("contributions", community=cid, project=r["id"]) or []
        r["contributions"] = len(mine)
        r["counted_minutes"] = sum(
            c["fields"].get("effort_minutes", 0) for c in mine if c["counts"]
        )
    short = Shortener(r["id"] for r in rows)
    who = names(b, cid) if rows and not o.json else {}
    emit_table(
        o,
        rows,
        ["id", "name", "creator", "contributions", "confirmed hours", "created"],
        lambda r: [
            short(r["id"]),
            r["name"],
            member_label(who, r["creator"]),
            r["contributions"],
            _hours(r["counted_minutes"]),
            rel_time(r["ts"]),
        ],
        more=more_line(more, limit, page),
    )


def _hours(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes % 60 else f"{minutes // 60}h"


MAX_AGE_MS = 366 * 86_400_000


@command("contribute")
@click.argument("project_id", required=False)
@click.option("--hours", required=True, help="Effort in hours (1.5) or minutes (90m).")
@click.option("--skill", default="", help="Skill used (a lowercase tag).")
@click.option("--what", "description", default="", help="What you did.")
@click.option("--evidence", multiple=True, help="A link to evidence (repeatable).")
@click.option("--when", default="now", help=f"When the work happened: {DATE_HELP}.")
@click.option(
    "--action",
    type=click.Choice(["work", "deliver-service", "cite"]),
    default="work",
    show_default=True,
)
@community_option
def contribute(project_id, hours, skill, description, evidence, when, action, community) -> None:
    """Record a contribution (to a project, or to the community); peers then attest it."""
    minutes = parse_hours(hours)
    at = parse_when(when)
    now = now_ms()
    if at > now + 60_000:  # a minute of clock skew is not the future
        raise bad_value(
            f"--when {when} is in the future: record work once it is done",
            "give a past time, e.g. --when now or --when 2026-11-01",
        )
    if at < now - MAX_AGE_MS:
        raise bad_value(
            f"--when {when} is more than a year ago",
            "record work of the last 12 months (older effort has decayed anyway)",
        )
    if skill:
        skill = parse_skill(skill)
    o, b, cid = in_community(community)
    body = {"action": action, "effort_minutes": minutes, "evidence": list(evidence), "at": at}
    deps = []
    if project_id:
        proj = pick_record(b, "projects", "project", project_id, community=cid)
        body["project"] = oid(proj["id"])
        deps.append(proj["id"])
    if skill:
        body["skill"] = skill
    if description:
        body["note"] = description
    op = b.publish(cid, "contribution.record", body, deps=deps)
    rid = op["op_id"]
    emit(
        o,
        {"id": rid, "project": deps[0] if deps else None, "effort_minutes": minutes, "at": at},
        lambda c, d: c.print(
            f"Recorded contribution {rid[:12]} ({_hours(minutes)}); ask a peer to `we attest {rid[:10]}`"
        ),
    )


contribution = group("contribution", help="Contributions recorded in the community.")


@contribution.command("list")
@click.option("--member", "who", help="Only this member's (id, prefix or name).")
@click.option("--project", "project_id", help="Only this project's.")
@click.option("--mine", is_flag=True, help="Only your own.")
@community_option
@page_options
def contribution_list(who, project_id, mine, community, limit, page) -> None:
    """Contributions with their attestations and whether they count."""
    o, b, cid = in_community(community)
    args = {"community": cid}
    if mine:
        args["member"] = me(b)["public_key"]
    elif who:
        args["member"] = member_key(pick_member(b, who, cid)).hex()
    if project_id:
        args["project"] = pick_record(b, "projects", "project", project_id, community=cid)["id"]
    if limit and len(args) == 1:  # the community's: read from its newest end, a page at a time
        newest = list(b.query("contributions", **args, newest=page * limit + 1) or [])
        rows, more = paginate(newest, limit, page)
    else:  # newest first (the view orders by the time of the work, oldest first)
        rows, more = paginate(list(b.query("contributions", **args) or [])[::-1], limit, page)
    short = Shortener(r["id"] for r in rows)
    names_ = names(b, cid) if rows and not o.json else {}
    emit_table(
        o,
        rows,
        ["id", "by", "effort", "skill", "what", "when", "confirmed", "disputed", "counts"],
        lambda r: [
            short(r["id"]),
            member_label(names_, r["contributor"]),
            _hours(r["fields"].get("effort_minutes", 0)),
            r["fields"].get("skill", ""),
            r["fields"].get("note", ""),
            rel_time(r["fields"].get("at")),
            r["confirmations"],
            r["disputes"],
            "yes" if r["counts"] else "no",
        ],
        title=lambda n: counted(n, "contribution"),
        more=more_line(more, limit, page),
    )


@command("attest")
@click.argument("contribution_id")
@click.option("--dispute", is_flag=True, help="Dispute instead of confirming.")
@click.option("--note", default="")
@community_option
def attest(contribution_id, dispute, note, community) -> None:
    """Confirm (or --dispute) someone else's contribution."""
    o, b, cid = in_community(community)
    rec = pick_record(b, "contributions", "contribution", contribution_id, community=cid)
    verdict = "dispute" if dispute else "confirm"
    body = {"contribution": oid(rec["id"]), "verdict": verdict}
    if note:
        body["note"] = note
    op = b.publish(cid, "attestation.set", body, deps=[rec["id"]])
    emit(
        o,
        {"id": rec["id"], "op_id": op["op_id"], "verdict": verdict},
        lambda c, d: c.print(
            f"{'Disputed' if dispute else 'Confirmed'} contribution {rec['id'][:12]}."
        ),
    )


@command("score")
@click.argument("who", required=False)
@click.option("--at", default="now", help=f"Compute at this time: {DATE_HELP}.")
@community_option
def score(who, at, community) -> None:
    """Contribution scores: confirmed effort (minutes), decayed by the charter's half-life."""
    now = parse_when(at)
    o, b, cid = in_community(community)
    args = {"community": cid, "now": now}
    if who:
        args["member"] = pick_member(b, who, cid)
    rows = list(b.query("scores", **args) or [])
    for r in rows:
        r["member_id"] = mid(r["member"])
    who_ = names(b, cid) if not o.json else {}
    emit_table(
        o,
        rows,
        ["member", "score", "confirmed contributions"],
        lambda r: [who_.get(r["member"], r["member_id"][:14]), r["score_text"], r["confirmed"]],
        title="Contribution scores (decayed minutes)",
    )
    if not o.json:  # my delegation, where people look at weights (JSON: `delegations` view)
        from ..output import console

        d = b.query("delegations", community=cid, member=me(b)["public_key"]) or {}
        for x in d.get("delegates", []):
            scope = f"topic {x['topic']!r}" if x["topic"] else "all topics"
            console().print(f"You delegate {scope} to {member_label(who_, x['delegate'])}.")
        if d.get("delegators"):
            n = len(d["delegators"])
            console().print(f"{counted(n, 'delegation')} {'reaches' if n == 1 else 'reach'} you.")
