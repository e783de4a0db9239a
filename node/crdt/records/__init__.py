"""Cooperation records: communities, membership, offers and needs, reservations, projects,
contributions and attestations, discussion (threads, comments, reactions), built from signed ops as a pure function of the set of ops.

``HANDLERS`` maps every record op kind to its handler (the store merges it with governance's).
Queries, matching, scores and export are pure functions over a :class:`~node.crdt.state.State`
(plus ``now`` in ms where time matters). ``specs/records.md`` is the normative description.
"""

from __future__ import annotations

from ..state import HandlerMap
from . import community, contributions, devices, discussion, listings, projects, reservations
from .common import note_member, require_member
from .community import apply_charter_amendment, capped, removal_cutoffs, remove_member
from .deps import suggested_deps
from .devices import cert_message, devices_of, keys_of, member_of
from .discussion import mentions, thread, threads
from .export import to_csv, to_jsonld
from .listing_views import custody_history, listing, needs, offers, reservation_conflicts
from .listing_views import reservations as reservations_of
from .matching import Match, needs_for_offer, offers_for_need, pair_fit
from .queries import (
    attestations,
    charter,
    community_info,
    members,
    members_in_cut,
    profile,
    vouches,
)
from .queries import (
    contributions as contributions_of,
)
from .queries import (
    projects as projects_of,
)
from .score import contribution_scores, contribution_view
from .totals import day_weight

HANDLERS: HandlerMap = {
    **community.HANDLERS,
    **devices.HANDLERS,
    **listings.HANDLERS,
    **reservations.HANDLERS,
    **projects.HANDLERS,
    **contributions.HANDLERS,
    **discussion.HANDLERS,
}

__all__ = [
    "HANDLERS",
    "Match",
    "apply_charter_amendment",
    "attestations",
    "charter",
    "community_info",
    "contribution_scores",
    "contribution_view",
    "contributions_of",
    "custody_history",
    "day_weight",
    "listing",
    "members",
    "members_in_cut",
    "mentions",
    "needs",
    "needs_for_offer",
    "note_member",
    "offers",
    "offers_for_need",
    "pair_fit",
    "profile",
    "projects_of",
    "remove_member",
    "removal_cutoffs",
    "capped",
    "cert_message",
    "devices_of",
    "keys_of",
    "member_of",
    "require_member",
    "reservation_conflicts",
    "reservations_of",
    "suggested_deps",
    "thread",
    "threads",
    "to_csv",
    "to_jsonld",
    "vouches",
]
