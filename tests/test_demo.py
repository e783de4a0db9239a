"""`python -m cli.demo` (what `make demo` runs): three daemons, the whole story, exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cli_helpers import ROOT, base_env


def test_demo_runs_end_to_end_and_cleans_up(tmp_path):
    machine_state = tmp_path / "xdg-state"  # where real keys' chain markers would go
    p = subprocess.run(
        [sys.executable, "-m", "cli.demo"],
        capture_output=True,
        text=True,
        env={**base_env(), "XDG_STATE_HOME": str(machine_state)},
        cwd=ROOT,
        timeout=170,
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    out = p.stdout
    # it narrates the commands a user types, on each of the three nodes
    for step in (
        "alice$ we community create",
        "bob$ we community join",
        "alice$ we member vouch",
        "carol$ we reserve",
        "carol$ we reservation handover",
        "alice$ we reservation return",
        "alice$ we attest",
        "carol$ we delegate",
        "bob$ we vote",
        "carol$ we seal",
    ):
        assert step in out, step
    assert "All three nodes agree" in out
    assert out.count("FINAL (sealed)") >= 3  # each node printed the final tally
    counted = re.findall(r"Counted: +version \w+, content ([0-9a-f]{16})", out)
    assert len(counted) >= 3 and len(set(counted)) == 1  # the same content, on every node
    root = re.search(r"Working in (\S+) ", out).group(1)
    assert not os.path.exists(root)  # its files are gone
    assert not machine_state.exists()  # and its throwaway keys left no chain markers behind
    pids = re.search(r"Stopped the daemons \(pids ([\d ]+)\)", out).group(1).split()
    assert len(pids) == 3
    for pid in pids:  # and its processes
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)


def _zombie(pid: str) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1].startswith("Z")
