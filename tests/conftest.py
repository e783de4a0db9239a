"""Shared test setup."""

import os
import tempfile

# Chain markers (node/identity/chainguard.py) live outside data dirs, on the machine: give
# each test process its own place for them, so no run reads another's (or the user's).
os.environ.setdefault("WE_STATE_DIR", tempfile.mkdtemp(prefix="we-state-"))
