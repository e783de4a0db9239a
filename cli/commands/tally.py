"""`we tally`: a proposal's result with its breakdown and a terminal bar chart."""

from __future__ import annotations

from fractions import Fraction

import click

from ..context import command
from ..output import bar, emit, exact, num_text, pct_text, safe_markup, table
from ._common import community_option, in_community, member_label, names
from .govern import _a, choice_text, pick_proposal


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


def result_line(d: dict) -> str:
    """PASSED / NOT PASSED and the winner; a tie names every option tied for first and the
    spec's tie-break (governance §3.9: the option listed first in the proposal wins)."""
    verdict = "[green]PASSED[/green]" if d.get("passed") else "[red]NOT PASSED[/red]"
    winner = d.get("winner")
    tied = d.get("tied") or []
    if winner is None:
        return f"{verdict}, no winner (no ballot for any option yet)"
    if len(tied) > 1:
        others = ", ".join(o for o in tied if o != winner)
        return f"{verdict}, winner: {winner} (tied with {others}: a tie goes to the first listed)"
    return f"{verdict}, winner: {winner}"


def decision_line(p: dict, d: dict) -> str:
    """What else decides, as the tally says: the threshold for a method with a support
    share, the objection bound for consent, a positive net total for quadratic, nothing
    more for Schulze (governance §3.5-3.9)."""
    if d.get("threshold_applies", True):
        support = d.get("support")
        threshold = f"threshold {pct_text(p.get('threshold', [1, 2]))} (strictly more)"
        if support is None:
            return f"Support:   -; {threshold}: no share before a ballot names an option"
        met = "met" if d.get("threshold_met") else "NOT met"
        return f"Support:   {pct_text(support)}; {threshold}: {met}"
    detail = d.get("detail") or {}
    if "objection_share" in detail:
        reached = "reached: a veto" if d.get("veto") else "not reached"
        return (
            f"Objection: {pct_text(detail['objection_share'])} of the weight that took part; "
            f"the bound {pct_text(detail['objection_bound'])} is {reached} (no threshold)"
        )
    method = d.get("method") or p.get("method")
    if method == "quadratic" and d.get("winner") is not None:
        net = num_text((d.get("totals") or {}).get(d["winner"]))
        veto = "0 or less: a veto" if d.get("veto") else "above 0"
        return f"Net total: the winner's is {net}, {veto} (no threshold)"
    return f"Threshold: none for {_a(method or 'this')} vote (it has no support share)"


def render_tally(c, p: dict, d: dict, who: dict) -> None:
    final = d.get("status") == "final" or d.get("final") is True
    method = p.get("method")
    base = (p.get("weights") or {}).get("base", "equal")
    c.print(f"[bold]{safe_markup(p.get('title') or '')}[/bold]  ({method} vote, {base} weights)")
    state = "FINAL (sealed)" if final else "PROVISIONAL (not sealed by a witness majority yet)"
    c.print(f"Result:    {result_line(d)}  [{state}]")
    eligible, part = exact(d.get("eligible")), exact(d.get("participation"))
    turnout = part / eligible if eligible else Fraction(0)
    c.print(
        f"Turnout:   {num_text(part)} of {num_text(eligible)} eligible weight ({pct_text(turnout)}); "
        f"quorum {pct_text(p.get('quorum', [0, 1]))}: {'met' if d.get('quorum_met') else 'NOT met'}"
    )
    c.print(decision_line(p, d))
    c.print(f"Delegated: {num_text(d.get('delegated'))} weight reached a voter through delegation")
    if d.get("abstained") is not None:
        c.print(f"Abstained: {num_text(d.get('abstained'))}")
    totals = {k: exact(v) for k, v in (d.get("totals") or {}).items()}
    top = max(totals.values(), default=Fraction(0))
    rows = []
    for name, v in totals.items():
        share = v / top if top > 0 else Fraction(0)
        rows.append([name, num_text(v), bar(share.numerator, share.denominator)])
    # Schulze's totals count the options each one beats (spec §3.8), not weight
    column = "beats" if method == "schulze" else "weight"
    c.print(table(None, ["option", column, ""], rows))
    voters = d.get("voters") or []
    if voters:
        c.print(
            table(
                None,
                ["voter", "own weight", "with delegations", "choice"],
                [
                    [
                        member_label(who, v["member"]),
                        num_text(v.get("weight")),
                        num_text(v.get("effective")),
                        choice_text(method, v.get("choice")),
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
