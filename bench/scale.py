"""How the store grows with history (issue 13): ingest rate, reopen time, memory, disk and the
cost of a read at several sizes of the records workload, side by side in one run.

For each size N (default 20,000 and 100,000 ops; ``python -m bench scale 20000 100000
1000000`` for more): the records benchmark's workload of N mixed record ops is ingested into
a fresh SQLite store in batches of 5,000 (signatures checked, records handlers on). Then:

- a fresh Python process opens the store (the time ``Store.open`` takes and the process's
  resident memory), ingests ``TAIL`` more ops of the workload in batches of 100 (a node's
  day-to-day after the reopen: its rate, and the memory after it), and reads in-process the
  first page of 50 offers, the member list, one member's own views and whole inbox, a page
  of the activity feed, and the community's lists that read all history (the score table,
  every contribution), and the scores within a cut 5,000 ops back (a score-weighted
  tally's weights) as the store reads them (the kept totals, with what the ops past the cut
  touched taken back) and from every row;
- a real ``we daemon`` runs on that store file: its resident memory once up and idle, and one
  ``we --json offer list`` round trip through it.

- then ``CATCH_UP`` more ops come in as a sync session hands them to the store (2,048 a
  transaction), into two copies of the file: each transaction committed, and the session's
  transactions sharing commits (``Store.batched``, what the daemon does): the rate and the
  bytes written per op (``/proc/self/io``) of each.

Disk is the store file (after a checkpoint) per op, and as a ratio to the encoded op bytes.
The issue's targets at 1,000,000 ops: open < 1 s, an idle node < 250 MB, disk <= 2 x the
encoded ops, reads as fast as at 100,000.

Writes results/scale.json.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cbor2

from bench.records import workload

ROOT = Path(__file__).parent.parent
OUT = ROOT / "bench" / "results" / "scale.json"

# Run in a fresh process: RSS added by opening, and the open time, without this process's
# workload objects in the way.
PROBE = r"""
import json, sys, time
import cbor2
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
from node.store import Store
from node.crdt.records import listing_views, queries
before = rss()
t = time.perf_counter()
s = Store.open(sys.argv[1])
opened = time.perf_counter() - t
after = rss()
tail = cbor2.loads(open(sys.argv[2], "rb").read())
t = time.perf_counter()
for i in range(0, len(tail), 100):
    s.ingest(tail[i : i + 100])
tail_rate = len(tail) / (time.perf_counter() - t)
community = s.communities()[0]
now = int(sys.argv[3])
t = time.perf_counter()
page = listing_views.offers(s.state, community, now, limit=50)
list_s = time.perf_counter() - t
t = time.perf_counter()
people = queries.members(s.state, community)
members_s = time.perf_counter() - t
busy = rss()  # after the tail: before the views below, which build their own lists
# a member's own views (the member in the middle of the list): what `we inbox` and
# `we score --member` read; and the whole inbox, in-process
from node.crdt.records import views
from node.service.control import run_query
from node.service.inbox import needs_me
me = people[len(people) // 2]["member"]
def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
member_s = {
    "reservations": timed(lambda: listing_views.reservations(s.state, community, member=me)),
    "contributions": timed(lambda: queries.contributions(s.state, community, member=me)),
    "score": timed(lambda: views.scores(s.state, community, now, member=me)),
    "attestations_asked": timed(lambda: views.attestations_asked(s.state, community, me)),
    "inbox": timed(lambda: needs_me(lambda v, **a: run_query(s, v, a), community.hex(), me.hex())),
}
# the community's own lists, in-process: a page of the activity feed (what `we activity`
# shows: its newest 100 events), and the two that read all history: the score table (`we
# score`) and every contribution (`we contribution list --limit 0`)
from node.service.inbox import activity
community_s = {
    "activity_page": timed(lambda: activity(lambda v, **a: run_query(s, v, a), community.hex(), 100)),
    "scores": timed(lambda: views.scores(s.state, community, now)),
    "contributions": timed(lambda: queries.contributions(s.state, community)),
}
# the scores within a cut (what a score-weighted tally weighs votes by), the cut 5,000 ops
# back: from the kept totals, with what ops past the cut touched taken back, then from
# every row
from node.crdt.records import score
(cut_op,) = s._db.execute("SELECT id FROM ops ORDER BY rowid DESC LIMIT 1 OFFSET 5000").fetchone()
clock = s.replica.causal.vector_clock(s.replica.meta(cut_op))
cut_kept = timed(lambda: score.contribution_scores(s.state, community, clock, now))
s.state.memo.clear()
s.state.beyond = lambda *a: None
cut_rows = timed(lambda: score.contribution_scores(s.state, community, clock, now))
community_s["cut_scores"] = cut_kept
community_s["cut_scores_rows"] = cut_rows
viewed = rss()
s.close()
print(json.dumps({"open_s": opened, "rss_added": after - before, "rss": after,
    "tail_ops_per_s": tail_rate, "rss_after_tail": busy, "list_s": list_s,
    "members_s": members_s, "listed": len(page), "members": len(people),
    "member_s": member_s, "community_s": community_s, "rss_after_views": viewed}))
"""
TAIL = 2_000  # ops ingested after the reopen, in batches of 100 (a node's day-to-day)
CATCH_UP = 20_000  # ops a sync session then brings into the grown file (``catch_up``)
GOSSIP = 1_000  # of those, the ops gossip brings instead, one a message (``gossip``)
GOSSIP_RATE = 10.0  # messages a second: a busy community (a meeting, a vote)


def written_bytes() -> int | None:
    """Bytes this process has sent to the storage layer (Linux), None elsewhere."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("write_bytes"))
    except (OSError, StopIteration):
        return None


def side_by_side(path: Path, name: str, modes: tuple[str, str], feed, count: int) -> dict:
    """``feed(store, mode)`` into a copy of the grown store for each of ``modes``: its rate
    (``count`` ops) and the bytes it wrote per op (closing commits what is left), as
    ``{name}_{mode}_ops_per_s`` and ``{name}_{mode}_written_per_op``."""
    from node.store import Store

    out = {}
    for mode in modes:
        copy = path.with_name(f"{name}_{mode}.db")
        shutil.copyfile(path, copy)
        with Store.open(copy) as store:
            written, t = written_bytes(), time.perf_counter()
            feed(store, mode)
        took, after = time.perf_counter() - t, written_bytes()
        copy.unlink()
        out[f"{name}_{mode}_ops_per_s"] = count / took
        out[f"{name}_{mode}_written_per_op"] = (
            None if written is None or after is None else (after - written) / count
        )
    return out


def catch_up(path: Path, raws: list[bytes]) -> dict:
    """``raws`` ingested into two copies of the grown store as a sync session hands them over
    (``HOLD_OPS`` a transaction): committed one by one, and sharing commits as the daemon's
    sessions do (``Store.batched``). Rate and bytes written per op of each, side by side."""
    from node.protocol.sync import HOLD_OPS

    def feed(store, mode: str) -> None:
        with store.batched() if mode == "span" else contextlib.nullcontext():
            for i in range(0, len(raws), HOLD_OPS):
                store.ingest(raws[i : i + HOLD_OPS])

    return side_by_side(path, "catch_up", ("each", "span"), feed, len(raws))


def gossip(path: Path, raws: list[bytes]) -> dict:
    """``raws`` as gossip brings them, one op a message, ``GOSSIP_RATE`` a second (on a clock
    the run moves, not waited for), into two copies of the grown store: each committed, and
    sharing commits as the daemon makes them (``GOSSIP_LINGER``, and its upkeep's
    ``commit_due`` every second). Rate and bytes written per op of each, side by side."""
    from node.crdt.op import decode_op
    from node.service.service import GOSSIP_LINGER

    ops = [decode_op(raw) for raw in raws]  # the gossip validator checked them

    def feed(store, mode: str) -> None:
        now = [0.0]
        store._clock = lambda: now[0]
        tick = 1.0
        for op in ops:
            if mode == "linger":
                store.linger(GOSSIP_LINGER)
            store.ingest([op], verified=True)
            now[0] += 1 / GOSSIP_RATE
            if now[0] >= tick:  # the daemon's upkeep
                store.commit_due()
                tick += 1.0

    return side_by_side(path, "gossip", ("each", "linger"), feed, len(ops))


def idle_daemon(tmp: Path, store: Path) -> dict:
    """A real ``we daemon`` on the store (a fresh data dir whose store file is this one):
    its resident memory once it is up and idle, and one ``we --json offer list`` round trip
    through it (a page of 100, newest first, any status)."""
    from bench.cli import Daemon, we

    home = tmp / "home"
    we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    (home / "store.db").unlink(missing_ok=True)
    store.rename(home / "store.db")
    daemon = Daemon(home)
    try:
        daemon.wait_ready(timeout=300)
        time.sleep(5)  # idle
        with open(f"/proc/{daemon.proc.pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        cid = json.loads(we(home, "--json", "status").stdout)["communities"][0]["id"]
        t = time.perf_counter()
        # the workload's listings expired long ago (its clock is 2023): every status
        page = json.loads(we(home, "--json", "offer", "list", "-c", cid, "--status", "any").stdout)
        list_s = time.perf_counter() - t
        t = time.perf_counter()
        we(home, "--json", "status")
        status_s = time.perf_counter() - t
    finally:
        daemon.stop()
    return {
        "daemon_rss_mb": rss / 1e6,
        "cli_offer_list_s": list_s,
        "cli_status_s": status_s,
        "cli_listed": len(page) if isinstance(page, list) else len(page.get("offers", page)),
    }


def measure(n: int) -> dict:
    _, ops, _ = workload(n + TAIL + CATCH_UP)
    ops, tail, later = ops[:n], ops[n : n + TAIL], ops[n + TAIL :]
    encoded = sum(len(op.raw) for op in ops)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        from node.store import Store

        raws = [op.raw for op in ops]
        with Store.open(path) as store:
            t = time.perf_counter()
            for i in range(0, len(raws), 5000):
                store.ingest(raws[i : i + 5000])
            ingest_s = time.perf_counter() - t
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        tail_file = Path(tmp) / "tail.cbor"
        tail_file.write_bytes(cbor2.dumps([op.raw for op in tail]))
        now = max(op.ts for op in ops)
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, str(path), str(tail_file), str(now)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        opened = json.loads(probe.stdout)
        caught_up = catch_up(path, [op.raw for op in later])
        gossiped = gossip(path, [op.raw for op in later[:GOSSIP]])
        daemon = idle_daemon(Path(tmp), path)
    return {
        "ops": len(ops),
        "ingest_ops_per_s": len(ops) / ingest_s,
        "open_s": opened["open_s"],
        "rss_added_mb": opened["rss_added"] / 1e6,
        "rss_mb": opened["rss"] / 1e6,
        "tail_ops_per_s": opened["tail_ops_per_s"],
        "rss_after_tail_mb": opened["rss_after_tail"] / 1e6,
        "offer_page_s": opened["list_s"],
        "members_s": opened["members_s"],
        "member_views_s": opened["member_s"],
        "community_views_s": opened["community_s"],
        "rss_after_views_mb": opened["rss_after_views"] / 1e6,
        **daemon,
        **caught_up,
        **gossiped,
        "file_bytes_per_op": size / len(ops),
        "encoded_bytes_per_op": encoded / len(ops),
        "disk_ratio": size / encoded,
    }


def print_side_by_side(rows, name: str, modes: tuple[str, str], titles: tuple[str, str]):
    """The rows of one :func:`side_by_side` measurement: rate and KB written per op."""
    print(f"{'ops':>9} {titles[0]:>11} {'KB/op':>6} {titles[1]:>11} {'KB/op':>6}")
    for r in rows:
        cells = [
            f"{r[f'{name}_{m}_ops_per_s']:>11,.0f} {r[f'{name}_{m}_written_per_op'] / 1e3:>6.1f}"
            for m in modes
        ]
        print(f"{r['ops']:>9,} " + " ".join(cells))


def ratios() -> dict:
    """The ingest and sync ratios (``bench ingest``, ``bench sync``), run here, one after the
    other in fresh processes, so that they stand beside the scale figures of the same run."""
    out = {}
    for name in ("ingest", "sync"):
        subprocess.run([sys.executable, "-m", "bench", name], check=True, cwd=ROOT)
        out[name] = json.loads((OUT.parent / f"{name}.json").read_text())
    i, s = out["ingest"], out["sync"]
    return {
        "per_op": i["per_op"]["ratio_wall"],
        "per_op_2cores": i.get("per_op_2cores", {}).get("ratio_wall"),
        "bulk": i["bulk"]["ratio_wall"],
        "bulk_2cores": i.get("bulk_2cores", {}).get("ratio_wall"),
        "catchup_vs_local": s["catchup_vs_local"],
        "catchup_2proc_vs_local": s["catchup_2proc_vs_local"],
        "time_vs_pycrdt": s["time_vs_pycrdt"],
        "time_2proc_vs_pycrdt": s["time_2proc_vs_pycrdt"],
        "floor_rows_vs_pycrdt": s["floor_rows_vs_pycrdt"],
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [20_000, 100_000]
    rows = [measure(n) for n in sizes]
    print(
        f"{'ops':>9} {'ingest/s':>8} {'open s':>6} {'RSS':>5} {'after/s':>7} {'RSS':>5}"
        f" {'page ms':>7} {'daemon':>6} {'we list s':>9} {'B/op':>5} {'disk x':>6}"
    )
    for r in rows:
        print(
            f"{r['ops']:>9,} {r['ingest_ops_per_s']:>8,.0f} {r['open_s']:>6.2f}"
            f" {r['rss_mb']:>5.0f} {r['tail_ops_per_s']:>7,.0f} {r['rss_after_tail_mb']:>5.0f}"
            f" {r['offer_page_s'] * 1000:>7.1f} {r['daemon_rss_mb']:>6.0f}"
            f" {r['cli_offer_list_s']:>9.2f} {r['file_bytes_per_op']:>5.0f}"
            f" {r['disk_ratio']:>6.2f}"
        )
    print(
        "RSS in MB: the process after Store.open, then after ingesting"
        f" {TAIL:,} more ops in batches of 100 (after/s); page: the first 50 offers in-process;"
        " daemon: an idle `we daemon` on the store; we list: `we --json offer list` through it."
        " Targets at 1,000,000 ops: open < 1 s, RSS < 250 MB, disk <= 2 x"
    )
    print_side_by_side(rows, "catch_up", ("each", "span"), ("catch-up/s", "in spans/s"))
    print(
        f"catch-up: {CATCH_UP:,} more ops in transactions of 2,048, each committed, then"
        " sharing commits (Store.batched, the daemon's sync sessions); KB written per op"
    )
    print_side_by_side(rows, "gossip", ("each", "linger"), ("gossip/s", "lingering/s"))
    print(
        f"gossip: {GOSSIP:,} of them one a message, {GOSSIP_RATE:.0f} a second, each committed,"
        " then sharing commits (GOSSIP_LINGER, as the daemon does); KB written per op"
    )
    names = list(rows[0]["member_views_s"])
    print(f"{'ops':>9} " + " ".join(f"{n:>18}" for n in names) + "   (ms, one member, in-process)")
    for r in rows:
        print(
            f"{r['ops']:>9,} " + " ".join(f"{r['member_views_s'][n] * 1000:>18.1f}" for n in names)
        )
    names = list(rows[0]["community_views_s"])
    print(f"{'ops':>9} " + " ".join(f"{n:>18}" for n in names) + "   (s, the community's)")
    for r in rows:
        print(f"{r['ops']:>9,} " + " ".join(f"{r['community_views_s'][n]:>18.2f}" for n in names))
    result: dict = {"sizes": rows}
    if "--no-ratios" not in sys.argv:
        result["ratios"] = ratio = ratios()
        print(
            "same run: per-op ingest {per_op:.2f} x verify (2 cores {per_op_2cores:.2f} x),"
            " bulk {bulk:.2f} x (2 cores {bulk_2cores:.2f} x); catch-up {catchup_vs_local:.2f} x local ingest (sender in"
            " another process {catchup_2proc_vs_local:.2f} x); pycrdt's sync takes"
            " 1/{time_vs_pycrdt:.1f} of ours (1/{time_2proc_vs_pycrdt:.1f} with the sender in"
            " another process; our op rows alone take {floor_rows_vs_pycrdt:.2f} x its"
            " time in SQLite)".format(**ratio)
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
