"""Cooperation records: communities, membership, offers and needs, reservations, projects,
contributions and attestations, built from signed ops as a pure function of the set of ops.

``HANDLERS`` maps every record op kind to its handler (the store merges it with governance's).
Queries, matching, scores and export are pure functions over a :class:`~node.crdt.state.State`
(plus ``now`` in ms where time matters). ``specs/records.md`` is the normative description.
"""

from __future__ import annotations

from ..state import HandlerMap
from . import community, contributions, listings, projects, reservations
from .common import require_member
from .community import apply_charter_amendment, remove_member

HANDLERS: HandlerMap = {
    **community.HANDLERS,
    **listings.HANDLERS,
    **reservations.HANDLERS,
    **projects.HANDLERS,
    **contributions.HANDLERS,
}

__all__ = ["HANDLERS", "apply_charter_amendment", "remove_member", "require_member"]
