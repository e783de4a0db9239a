"""Proposals, ballots, delegation, witness seals and tallies."""

from __future__ import annotations

import click

from ..context import command, group, obj
from ..errors import bad_value
from ..output import Shortener, bar, emit, rel_time, table
from ..parse import DATE_HELP, parse_share, parse_when
from ._common import community_option, member_key, oid, pick_community, pick_member, pick_record

METHODS = ["basic", "single", "approval", "irv", "schulze", "score", "quadratic", "consent"]
WEIGHTS = ["equal", "score", "sqrt_score"]
OPTIONLESS = ("basic", "consent")
FIXED = {"basic": ["yes", "no"], "consent": ["consent", "object"]}


def _op_id(op) -> str:
    return op["id"] if isinstance(op, dict) else op


@group("proposal", help="Proposals the community votes on.")
def proposal() -> None:
    pass


@proposal.command("create")
@click.argument("title")
@click.option("--body", "text", default="", help="The proposal text.")
@click.option(
    "--option", "options", multiple=True, help="An option (repeatable; basic: yes/no/abstain)."
)
@click.option("--method", type=click.Choice(METHODS), default="basic", show_default=True)
@click.option(
    "--weight",
    type=click.Choice(WEIGHTS),
    default="equal",
    show_default=True,
    help="Weight policy.",
)
@click.option("--cap", help="No member may hold more than this share of the weight (e.g. 40%).")
@click.option(
    "--quorum", default="0", show_default=True, help="Share of eligible weight that must take part."
)
@click.option(
    "--threshold", default="1/2", show_default=True, help="Share of support needed (strictly more)."
)
@click.option("--opens", default="now", show_default=True, help=f"Opening time: {DATE_HELP}.")
@click.option("--closes", default="+7d", show_default=True, help=f"Closing time: {DATE_HELP}.")
@click.option(
    "--witness", "witnesses", multiple=True, help="Witness member (default: the charter's)."
)
@click.option("--topic", default="", help="Topic (delegations can be per topic).")
@community_option
def proposal_create(
    title,
    text,
    options,
    method,
    weight,
    cap,
    quorum,
    threshold,
    opens,
    closes,
    witnesses,
    topic,
    community,
) -> None:
    """Put a proposal to the vote."""
    o_ms, c_ms = parse_when(opens), parse_when(closes)
    if c_ms <= o_ms:
        raise bad_value("--closes must be after --opens")
    policy = {"base": weight}
    if cap:
        policy["cap"] = parse_share(cap)
    body = {
        "title": title,
        "text": text,
        "options": [] if method in OPTIONLESS else list(options),
        "method": method,
        "weights": policy,
        "quorum": parse_share(quorum),
        "threshold": parse_share(threshold),
        "opens": o_ms,
        "closes": c_ms,
        "topic": topic,
    }
    if method not in OPTIONLESS and not options:
        raise bad_value(f"a {method} proposal needs options", "give --option A --option B ...")
    if method in OPTIONLESS and options:
        raise bad_value(
            f"a {method} proposal has fixed choices ({', '.join(FIXED[method])}); drop --option"
        )
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    if witnesses:
        body["witnesses"] = [member_key(pick_member(b, w, cid)) for w in witnesses]
    op = b.publish(cid, "proposal.create", body)
    pid = _op_id(op)
    emit(
        o,
        {"id": pid, **body},
        lambda c, d: c.print(f"Proposal {pid[:12]} created: {title} (closes {rel_time(c_ms)})"),
    )


@proposal.command("list")
@community_option
def proposal_list(community) -> None:
    """Proposals, open and closed."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rows = list(b.query("proposals", community=cid) or [])
    short = Shortener(r["id"] for r in rows)
    emit(
        o,
        rows,
        lambda c, d: c.print(
            table(
                None,
                ["id", "title", "method", "weights", "state", "closes"],
                [
                    [
                        short(r["id"]),
                        r.get("title"),
                        r.get("method"),
                        (r.get("weights") or {}).get("base"),
                        r.get("state"),
                        rel_time(r.get("closes")),
                    ]
                    for r in d
                ],
            )
        ),
    )


@proposal.command("show")
@click.argument("id")
@community_option
def proposal_show(id, community) -> None:
    """Show one proposal."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    rec = pick_record(b, "proposals", "proposal", id, cid)

    def render(c, d):
        for k, v in d.items():
            if k in ("opens", "closes") and isinstance(v, int):
                v = f"{v} ({rel_time(v)})"
            c.print(f"[bold]{k:10}[/bold] {v}")

    emit(o, rec, render)


@command("vote")
@click.argument("proposal_id")
@click.argument("choice", nargs=-1, required=True)
@community_option
def vote(proposal_id, choice, community) -> None:
    """Vote. basic/single: one option (or `abstain`); approval: the options you approve;
    irv/schulze: options in order of preference; score/quadratic: OPTION=N ..."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    p = pick_record(b, "proposals", "proposal", proposal_id, cid)
    value = ballot_choice(p, list(choice))
    op = b.publish(cid, "ballot.cast", {"proposal": oid(p["id"]), "choice": value}, deps=[p["id"]])
    emit(
        o,
        {"op": _op_id(op), "proposal": p["id"], "choice": value},
        lambda c, d: c.print(f"Voted on {p['id'][:12]}: {' '.join(choice)}"),
    )


def ballot_choice(p: dict, words: list[str]):
    """Turn the words typed into the method's ballot value; check them against the options."""
    method = p.get("method", "basic")
    options = FIXED.get(method) or p.get("options", [])
    if words == ["abstain"]:
        return None

    def known(w: str) -> str:
        if w not in options:
            raise bad_value(
                f"{w!r} is not an option of this proposal", f"options: {', '.join(options)}"
            )
        return w

    if method in ("basic", "single", "consent"):
        if len(words) != 1:
            raise bad_value(f"a {method} ballot names one option", f"options: {', '.join(options)}")
        return known(words[0])
    if method in ("approval", "irv", "schulze"):
        return [known(w) for w in words]
    out = {}
    for w in words:
        name, sep, n = w.partition("=")
        if not sep or not n.lstrip("-").isdigit():
            raise bad_value(f"{w!r}: write OPTION=NUMBER for a {method} ballot")
        out[known(name)] = int(n)
    return out


@command("delegate")
@click.argument("to")
@click.option("--topic", default="", help="Only for proposals on this topic (default: all).")
@community_option
def delegate(to, topic, community) -> None:
    """Let another member vote for you (your own ballot still overrides)."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    mid = pick_member(b, to, cid)
    body = {"delegate": member_key(mid)}
    if topic:
        body["topic"] = topic
    op = b.publish(cid, "delegation.set", body)
    emit(
        o,
        {"op": _op_id(op), "to": mid, "topic": topic},
        lambda c, d: c.print(f"Delegated {'topic ' + topic if topic else 'all topics'} to {mid}"),
    )


@command("undelegate")
@click.option(
    "--topic", default="", help="Revoke the delegation for this topic (default: the global one)."
)
@community_option
def undelegate(topic, community) -> None:
    """Revoke a delegation."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    body = {"topic": topic} if topic else {}
    op = b.publish(cid, "delegation.revoke", body)
    emit(o, {"op": _op_id(op), "topic": topic}, lambda c, d: c.print("Delegation revoked."))


@command("seal")
@click.argument("proposal_id")
@community_option
def seal(proposal_id, community) -> None:
    """As a witness, seal a closed proposal with the heads this node has seen."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    p = pick_record(b, "proposals", "proposal", proposal_id, cid)
    result = b.call("seal", {"community": cid, "proposal": p["id"]})
    emit(o, result, lambda c, d: c.print(f"Sealed proposal {p['id'][:12]}."))


@command("tally")
@click.argument("proposal_id")
@community_option
def tally(proposal_id, community) -> None:
    """The result with its breakdown: turnout, quorum, threshold, options, delegation."""
    o = obj()
    b = o.backend()
    cid = pick_community(b, community)
    p = pick_record(b, "proposals", "proposal", proposal_id, cid)
    t = b.query("tally", community=cid, proposal=p["id"])
    emit(o, t, lambda c, d: render_tally(c, p, d))


def _f(x) -> tuple[int, int]:
    if isinstance(x, list) and len(x) == 2:
        return x[0], x[1]
    if isinstance(x, int):
        return x, 1
    return 0, 1


def _fs(x) -> str:
    n, d = _f(x)
    if d == 1:
        return str(n)
    whole = (n * 100) // d
    return f"{whole // 100}.{whole % 100:02d}"


def _pct(x) -> str:
    n, d = _f(x)
    return f"{(n * 1000 // d) / 10:g}%" if d else "-"


def render_tally(c, p: dict, d: dict) -> None:
    state = "FINAL" if d.get("final") else "PROVISIONAL"
    verdict = "passed" if d.get("passed") else "not passed"
    c.print(
        f"[bold]{p.get('title')}[/bold]  ({p.get('method')}, weights: {(p.get('weights') or {}).get('base')})"
    )
    c.print(f"Result: [bold]{state}[/bold], {verdict}; winner: {d.get('winner') or '-'}")
    c.print(
        f"Turnout: {_fs(d.get('took_part'))} of {_fs(d.get('eligible'))} weight ({_pct(d.get('turnout'))}), quorum {_pct(d.get('quorum'))}: {'met' if d.get('quorum_met') else 'not met'}"
    )
    c.print(
        f"Support: {_pct(d.get('support'))}, threshold {_pct(d.get('threshold'))}: {'met' if d.get('threshold_met') else 'not met'}"
    )
    c.print(
        f"Delegated weight: {_fs(d.get('delegated'))}; ballots: {d.get('ballots', '-')}; abstained: {_fs(d.get('abstained'))}"
    )
    totals = d.get("totals") or {}
    tn = sum(_f(v)[0] * 1 for v in totals.values())  # noqa: F841  (shares computed exactly below)
    from fractions import Fraction

    fr = {k: Fraction(*_f(v)) for k, v in totals.items()}
    top = max(fr.values(), default=Fraction(0))
    rows = []
    for name, v in fr.items():
        share = v / top if top else Fraction(0)
        rows.append(
            [name, _fs([v.numerator, v.denominator]), bar(share.numerator, share.denominator)]
        )
    c.print(table(None, ["option", "weight", ""], rows))
    if d.get("seals") is not None:
        c.print(f"Seals: {d.get('seals')} of {d.get('witnesses')} witnesses")
