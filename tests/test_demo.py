"""`python -m cli.demo` (what `make demo` runs): three daemons, the whole story, exit 0."""

from __future__ import annotations

import subprocess
import sys

from cli_helpers import ROOT, base_env


def test_demo_runs_end_to_end_and_cleans_up():
    before, daemons_before = _demo_dirs(), _daemons()
    p = subprocess.run(
        [sys.executable, "-m", "cli.demo"],
        capture_output=True,
        text=True,
        env=base_env(),
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
    assert _demo_dirs() == before  # temp dirs removed
    assert _daemons() <= daemons_before  # its daemons stopped


def _demo_dirs() -> set[str]:
    import glob
    import tempfile

    return set(glob.glob(f"{tempfile.gettempdir()}/we-demo-*"))


def _daemons() -> set[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if "cli.main daemon" in line}
