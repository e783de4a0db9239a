"""Read-only views for the control API and the CLI (plain, JSON-friendly data).

Exact numbers are given as "num/den" strings (or "num" when whole), never floats.
``proposal_tally`` needs the causal index as well as the state: the control API passes it
as ``causal`` (and, when it has them, the community's fork proofs as ``forked``).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ..crdt.causal import CausalIndex
from ..crdt.state import State
from .choices import method_params
from .electorate import Electorate, from_records
from .handlers import MAX_HEADS
from .outcome import NO_SHARE
from .proposal import PROPOSAL
from .tally import Tally, tally

FIELDS = ("title", "text", "options", "method", "params", "weights", "quorum", "threshold")
FIELDS += ("abstain_counts_quorum", "opens", "closes", "witnesses", "topic", "action")


def num(x: Any) -> str | None:
    return None if x is None else str(Fraction(x))


def proposals(state: State, community: bytes, now_ms: int) -> list[dict]:
    """Every proposal of the community (newest version), newest first, with its phase at
    ``now_ms``: "upcoming", "open" or "closed"."""
    out = []
    for pid, row in state.scan(PROPOSAL):
        if row["community"] != community:
            continue
        body = max(row["versions"], key=lambda v: v["seq"])["body"]
        kind = body["action"]["kind"] if "action" in body else "decision"
        view = {"id": pid, "author": row["author"], "created_ts": row.get("ts", 0)}
        view.update({k: body[k] for k in FIELDS if k in body})
        # the limits of its ballots (max_score, credits), set or by default: a voter needs them
        if params := method_params(body["method"], body.get("params")):
            view["params"] = params
        phase = "upcoming" if now_ms < body["opens"] else "open"
        view["phase"] = "closed" if now_ms >= body["closes"] else phase
        view["versions"] = len(row["versions"])
        view["kind"] = kind
        out.append(view)
    out.sort(key=lambda v: (v["created_ts"], v["id"]), reverse=True)
    return out


def delegations(state: State, community: bytes, member: bytes) -> dict:
    """``member``'s delegations in force (newest per topic, revoked ones left out; topic ""
    is the global one) and who delegates to ``member`` now, from the whole state (a
    proposal's tally uses its cut instead)."""
    from .tally import DELEGATION

    def current(rows: list[dict]) -> dict[str, bytes]:
        latest: dict[str, dict] = {}
        for r in rows:
            if r["topic"] not in latest or r["seq"] > latest[r["topic"]]["seq"]:
                latest[r["topic"]] = r
        return {t: r["delegate"] for t, r in latest.items() if r["delegate"] is not None}

    mine = current(state.get(DELEGATION, community + member, []))
    to_me = []
    for k, rows in state.scan(DELEGATION, community):
        if k[32:] != member:
            for topic, delegate in current(rows).items():
                if delegate == member:
                    to_me.append({"member": k[32:], "topic": topic})
    return {
        "delegates": [{"topic": t, "delegate": d} for t, d in sorted(mine.items())],
        "delegators": sorted(to_me, key=lambda x: (x["member"], x["topic"])),
    }


def proposal_tally(
    state: State,
    causal: CausalIndex,
    proposal: bytes,
    forked: Mapping[bytes, int] | None = None,
    electorate: Electorate | None = None,
) -> dict:
    t = tally(state, causal, proposal, electorate or from_records(), forked=forked)
    return tally_plain(t)


def tally_plain(t: Tally) -> dict:
    o, c = t.outcome, t.outcome.count
    flow = t.flow
    voters = [
        {
            "member": m,
            "weight": num(t.weights.get(m, 0)),
            "effective": num(flow.effective.get(m, 0)),
            "seq": seq,
            "choice": t.choices[m],
        }
        for m, seq in sorted(t.counted.items())
    ]
    return {
        "version": t.version,
        "proposal": t.proposal,
        "method": c.method,
        "status": t.status,
        "passed": o.passed,
        "winner": o.winner,
        "tied": c.tied,
        "quorum_met": o.quorum_met,
        "threshold_applies": c.method not in NO_SHARE,
        "threshold_met": o.threshold_met,
        "veto": c.veto,
        "eligible": num(o.eligible),
        "participation": num(o.participation),
        "support": num(c.support),
        "abstained": num(c.abstained),
        "delegated": num(flow.delegated),
        "lost": {k: num(v) for k, v in flow.lost.items()},
        "totals": {k: num(v) for k, v in c.totals.items()},
        "detail": _detail(c.detail),
        "voters": voters,
        "counted": dict(t.counted),
        "spoiled": c.spoiled,
        "ignored": t.ignored,
        "equivocators": t.equivocators,
        "seals": t.seals,
        "bad_seals": t.bad_seals,
        "needed_seals": t.needed_seals,
        "version_id": t.version_id,
        "content": t.content,
    }


def _detail(x: Any) -> Any:
    if isinstance(x, Fraction | int) and not isinstance(x, bool):
        return num(x)
    if isinstance(x, dict):
        return {k: _detail(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_detail(v) for v in x]
    return x


def seal_bodies(proposal: bytes, heads: Mapping[bytes, int]) -> list[dict]:
    """The ``seal.create`` bodies a witness publishes, in order, to name every head it holds
    (author -> highest seq): parts of at most 1500 heads, the last one ``final``. A seal's
    deps alone (at most 16) would not reach every ballot in a large community."""
    items = [[a, s] for a, s in sorted(heads.items())]
    parts = [items[i : i + MAX_HEADS] for i in range(0, len(items), MAX_HEADS)] or [[]]
    return [
        {"proposal": proposal, "heads": part, "final": i == len(parts) - 1}
        for i, part in enumerate(parts)
    ]
