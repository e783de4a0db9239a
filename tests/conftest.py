"""Shared test setup."""

import os
import tempfile

import pytest

# Chain markers (node/identity/chainguard.py) live outside data dirs, on the machine: give
# each test process its own place for them, so no run reads another's (or the user's).
os.environ.setdefault("WE_STATE_DIR", tempfile.mkdtemp(prefix="we-state-"))


@pytest.fixture
def behind_calls(monkeypatch):
    """The tails of transactions handed to a store's writer thread (``node/store/writer.py``):
    one entry (the number of statements) per batch whose op rows were written behind."""
    from node.store.writer import Connection

    calls = []
    run = Connection.behind

    def spy(self, steps, undo):
        calls.append(len(steps))
        return run(self, steps, undo)

    monkeypatch.setattr(Connection, "behind", spy)
    return calls
