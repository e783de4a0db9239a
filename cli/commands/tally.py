"""`we tally`: a proposal's result with its breakdown and a terminal bar chart."""

from __future__ import annotations

from fractions import Fraction

import click

from ..context import command
from ..output import bar, emit, exact, num_text, pct_text, table
from ._common import community_option, in_community, names
from .govern import pick_proposal


@command("tally")
@click.argument("proposal_id")
@community_option
def tally(proposal_id, community) -> None:
    """The result and its breakdown: turnout, quorum, threshold, options, delegated weight,
    provisional or final (sealed by a majority of the witnesses)."""
    o, b, cid = in_community(community)
    p = pick_proposal(b, cid, proposal_id)
    t = b.query("proposal_tally", proposal=p["id"])
    who = names(b, cid) if not o.json else {}
    emit(o, t, lambda c, d: render_tally(c, p, d, who))


def render_tally(c, p: dict, d: dict, who: dict) -> None:
    final = d.get("status") == "final" or d.get("final") is True
    verdict = "[green]PASSED[/green]" if d.get("passed") else "[red]NOT PASSED[/red]"
    base = (p.get("weights") or {}).get("base", "equal")
    c.print(f"[bold]{p.get('title')}[/bold]  ({p.get('method')} vote, {base} weights)")
    state = "FINAL (sealed)" if final else "PROVISIONAL (not sealed by a witness majority yet)"
    c.print(f"Result:    {verdict}, winner: {d.get('winner') or '-'}  [{state}]")
    eligible, part = exact(d.get("eligible")), exact(d.get("participation"))
    turnout = part / eligible if eligible else Fraction(0)
    c.print(
        f"Turnout:   {num_text(part)} of {num_text(eligible)} eligible weight ({pct_text(turnout)}); "
        f"quorum {pct_text(p.get('quorum', [0, 1]))}: {'met' if d.get('quorum_met') else 'NOT met'}"
    )
    support = d.get("support")
    c.print(
        f"Support:   {pct_text(support) if support is not None else '-'}; "
        f"threshold {pct_text(p.get('threshold', [1, 2]))} (strictly more): "
        f"{'met' if d.get('threshold_met') else 'NOT met'}"
    )
    c.print(f"Delegated: {num_text(d.get('delegated'))} weight reached a voter through delegation")
    if d.get("abstained") is not None:
        c.print(f"Abstained: {num_text(d.get('abstained'))}")
    totals = {k: exact(v) for k, v in (d.get("totals") or {}).items()}
    top = max(totals.values(), default=Fraction(0))
    rows = []
    for name, v in totals.items():
        share = v / top if top else Fraction(0)
        rows.append([name, num_text(v), bar(share.numerator, share.denominator)])
    c.print(table(None, ["option", "weight", ""], rows))
    voters = d.get("voters") or []
    if voters:
        c.print(
            table(
                None,
                ["voter", "own weight", "with delegations", "choice"],
                [
                    [
                        who.get(v["member"], v["member"][:8]),
                        num_text(v.get("weight")),
                        num_text(v.get("effective")),
                        str(v.get("choice")),
                    ]
                    for v in voters
                ],
            )
        )
    if d.get("needed_seals") is not None:
        c.print(
            f"Seals:     {len(d.get('seals') or [])} (a majority needs {d.get('needed_seals')})"
        )
    if d.get("content"):
        # What was counted: enacting checks this hash, so an edit after the vote cannot
        # change what the result is about.
        c.print(f"Counted:   version {str(d.get('version_id'))[:16]}, content {d['content'][:16]}")
