"""Why a sync session cannot go on (shared by the session and its planning)."""

from __future__ import annotations


class SyncError(Exception):
    """The session cannot go on. ``blame`` is True when the peer broke the protocol."""

    def __init__(self, reason: str, detail: str = "", *, blame: bool = True):
        self.reason = reason
        self.detail = detail
        self.blame = blame
        super().__init__(f"{reason}: {detail}" if detail else reason)
