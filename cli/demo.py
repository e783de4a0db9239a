"""`make demo` / `python -m cli.demo`: three real nodes cooperate on loopback.

Each node is a separate `we daemon` process with its own temporary data dir (plaintext keys:
demo only). Every step runs the same `we ...` command a person would type, as a subprocess,
and prints it first. At the end every node prints the same sealed tally. Processes and files
are cleaned up whatever happens; the exit code is 0 only if every step did what it should.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = ("alice", "bob", "carol")
STEP_TIMEOUT = 30.0


class DemoError(Exception):
    pass


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


class Node:
    def __init__(self, name: str, root: Path):
        self.name = name
        self.home = root / name
        self.proc: subprocess.Popen | None = None
        self.log = root / f"{name}.log"
        self.member_id = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WE_")}
        env["WE_HOME"] = str(self.home)
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        env.setdefault("COLUMNS", "120")
        return env

    def we(self, *args: str, show: bool = True, json_out: bool = True, check: bool = True):
        """Run `we ARGS` as this node's user; return parsed --json output."""
        if show:
            print(f"\033[36m{self.name}$ we {shlex.join(args)}\033[0m", flush=True)
        cmd = [sys.executable, "-m", "cli.main", *args] + (["--json"] if json_out else [])
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=120)
        if check and p.returncode != 0:
            raise DemoError(
                f"{self.name}: `we {shlex.join(args)}` failed ({p.returncode}):\n{p.stderr}"
            )
        if not json_out:
            if show:
                print(p.stdout.rstrip())
            return p.stdout
        return json.loads(p.stdout) if p.stdout.strip() else None

    def start_daemon(self) -> None:
        print(f"\033[36m{self.name}$ we daemon &\033[0m", flush=True)
        log = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "daemon", "--listen", "/ip4/127.0.0.1/tcp/0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            start_new_session=True,
        )
        log.close()

    def wait_daemon(self) -> dict:
        def up():
            if self.proc.poll() is not None:
                raise DemoError(f"{self.name}'s daemon exited:\n{self.log.read_text()[-3000:]}")
            st = self.we("status", show=False, check=False)
            return st if st and st.get("daemon") else None

        return wait_for(f"{self.name}'s daemon", up)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for(what: str, probe, timeout: float = STEP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        time.sleep(0.3)


def seen_by(node: Node, what: str, args: tuple[str, ...], pred) -> object:
    """Wait until a query on ``node`` satisfies ``pred`` (replication is asynchronous)."""

    def probe():
        rows = node.we(*args, show=False, check=False)
        return pred(rows) if rows is not None else None

    return wait_for(f"{what} to reach {node.name}", probe)


def wait_status(node: Node, res: str, status: str) -> None:
    seen_by(
        node,
        f"reservation status {status}",
        ("reservation", "list"),
        lambda rows: (r := by_id(rows, res)) and r.get("status") == status,
    )


def by_id(rows, ident):
    return next((r for r in rows or [] if r["id"] == ident), None)


def run(root: Path) -> dict:
    alice, bob, carol = nodes = [Node(n, root) for n in NAMES]
    try:
        say("Three people set up their nodes (keys unencrypted: demo only)")
        for n in nodes:
            n.member_id = n.we("init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")[
                "member_id"
            ]
        for n in nodes:
            n.start_daemon()
        for n in nodes:
            n.wait_daemon()

        say("Alice creates a community; bob and carol are its witnesses with her")
        cid = alice.we(
            "community",
            "create",
            "Tool Library",
            "--description",
            "Share tools, fix things",
            "--vouches",
            "1",
            "--attestations",
            "1",
            "--half-life",
            "180",
            "--witness",
            alice.member_id,
            "--witness",
            bob.member_id,
            "--witness",
            carol.member_id,
        )["id"]
        line = alice.we("community", "info")["line"]
        print(line)

        say("Bob and carol join with the line alice shared; alice vouches for them")
        for n in (bob, carol):
            n.we("community", "join", line)
        seen_by(alice, "join requests", ("member", "list"), lambda rows: len(rows) >= 3 and rows)
        alice.we("member", "vouch", bob.member_id[:16])
        alice.we("member", "vouch", carol.member_id[:16])
        for n in nodes:
            seen_by(
                n,
                "membership",
                ("member", "list"),
                lambda rows: sum(r.get("status") == "member" for r in rows) == 3 and rows,
            )
        alice.we("member", "list", json_out=False)
        alice.we("profile", "set", "--name", "Alice", "--skill", "carpentry")
        bob.we("profile", "set", "--name", "Bob", "--skill", "electronics")
        carol.we("profile", "set", "--name", "Carol", "--skill", "gardening")

        say("Offers and needs are published and matched")
        drill = alice.we(
            "offer",
            "add",
            "Cordless drill",
            "--category",
            "tools/power/drill",
            "--action",
            "lend",
            "--expires",
            "+30d",
        )["id"]
        bob.we(
            "offer",
            "add",
            "Soldering station",
            "--category",
            "tools/electronics",
            "--action",
            "lend",
        )
        need = carol.we(
            "need",
            "add",
            "A drill for shelves",
            "--category",
            "tools/power/drill",
            "--action",
            "lend",
            "--expires",
            "+7d",
        )["id"]
        seen_by(carol, "alice's offer", ("offer", "list"), lambda rows: by_id(rows, drill))
        carol.we("offer", "list", json_out=False)
        matches = carol.we("match", need[:10])
        if not any(m.get("offer") == drill for m in matches):
            raise DemoError(f"the drill does not match carol's need: {matches}")
        carol.we("match", need[:10], json_out=False)

        say("Carol borrows the drill: request -> accept -> handover -> return")
        res = carol.we("reserve", drill[:10], "--from", "+1h", "--until", "+2d")["id"]
        seen_by(alice, "the reservation", ("reservation", "list"), lambda rows: by_id(rows, res))
        alice.we("reservation", "accept", res[:10])
        wait_status(carol, res, "accepted")
        carol.we("reservation", "handover", res[:10])  # the borrower confirms she has it
        wait_status(alice, res, "handed_over")
        alice.we("reservation", "return", res[:10])  # the owner confirms it came back
        wait_status(carol, res, "returned")
        alice.we("reservation", "list", json_out=False)

        say("Contributions to a project are recorded and attested by peers")
        proj = alice.we(
            "project", "create", "Repair cafe", "--description", "Monthly repair evening"
        )["id"]
        seen_by(bob, "the project", ("project", "list"), lambda rows: by_id(rows, proj))
        seen_by(carol, "the project", ("project", "list"), lambda rows: by_id(rows, proj))
        c_bob = bob.we(
            "contribute",
            proj[:10],
            "--hours",
            "6",
            "--skill",
            "electronics",
            "--what",
            "fixed 4 radios",
        )["id"]
        c_carol = carol.we(
            "contribute",
            proj[:10],
            "--hours",
            "2",
            "--skill",
            "gardening",
            "--what",
            "ran the seed swap",
        )["id"]
        c_alice = alice.we(
            "contribute",
            proj[:10],
            "--hours",
            "3",
            "--skill",
            "carpentry",
            "--what",
            "built shelves",
        )["id"]
        seen_by(alice, "contributions", ("score",), lambda rows: rows is not None)
        for who, contrib in ((alice, c_bob), (alice, c_carol), (bob, c_alice)):
            seen_by(
                who,
                "the contribution",
                ("contribution", "list") if False else ("score",),
                lambda rows: True,
            )
            _attest_when_visible(who, contrib)
        seen_by(
            alice,
            "attestations",
            ("score",),
            lambda rows: sum(1 for r in rows if _positive(r.get("score"))) >= 3 and rows,
        )
        alice.we("score", json_out=False)

        say("A contribution-weighted proposal: carol delegates to bob, bob and alice vote")
        prop = alice.we(
            "proposal",
            "create",
            "Buy a second drill",
            "--body",
            "Spend 80 EUR from the kitty on a second drill",
            "--weight",
            "score",
            "--quorum",
            "50%",
            "--threshold",
            "1/2",
            "--opens",
            "now",
            "--closes",
            "+25s",
        )["id"]
        for n in (bob, carol):
            seen_by(n, "the proposal", ("proposal", "list"), lambda rows: by_id(rows, prop))
        carol.we("delegate", "Bob")
        seen_by(bob, "carol's delegation", ("proposal", "list"), lambda rows: True)
        bob.we("vote", prop[:10], "yes")
        alice.we("vote", prop[:10], "no")
        for n in nodes:
            seen_by(
                n, "both ballots", ("tally", prop[:10]), lambda t: t.get("ballots", 0) >= 2 and t
            )
        alice.we("tally", prop[:10], json_out=False)

        closes = alice.we("proposal", "show", prop[:10], show=False)["closes"]
        wait = max(0.0, closes / 1000 - time.time()) + 1.0
        say(f"Waiting {wait:.0f}s for the vote to close, then the witnesses seal it")
        time.sleep(wait)
        for n in nodes:
            n.we("seal", prop[:10])
        results = {}
        for n in nodes:
            results[n.name] = seen_by(
                n, "the seals", ("tally", prop[:10]), lambda t: t.get("final") and t
            )

        say("Every node prints the same final result")
        for n in nodes:
            n.we("tally", prop[:10], json_out=False)
        first = json.dumps(results["alice"], sort_keys=True)
        if any(json.dumps(r, sort_keys=True) != first for r in results.values()):
            raise DemoError(f"nodes disagree on the tally: {results}")
        print(
            f"\nAll three nodes agree: {'passed' if results['alice'].get('passed') else 'not passed'} (final, sealed)."
        )
        return {"community": cid, "proposal": prop, "tally": results["alice"]}
    finally:
        for n in nodes:
            n.stop()


def _positive(x) -> bool:
    if isinstance(x, list):
        return x[0] > 0
    return bool(x)


def _attest_when_visible(who: Node, contrib: str) -> None:
    def probe():
        r = who.we("attest", contrib[:12], show=False, check=False)
        return r

    print(f"\033[36m{who.name}$ we attest {contrib[:12]}\033[0m", flush=True)
    wait_for(f"contribution {contrib[:12]} to reach {who.name}", probe)


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="we-demo-"))
    ok = False
    try:
        run(root)
        ok = True
    except DemoError as exc:
        print(f"\n\033[31mDemo failed: {exc}\033[0m", file=sys.stderr)
        for log in sorted(root.glob("*.log")):
            print(f"--- {log.name} (last lines)", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
