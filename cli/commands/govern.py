"""Proposals, ballots, delegation, witness seals and tallies.

Writing (create, vote, delegate, undelegate, seal) publishes governance ops. Reading uses two
control-API views that ``node.governance`` is expected to export (until it does, the commands
that need them say "not available yet"):

* ``proposals(state, community, now_ms)`` -> list of proposal dicts (latest version: id,
  author, title, text, options, method, weights, quorum, threshold, opens, closes, witnesses,
  topic, phase), newest first;
* ``proposal_tally(state, causal, proposal)`` -> the tally as plain data: status
  ("provisional" | "final"), passed, winner, tied (the options tied for first, the winner
  by the tie-break among them), quorum_met, threshold_applies (false for the methods with
  no support share), threshold_met, veto (consent, quadratic), eligible,
  participation, support, abstained, delegated (exact numbers as [num, den] or "num/den"),
  totals {option: number}, voters [{member, weight, effective, choice}], counted
  {member: seq}, seals [witness], needed_seals.
"""

from __future__ import annotations

from typing import Any

import click

from node.service.parse import DATE_HELP, duration_seconds, parse_share, parse_when

from ..context import command, group
from ..errors import UserError, bad_value
from ..output import (
    Shortener,
    emit,
    emit_table,
    more_line,
    now_ms,
    pct_text,
    rel_time,
    safe_markup,
)
from ._common import (
    community_option,
    in_community,
    me,
    member_key,
    member_label,
    names,
    oid,
    page_options,
    paginate,
    pick_member,
    pick_record,
)

METHODS = ["basic", "single", "approval", "irv", "schulze", "score", "quadratic", "consent"]
WEIGHTS = ["equal", "score", "sqrt_score"]
OPTIONLESS = ("basic", "consent")
FIXED = {"basic": ["yes", "no"], "consent": ["consent", "object"]}
RANKED = ("irv", "schulze")  # a list ballot is a ranking, most preferred first


MAX_VOTE_MS = 366 * 86_400_000


def _a(word: str) -> str:
    """ "an irv", "a basic": the article as it is said."""
    return ("an " if word[0] in "aeiou" else "a ") + word


proposal = group("proposal", help="Proposals the community votes on.")


@proposal.command("create")
@click.argument("title")
@click.option("--body", "text", default="", help="The proposal text.")
@click.option(
    "--option", "options", multiple=True, help="An option (repeatable; not for basic/consent)."
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
    "--threshold", default="1/2", show_default=True, help="Support needed (strictly more than)."
)
@click.option("--opens", default="now", show_default=True, help=f"Opening time: {DATE_HELP}.")
@click.option("--closes", default="+7d", show_default=True, help=f"Closing time: {DATE_HELP}.")
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="Witness (member id, prefix or name; default: the charter's).",
)
@click.option("--topic", default="", help="Topic (delegations can be per topic).")
@click.option(
    "--max-score", type=int, help="score: the highest score of an option (1..1000; default 5)."
)
@click.option(
    "--credits",
    type=int,
    help="quadratic: the most a ballot's squared votes add up to (1..1000000; default 100).",
)
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
    max_score,
    credits,
    community,
) -> None:
    """Put a proposal to the vote."""
    params = ballot_limits(method, {"--max-score": max_score, "--credits": credits})
    o_ms, c_ms = parse_when(opens), parse_when(closes)
    if c_ms <= now_ms():
        raise bad_value(
            f"--closes {closes} is in the past: nobody could vote",
            "give a later close, e.g. --closes +1d",
        )
    if c_ms <= o_ms:
        opening = "it opens now" if opens == "now" else f"it opens at {opens}"
        later = "+1d" if opens == "now" else f"a date after {opens}"
        if opens.startswith("+"):
            later = f"+{duration_seconds(opens[1:]) // 86400 + 1}d"
        raise bad_value(
            f"--closes {closes} is not after the opening ({opening})",
            f"give a later close, e.g. --closes {later}",
        )
    if c_ms > now_ms() + MAX_VOTE_MS:
        raise bad_value(
            f"--closes {closes} is more than a year away",
            "a vote that long decides nothing; give at most +365d",
        )
    if method not in OPTIONLESS and not options:
        raise bad_value(f"{_a(method)} proposal needs options", "give --option A --option B ...")
    if method in OPTIONLESS and options:
        raise bad_value(
            f"{_a(method)} proposal has fixed choices ({', '.join(FIXED[method])})",
            "drop --option",
        )
    policy: dict[str, Any] = {"base": weight}
    if cap:
        policy["cap"] = parse_share(cap)
    body: dict[str, Any] = {
        "title": title,
        "text": text,
        "options": list(options),
        "method": method,
        "weights": policy,
        "quorum": parse_share(quorum),
        "threshold": parse_share(threshold),
        "opens": o_ms,
        "closes": c_ms,
    }
    if params:
        body["params"] = params
    if topic:
        body["topic"] = topic
    o, b, cid = in_community(community)
    if witnesses:
        body["witnesses"] = [member_key(pick_member(b, w, cid)) for w in witnesses]
    op = b.publish(cid, "proposal.create", body)
    pid = op["op_id"]
    shown = {**body, "witnesses": [w.hex() for w in body.get("witnesses", [])]}
    emit(
        o,
        {"id": pid, **shown},
        lambda c, d: c.print(
            f"Proposal {pid[:12]} created: {d['title']} (closes {rel_time(c_ms)})"
        ),
    )


def ballot_limits(method: str, given: dict[str, int | None]) -> dict[str, int]:
    """The proposal's ``params`` from the options given (``--max-score``: max_score), each
    checked against the limits the node's governance sets for it and its method."""
    if all(v is None for v in given.values()):
        return {}
    # (imported here: the governance package is heavy for every other `we proposal` start)
    from node.governance.choices import PARAMS

    out = {}
    for option, value in given.items():
        if value is None:
            continue
        name = option[2:].replace("-", "_")
        limit = next(p for ps in PARAMS.values() for p in ps if p.name == name)
        takes = [m for m, ps in PARAMS.items() if limit in ps]
        if method not in takes:
            raise bad_value(
                f"{option} is for {' or '.join(map(_a, takes))} vote, not {_a(method)} one",
                f"drop {option}, or give --method {takes[0]}",
            )
        if not limit.least <= value <= limit.most:
            raise bad_value(
                f"{option} {value} is out of range: it goes from {limit.least:,} to {limit.most:,}",
                f"give e.g. {option} {limit.default} (the default)",
            )
        out[name] = value
    return out


def choice_text(method: str | None, choice) -> str:
    """A ballot as a person writes it: abstain, `red > green` (a ranking), `red, green` (the
    options approved), `a=5, b=3` (scores or votes), or the one choice."""
    if choice is None:
        return "abstain"
    if isinstance(choice, list):
        if not choice:
            return "(approves none)" if method == "approval" else "(ranks none)"
        return (" > " if method in RANKED else ", ").join(map(str, choice))
    if isinstance(choice, dict):
        return ", ".join(f"{o}={n}" for o, n in choice.items()) or "(all 0)"
    return str(choice)


def _proposals(b, cid: str) -> list[dict]:
    return list(b.query("proposals", community=cid) or [])


def pick_proposal(b, cid: str, prefix: str) -> dict:
    return pick_record(b, "proposals", "proposal", prefix, community=cid)


@proposal.command("list")
@click.option("--open", "open_", is_flag=True, help="Only those open for voting now.")
@click.option("--needs-vote", is_flag=True, help="Only open ones without your ballot.")
@click.option("--mine", is_flag=True, help="Only those you proposed.")
@community_option
@page_options
def proposal_list(open_, needs_vote, mine, community, limit, page) -> None:
    """Proposals, open and closed (newest first)."""
    o, b, cid = in_community(community)
    rows = _proposals(b, cid)
    if open_ or needs_vote:
        rows = [r for r in rows if r.get("phase") == "open"]
    if mine or needs_vote:
        key = me(b)["public_key"]
        if mine:
            rows = [r for r in rows if r.get("author") == key]
        if needs_vote:  # one tally per open proposal: how the inbox knows it too
            rows = [
                r
                for r in rows
                if key not in (b.query("proposal_tally", proposal=r["id"]) or {}).get("counted", {})
            ]
    rows, more = paginate(rows, limit, page)
    short = Shortener(r["id"] for r in rows)
    emit_table(
        o,
        rows,
        ["id", "title", "method", "weights", "phase", "opens", "closes"],
        lambda r: [
            short(r["id"]),
            r.get("title"),
            r.get("method"),
            (r.get("weights") or {}).get("base", "equal"),
            r.get("phase", ""),
            rel_time(r.get("opens")),
            rel_time(r.get("closes")),
        ],
        more=more_line(more, limit, page),
    )


@proposal.command("show")
@click.argument("id")
@community_option
def proposal_show(id, community) -> None:
    """Show one proposal."""
    o, b, cid = in_community(community)
    rec = pick_proposal(b, cid, id)
    who = names(b, cid) if not o.json else {}

    def text(k, v):
        if k in ("opens", "closes"):
            return rel_time(v)
        if k in ("quorum", "threshold"):
            return pct_text(v)
        if k == "weights":
            return v.get("base", "equal") + (f", cap {pct_text(v['cap'])}" if "cap" in v else "")
        if k == "author":
            return member_label(who, v)
        if k == "witnesses":
            return ", ".join(member_label(who, w) for w in v) or "(the charter's)"
        if k == "params":  # the limits of a ballot (the node fills in the defaults)
            return "; ".join(param_text(n, x) for n, x in v.items())
        if isinstance(v, list):
            return ", ".join(map(str, v))
        return v

    def render(c, d):
        for k, v in d.items():
            if k in ("created_ts",) or v in ([], "", {}) and k != "witnesses":
                continue
            c.print(f"[bold]{k:10}[/bold] {text(k, v)}")

    emit(o, rec, render)


def param_text(name: str, value) -> str:
    if name == "max_score":
        return f"scores from 0 to {value:,}"
    if name == "credits":
        return f"{value:,} credits (the squares of a ballot's votes add up to at most this)"
    if name == "objection_bound":
        return f"objections of {pct_text(value)} of the weight that took part block it"
    return f"{name} {value}"


@command("vote")
@click.argument("proposal_id")
@click.argument("choice", nargs=-1)
@community_option
def vote(proposal_id, choice, community) -> None:
    """Vote. basic: yes|no|abstain; consent: consent|object|abstain; single: one option;
    approval: the options you approve (none: you take part approving none); irv/schulze:
    options in order of preference; score/quadratic: OPTION=N ... (`we proposal show ID`
    gives the limits). A later vote replaces your earlier one."""
    o, b, cid = in_community(community)
    p = pick_proposal(b, cid, proposal_id)
    value = ballot_choice(p, list(choice))
    op = b.publish(cid, "ballot.cast", {"proposal": oid(p["id"]), "choice": value}, deps=[p["id"]])
    emit(
        o,
        {"op_id": op["op_id"], "proposal": p["id"], "choice": value},
        lambda c, d: c.print(
            f"Voted on {p['id'][:12]}: {safe_markup(choice_text(p.get('method'), value))}"
        ),
    )


def ballot_choice(p: dict, words: list[str]):
    """Turn the words typed into the method's ballot value, checked against the options."""
    method = p.get("method", "basic")
    options = FIXED.get(method) or p.get("options", [])
    if words == ["abstain"]:
        return None
    if not words and method != "approval":  # (an approval ballot may approve none: §3.3)
        example = f"{options[0]}=1" if method in ("score", "quadratic") else options[0]
        raise bad_value(
            f"{_a(method)} ballot needs a choice",
            f"e.g. `we vote ID {example}`; choices: {', '.join(options)}, abstain",
        )

    def known(w: str) -> str:
        if w not in options:
            raise bad_value(
                f"{w!r} is not a choice of this proposal", f"choices: {', '.join(options)}, abstain"
            )
        return w

    if method in ("basic", "single", "consent"):
        if len(words) != 1:
            raise bad_value(
                f"{_a(method)} ballot names one choice", f"choices: {', '.join(options)}, abstain"
            )
        return known(words[0])
    if method in ("approval", "irv", "schulze"):
        twice = sorted({w for w in words if words.count(w) > 1})
        if twice:
            raise bad_value(
                f"{', '.join(map(repr, twice))} named twice: {_a(method)} ballot lists each "
                "choice at most once",
                f"choices: {', '.join(options)}",
            )
        return [known(w) for w in words]
    out = {}
    for w in words:
        name, sep, n = w.partition("=")
        if not sep or not n.lstrip("-").isdigit():
            raise bad_value(
                f"{w!r}: write OPTION=NUMBER for {_a(method)} ballot", "e.g. `we vote ID A=3 B=1`"
            )
        out[known(name)] = int(n)
    return out


@command("delegate")
@click.argument("to")
@click.option("--topic", default="", help="Only for proposals on this topic (default: all).")
@community_option
def delegate(to, topic, community) -> None:
    """Let another member vote for you (your own ballot still overrides)."""
    o, b, cid = in_community(community)
    target = pick_member(b, to, cid)
    body: dict[str, Any] = {"delegate": member_key(target)}
    if topic:
        body["topic"] = topic
    op = b.publish(cid, "delegation.set", body)
    emit(
        o,
        {"op_id": op["op_id"], "delegate": target, "topic": topic},
        lambda c, d: c.print(
            f"Delegated {'topic ' + topic if topic else 'all topics'} to {target}"
        ),
    )


@command("undelegate")
@click.option(
    "--topic", default="", help="Revoke the delegation for this topic (default: the global one)."
)
@community_option
def undelegate(topic, community) -> None:
    """Revoke a delegation."""
    o, b, cid = in_community(community)
    mine = (b.query("delegations", community=cid, member=me(b)["public_key"]) or {}).get(
        "delegates", []
    )
    if not any(d["topic"] == topic for d in mine):
        scope = f"for topic {topic!r}" if topic else "for all topics"
        have = ", ".join(repr(d["topic"]) if d["topic"] else "all topics" for d in mine)
        raise UserError(
            f"you have no delegation {scope} to revoke",
            hint=f"yours: {have}" if have else "you delegate nothing (`we delegate MEMBER`)",
            code="nothing_to_undo",
        )
    op = b.publish(cid, "delegation.revoke", {"topic": topic} if topic else {})
    emit(o, {"op_id": op["op_id"], "topic": topic}, lambda c, d: c.print("Delegation revoked."))


@command("seal")
@click.argument("proposal_id")
@community_option
def seal(proposal_id, community) -> None:
    """As a witness, seal a closed proposal naming everything this node has seen."""
    o, b, cid = in_community(community)
    p = pick_proposal(b, cid, proposal_id)
    # Names every head this node holds (in parts if there are many), not only the <= 16 a
    # seal's deps reach, so every ballot it has seen is covered.
    done = b.call("seal", {"community": cid, "proposal": p["id"]})
    emit(
        o,
        {"op_id": done["op_ids"][-1], "proposal": p["id"], **done},
        lambda c, d: c.print(
            f"Sealed proposal {p['id'][:12]} ({d['heads']} heads named, "
            f"{len(d['op_ids'])} op{'s' if len(d['op_ids']) > 1 else ''})."
        ),
    )
