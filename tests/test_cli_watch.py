"""`we watch` offline looks at the store now and then, and lets go of it in between."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from cli_helpers import ROOT, Daemon, base_env, we


def test_offline_watch_lets_status_a_writer_and_a_daemon_in(tmp_path):
    """An offline `we watch` kept the data dir locked while it slept: `we status` gave up
    after 10 s (exit 5) and `we daemon` could not start. Now the lock is free between looks,
    what others write shows up, and once a daemon runs watch goes on through it."""
    home = tmp_path / "solo"
    assert we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0").code == 0
    assert we(home, "community", "create", "Solo", "--vouches", "0").code == 0
    cmd = [sys.executable, "-m", "cli.main", "--data-dir", str(home), "--json", "watch"]
    proc = subprocess.Popen(
        [*cmd, "--interval", "1", "--max-events", "2"],
        cwd=ROOT,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon = Daemon(home)
    try:
        time.sleep(3)  # watch is in its loop of looks
        started = time.monotonic()
        st = we(home, "--json", "status")
        assert st.code == 0, st.err
        assert st.json["daemon"] is False and time.monotonic() - started < 8
        r = we(home, "--json", "offer", "add", "Ladder", "--category", "tools")
        assert r.code == 0, r.err
        daemon.start()  # waits no more than its 10 s for the lock: it gets it between looks
        r = we(home, "--json", "offer", "add", "Drill", "--category", "tools")
        assert r.code == 0, r.err
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        daemon.stop()
    assert proc.returncode == 0, err
    shown = [json.loads(line)["what"] for line in out.splitlines()]
    # a look words an offer's event as the activity list does, the daemon's push by op kind
    assert [w.rsplit(": ", 1)[-1] for w in shown] == ["Ladder", "Drill"], (out, err)
