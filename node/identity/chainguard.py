"""Never sign at a seq this key may already have used: the chain guard.

A member's ops form one chain per community, and two different ops at one seq are a fork:
every node then voids the member's ops from that seq on (``specs/ops.md`` §8). An honest
member forks by accident when a node signs "the next seq" from a store that lacks ops the
key already signed and published: a data dir restored from a backup, or copied to another
machine and run there.

The guard compares the store with a **chain marker** kept outside the data dir, on this
machine (``state_dir()``), which a restore of the data dir cannot bring back in an older
version: for this key, per community, the highest seq (and op id) this machine signed. A
small file in the data dir (``chain.guard``) says the data dir was set up with a guard; a
data dir without it predates the guard and adopts its store as it is, once.

Per community the guard is in one of three states:

- ``ok``: the store holds everything the marker says this key signed here (or a peer
  confirmed the chain since this node opened);
- ``behind``: the marker is ahead of the store (a restored backup): writes wait until sync
  has brought the missing ops of the member's own chain back from peers;
- ``unverified``: this machine has no marker for the key (the data dir was copied or moved
  here, or the key imported): the first write in a community waits for one completed sync
  with a peer of that community, which brings the member's chain as the network knows it.

``adopt()`` accepts the store as it is (the user says no other copy will ever run again).
Two copies running at once can still fork each other: that is what separate device keys are
for. Plain logic over small JSON files; the caller passes the store's own heads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

GUARD_FILE = "chain.guard"
STATE_ENV = "WE_STATE_DIR"
OK, BEHIND, UNVERIFIED = "ok", "behind", "unverified"


class ChainGuardError(Exception):
    """Signing now could fork this member's chain. ``reason``: ``chain_behind`` or
    ``chain_unverified``; the message says what happened and what to do."""

    def __init__(self, reason: str, message: str, hint: str):
        super().__init__(message)
        self.reason = reason
        self.hint = hint


def state_dir() -> Path:
    """Where this machine keeps chain markers: ``$WE_STATE_DIR``, else
    ``$XDG_STATE_HOME/we``, else ``~/.local/state/we``."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "we"


def _write_atomic(path: Path, doc: Mapping[str, Any]) -> None:
    """Write, flush to disk, then rename over: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a damaged marker is no marker: the guard asks peers instead


class ChainGuard:
    """The guard of one key in one data dir. ``own_seq(community)``: the highest seq of this
    key's chain the store holds there (0: none)."""

    def __init__(
        self,
        data_dir: Path,
        public_key: bytes,
        own_seq: Callable[[bytes], int],
        communities: Callable[[], list[bytes]],
        *,
        markers: Path | None = None,
    ):
        self.public_key = public_key
        self._own_seq = own_seq
        self._communities = communities
        self._guard_file = Path(data_dir) / GUARD_FILE
        self._marker_file = (markers or state_dir()) / f"chain-{public_key.hex()}.json"
        doc = _read(self._marker_file)
        if doc is not None and doc.get("public_key") != public_key.hex():
            doc = None
        # community -> (seq, op id hex) this machine signed or confirmed with a peer;
        # ``complete``: the marker knows every community this key wrote in from here (a
        # fresh data dir, or ``adopt``), so an unlisted one has no op of this key.
        self._chains: dict[bytes, tuple[int, str]] = {
            bytes.fromhex(c): (int(s), i) for c, (s, i) in (doc or {}).get("chains", {}).items()
        }
        self._complete = bool(doc and doc.get("complete"))
        if not self._guard_file.exists():
            # A fresh data dir, or one from before the guard: what it holds is the truth,
            # unless this machine has a marker for the key (a backup from before the guard
            # was restored over a data dir that had one): then the marker judges it.
            if doc is None:
                self.adopt()
            _write_atomic(self._guard_file, {"version": 1, "public_key": public_key.hex()})

    # ---------------------------------------------------------------------------- queries
    def state(self, community: bytes) -> str:
        known = self._chains.get(community)
        if known is None:
            return OK if self._complete else UNVERIFIED
        return OK if self._own_seq(community) >= known[0] else BEHIND

    def check(self, community: bytes) -> None:
        """Raise :class:`ChainGuardError` unless this key may sign in ``community`` now."""
        st = self.state(community)
        if st == OK:
            return
        if st == BEHIND:
            want, have = self._chains[community][0], self._own_seq(community)
            raise ChainGuardError(
                "chain_behind",
                f"this data dir is behind your own chain: you signed up to op {want} in this "
                f"community on this machine, and the store holds {have}. It looks like a "
                "restored backup; signing now would fork your chain.",
                "keep the daemon running and connected: it fetches your newer ops from peers, "
                "then writes work again (`we status` shows it). If those ops were never sent "
                "to anyone, `we key adopt` accepts the store as it is.",
            )
        raise ChainGuardError(
            "chain_unverified",
            "this key has no chain marker on this machine for this community (the data dir "
            "was copied or moved here, or the key imported): before it signs here, the node "
            "must learn your chain's head from a peer, or it could fork your chain.",
            "start the daemon (`we daemon`) and let it sync with a peer of the community; "
            "if the old copy will never run again and nobody else holds newer ops of yours, "
            "`we key adopt` accepts the store as it is.",
        )

    def status(self) -> dict:
        """The guard's view for `we status`: ``state`` overall and per community."""
        per = {c: self.state(c) for c in self._communities()}
        states = set(per.values())
        worst = BEHIND if BEHIND in states else UNVERIFIED if UNVERIFIED in states else OK
        return {"state": worst, "communities": {c.hex(): s for c, s in per.items()}}

    # ---------------------------------------------------------------------------- changes
    def signed(self, community: bytes, seq: int, op_id: bytes) -> None:
        """Record an op this key just signed and stored here (before it is published)."""
        old = self._chains.get(community)
        if old is None or old[0] < seq:
            self._chains[community] = (seq, op_id.hex())
            self._save()

    def peer_synced(self, community: bytes) -> None:
        """A sync session with a peer of ``community`` completed: the store holds this key's
        chain as far as that peer knew it. Unverified: verified now. Behind: only once sync
        has brought the store up to the marker (nothing to do here)."""
        if community not in self._chains and not self._complete:
            self._chains[community] = (self._own_seq(community), "")
            self._save()

    def adopt(self) -> None:
        """Accept the store's own heads as this key's whole chain on this machine."""
        self._chains = {}
        for c in self._communities():
            seq = self._own_seq(c)
            if seq:
                self._chains[c] = (seq, "")
        self._complete = True
        self._save()

    def _save(self) -> None:
        chains = {c.hex(): [s, i] for c, (s, i) in sorted(self._chains.items())}
        doc = {
            "version": 1,
            "public_key": self.public_key.hex(),
            "complete": self._complete,
            "chains": chains,
        }
        _write_atomic(self._marker_file, doc)


def mark_restored(data_dir: Path, public_key: bytes) -> None:
    """A key restored into a new data dir (``we key import``): its chain lives elsewhere, so
    the data dir is not "fresh" (which would trust its empty store): without a marker on this
    machine, each community waits for a peer's word before the first write."""
    _write_atomic(Path(data_dir) / GUARD_FILE, {"version": 1, "public_key": public_key.hex()})
