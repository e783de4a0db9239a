"""Which op ids a local writer should name in ``deps``.

Every rule is judged against the op's causal past, so an op must *see* what its rule looks
at: the record it refers to, and for some kinds the latest change to that record (the latest
reservation step, the latest correction of a contribution, the latest maintainer list of a
project). Naming them in ``deps`` makes the verdict the one the writer expects, and keeps the
check cheap (a direct parent is found without walking the graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..op import MAX_DEPS
from ..state import State
from .common import CONTRIBUTION, OFFER, PROJECT, RESERVATION

REF_FIELDS = (
    "id",
    "offer",
    "reservation",
    "contribution",
    "project",
    "thread",
    "comment",
    "reply_to",
    "target",
)


def suggested_deps(state: State, kind: str, body: Mapping[str, Any]) -> list[bytes]:
    """Op ids for ``deps`` (at most ``MAX_DEPS``, referenced record first)."""
    out: list[bytes] = []
    for name in REF_FIELDS:
        v = body.get(name)
        if type(v) is bytes and len(v) == 32:
            out.append(v)
    if kind == "reservation.request":
        row = state.get(OFFER, body.get("offer"))
        if row is not None and row.get("statuses"):
            out.append(row["statuses"][-1][0])  # the latest status change of the offer
    elif kind.startswith("reservation."):
        row = state.get(RESERVATION, body.get("reservation"))
        if row is not None:
            out.extend(step[2] for step in row["steps"])
    elif kind == "attestation.set":
        row = state.get(CONTRIBUTION, body.get("contribution"))
        if row is not None and row["corrections"]:
            out.append(row["corrections"][-1][1])
    elif kind == "project.update":
        row = state.get(PROJECT, body.get("id"))
        if row is not None:
            out.append(row["versions"][-1][1])
    return list(dict.fromkeys(out))[:MAX_DEPS]
