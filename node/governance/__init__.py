"""Governance: proposals, ballots, delegation, weights, tally methods and sealing. Pure.

``HANDLERS`` maps governance op kinds to handlers (the store merges it with records'),
``tally`` recomputes a proposal's result from state; ``specs/governance.md`` is normative.
"""

from __future__ import annotations

from ..crdt.state import HandlerMap
from .electorate import Electorate, from_records
from .handlers import make_handlers
from .tally import Tally, tally
from .views import delegations, proposal_tally, proposals, seal_bodies

HANDLERS: HandlerMap = make_handlers(from_records())

__all__ = [
    "HANDLERS",
    "Electorate",
    "Tally",
    "from_records",
    "make_handlers",
    "delegations",
    "proposal_tally",
    "proposals",
    "seal_bodies",
    "tally",
]
