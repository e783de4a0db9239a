"""SQLite persistence for a node: the op log, fork proofs, pending ops and materialized state."""

from node.crdt.replica import Outcome

from .schema import StoreError
from .store import Store, default_handlers

__all__ = ["Outcome", "Store", "StoreError", "default_handlers"]
