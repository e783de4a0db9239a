"""One CLI round trip as a user sees it, and matching measured against it.

Timed, in the same run:
- ``we --json status`` and ``we --json offer list`` as real subprocesses (the ``we`` console
  script of this interpreter's environment), median of ``RUNS`` each: offline (the command
  opens the node in its own process) and against a running ``we daemon`` (the command talks
  to its control socket). ``python -c pass`` (the interpreter starting) is the floor.
  The CLI's community is small (``CLI_OFFERS`` offers): this is the cost of one command.
- in-process ``node.query("matches", need=...)`` for one need against 10,000 offers (a node
  opened with ``network=False`` whose store holds them), median of ``RUNS``.

Issue 3 asks that matching take well under one CLI round trip: the table reports
matching / round trip for both backends.

Lists at scale (issue 11): ``we offer list`` (table), ``we --json offer list``, ``--mine``,
``we offer show PREFIX``, ``we match NEED``, ``we match --all`` and ``we inbox`` against a daemon whose community holds ``LIST_OFFERS`` offers (a page
of 100 rows by default). Building that community takes minutes (100,000 signed ops), so
``--list-home DIR`` reuses one built before (``--list-offers N`` builds a smaller one).

``python -m bench cli [runs] [--list-offers N] [--list-home DIR]``; writes results/cli.json.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
RUNS = 10
CLI_OFFERS = 20
MATCH_OFFERS = 10_000
LIST_OFFERS = 100_000
AUTHORS = 100  # the 10,000 offers come from this many members
DAY = 86_400_000
CATEGORIES = [f"{a}/{b}" for a in ("tools", "kitchen", "garden", "transport") for b in "xyz"]


def we_command() -> list[str]:
    script = Path(sys.executable).parent / "we"
    if script.exists():
        return [str(script)]
    found = shutil.which("we")
    return [found] if found else [sys.executable, "-m", "cli.main"]


def env() -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith("WE_")}
    out["PYTHONPATH"] = str(ROOT)
    return out


def we(home: Path, *args: str) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [*we_command(), "--data-dir", str(home), *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=120,
    )
    if p.returncode != 0:
        raise RuntimeError(f"we {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def median_s(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_wall(home: Path, args: tuple[str, ...], runs: int) -> float:
    return median_s(lambda: we(home, *args), runs)


def setup_cli_node(home: Path) -> None:
    we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    we(home, "community", "create", "Bench", "--vouches", "0")
    for i in range(CLI_OFFERS):
        we(home, "offer", "add", f"Thing {i}", "--category", CATEGORIES[i % len(CATEGORIES)])


class Daemon:
    def __init__(self, home: Path):
        self.home = home
        self.log = open(home.parent / "daemon.log", "wb")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [*we_command(), "--data-dir", str(home), "daemon"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env(),
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited: {(self.home.parent / 'daemon.log')}")
            if (self.home / "control.sock").exists():
                status = json.loads(we(self.home, "--json", "status").stdout)
                if status.get("daemon"):
                    return
            time.sleep(0.2)
        raise RuntimeError("the daemon did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cli_round_trips(root: Path, runs: int) -> dict:
    home = root / "cli"
    setup_cli_node(home)
    out: dict = {"offers": CLI_OFFERS, "runs": runs}
    bare = [sys.executable, "-c", "pass"]
    out["interpreter_start_s"] = median_s(lambda: subprocess.run(bare, check=True), runs)
    for backend in ("offline", "daemon"):
        daemon = None
        if backend == "daemon":
            daemon = Daemon(home)
            daemon.wait_ready()
        try:
            status = json.loads(we(home, "--json", "status").stdout)
            assert status["daemon"] is (backend == "daemon"), status
            listed = json.loads(we(home, "--json", "offer", "list").stdout)
            assert len(listed) == CLI_OFFERS, len(listed)
            out[backend] = {
                "status_s": median_wall(home, ("--json", "status"), runs),
                "offer_list_s": median_wall(home, ("--json", "offer", "list"), runs),
            }
        finally:
            if daemon is not None:
                daemon.stop()
    return out


def build_offers(cid: bytes, genesis, now: int, n: int = MATCH_OFFERS) -> tuple[list, bytes]:
    """Signed ops (not timed): AUTHORS members joining, ``n`` offers, one need."""
    import nacl.signing

    from node.crdt import records
    from node.crdt.replica import Replica

    replica = Replica(records.HANDLERS)
    replica.ingest(genesis)
    ops = []

    def write(key, kind, body):
        op = replica.compose(key, cid, kind, body, ts=now)
        outcome = replica.ingest(op)
        assert outcome.status == "applied", (kind, outcome)
        ops.append(op)
        return op

    keys = [nacl.signing.SigningKey(bytes([i % 256, i // 256]) * 16) for i in range(1, AUTHORS + 1)]
    for k in keys:
        write(k, "member.join", {})
    for i in range(n):
        body = {
            "title": f"offer {i}",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "action": "lend",
            "geohash": f"u33d{'bcfguv'[i % 6]}{i % 10}",
            "radius_m": 1000 * (1 + i % 5),
            "expires": now + 300 * DAY,
            "quantity": {"amount": 1 + i % 2, "unit": "item"},
        }
        write(keys[i % AUTHORS], "offer.create", body)
    need = {**body, "title": "a need", "category": CATEGORIES[0], "geohash": "u33db0"}
    return ops, write(keys[0], "need.create", need).id


def build_big_home(home: Path, n: int) -> None:
    """A CLI data dir (plaintext key) whose only community holds ``n`` offers by AUTHORS
    members (signed here, not timed), as a community that has grown would."""
    import trio

    we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")

    async def fill() -> None:
        from node import Node

        async with Node.open(home, network=False) as node:
            now = time.time_ns() // 1_000_000
            cid = await node.create_community({"name": "Big", "membership": {"rule": "open"}})
            ops, _ = build_offers(cid, node.store.get_op(cid), now, n)
            for i in range(0, len(ops), 2000):
                node.store.ingest(ops[i : i + 2000])

    trio.run(fill)


async def matching(root: Path, runs: int) -> dict:
    from node import Node

    async with Node.open(root / "match", insecure_plaintext=True, network=False) as node:
        now = time.time_ns() // 1_000_000
        cid = await node.create_community(
            {"name": "Matching bench", "membership": {"rule": "open"}}
        )
        ops, need = build_offers(cid, node.store.get_op(cid), now)
        for i in range(0, len(ops), 1000):
            node.store.ingest(ops[i : i + 1000])
        offers = node.query("offers", community=cid.hex(), status=None)
        assert len(offers) == MATCH_OFFERS, len(offers)
        args = {"community": cid.hex(), "need": need.hex()}
        found = node.query("matches", **args)
        return {
            "offers": MATCH_OFFERS,
            "runs": runs,
            "median_s": median_s(lambda: node.query("matches", **args), runs),
            "matches_returned": len(found),
        }


def lists(root: Path, runs: int, n: int, home: Path | None) -> dict:
    """`we offer list` and friends against a daemon holding ``n`` offers (or a prebuilt home)."""
    if home is None:
        home = root / "lists"
        build_big_home(home, n)
    daemon = Daemon(home)
    try:
        daemon.wait_ready(timeout=600)
        first = json.loads(we(home, "--json", "offer", "list", "--limit", "1").stdout)[0]
        need = json.loads(we(home, "--json", "need", "list", "--limit", "1").stdout)[0]
        out: dict = {"offers": n, "runs": runs, "page": 100}
        cases = {
            "table_s": ("offer", "list"),
            "json_s": ("--json", "offer", "list"),
            "mine_s": ("offer", "list", "--mine"),
            "show_s": ("offer", "show", first["id"][:10]),
            "status_s": ("--json", "status"),
            "match_s": ("match", need["id"][:10]),
            "match_all_s": ("match", "--all"),
            "inbox_s": ("inbox",),
        }
        for name, args in cases.items():
            out[name] = median_wall(home, args, runs)
        return out
    finally:
        daemon.stop()


def run(runs: int = RUNS, list_offers: int = LIST_OFFERS, list_home: Path | None = None) -> dict:
    import trio

    with tempfile.TemporaryDirectory(prefix="we-bench-cli-") as d:
        root = Path(d)
        big = lists(root, runs, list_offers, list_home)
        cli = cli_round_trips(root, runs)
        match = trio.run(matching, root, runs)
    ratios = {
        f"match_over_{backend}_{cmd}": match["median_s"] / cli[backend][f"{cmd}_s"]
        for backend in ("offline", "daemon")
        for cmd in ("status", "offer_list")
    }
    return {
        "python": sys.version.split()[0],
        "cli": cli,
        "lists": big,
        "match": match,
        "ratios": ratios,
        "target": "matching one need against 10,000 offers well under one CLI round trip",
    }


def main() -> None:
    runs, list_offers, list_home = RUNS, LIST_OFFERS, None
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg.isdigit() and (i == 0 or not args[i - 1].startswith("--")):
            runs = int(arg)
        elif arg == "--list-offers":
            list_offers = int(args[i + 1])
        elif arg == "--list-home":
            list_home = Path(args[i + 1])
            n = json.loads(we(list_home, "--json", "status").stdout)["communities"][0]["ops"]
            list_offers = n
    r = run(runs, list_offers, list_home)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli.json").write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")
    cli, match = r["cli"], r["match"]
    status_daemon = cli["daemon"]["status_s"]
    rows = [("python -c pass (interpreter start: the floor)", cli["interpreter_start_s"])]
    for backend in ("offline", "daemon"):
        rows.append((f"we --json status ({backend})", cli[backend]["status_s"]))
        rows.append(
            (f"we --json offer list ({backend}, {CLI_OFFERS} offers)", cli[backend]["offer_list_s"])
        )
    big = r["lists"]
    for key, what in (
        ("table_s", "we offer list (table, first 100)"),
        ("json_s", "we --json offer list (first 100)"),
        ("mine_s", "we offer list --mine"),
        ("show_s", "we offer show PREFIX"),
        ("status_s", "we --json status"),
        ("match_s", "we match NEED (1 need vs every offer)"),
        ("match_all_s", "we match --all (every need)"),
        ("inbox_s", "we inbox"),
    ):
        rows.append((f"{what} (daemon, {big['offers']:,} records)", big[key]))
    label = f"matches: 1 need vs {match['offers']:,} offers (in-process, top {match['matches_returned']})"
    rows.append((label, match["median_s"]))
    print(f"CLI round trips and matching, median of {runs} runs each")
    print(f"{'step':<58} {'seconds':>9}  {'x daemon status':>15}")
    for label, secs in rows:
        print(f"{label:<58} {secs:9.4f}  {secs / status_daemon:15.3f}")
    print()
    for key, value in r["ratios"].items():
        print(f"{key:<40} {value:.3f}")
    print(f"wrote {RESULTS / 'cli.json'}")


if __name__ == "__main__":
    main()
