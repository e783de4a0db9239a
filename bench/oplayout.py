"""What writing the op log costs SQLite per op, today's layout beside others, in one run.

``python -m bench oplayout [ops]`` (default 50,000 ops of 50 authors, ~330 bytes each).

Issue 13's bulk target (4 x the verify rate) leaves ~14 us an op for decoding, the replica
and SQLite together, and SQLite's share alone is ~5 us. This measures how much of that a
different layout of the same bytes would save (CPU per op, writes in transactions of 1,000
ops, as a catch-up's; no Python work beyond building the parameters):

- ``today``: the ``ops`` table and its three indexes, taken from ``node/store/schema.py``;
- ``no index``, ``position index only``, ``id index only``: today's table without some of its
  indexes (what each index costs);
- ``runs of N``: one row per run of N consecutive ops of an author (their bytes in one blob,
  with the offsets), and a table from each op's id to its run and place: the fewest rows and
  index entries that still find an op by id and by position. N = 100 is a bulk ingest's range,
  40 about what a catch-up's held batch holds per author, 10 a busy gossip stream's.

Ratios are to ``today`` in the same run. Results in ``bench/results/oplayout.json``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path

from node.store.schema import DDL

RESULTS = Path(__file__).with_name("results") / "oplayout.json"
BATCH = 1000  # ops a transaction
AUTHORS = 50
ROUNDS = 3  # the best of three: CPU time, but the page cache and the disk still vary


def today_ddl() -> str:
    """The op table and its indexes as the store creates them."""
    statements = [s.strip() for s in DDL.split(";")]
    return ";\n".join(
        s for s in statements if re.search(r"\bON ops\b|TABLE IF NOT EXISTS ops\b", s)
    )


def _db(tmp: Path, name: str, ddl: str) -> sqlite3.Connection:
    db = sqlite3.connect(tmp / f"{name}.db", isolation_level=None)
    for pragma in ("page_size=8192", "journal_mode=WAL", "synchronous=NORMAL", "cache_size=-32768"):
        db.execute(f"PRAGMA {pragma}")
    db.executescript(ddl)
    return db


def fixture(n: int) -> list[tuple[bytes, int, int, bytes]]:
    """(id, chain, seq, raw) of ``n`` ops, authors interleaved as they come in a catch-up."""
    return [(os.urandom(32), i % AUTHORS + 1, i // AUTHORS + 1, os.urandom(300)) for i in range(n)]


def op_rows(tmp: Path, ops: list, name: str, ddl: str) -> float:
    """Seconds of CPU to insert the ops a row each, BATCH a transaction."""
    db = _db(tmp, name, ddl)
    insert = "INSERT INTO ops (id, chain, seq, lamport, status, reason, raw) VALUES (?,?,?,?,?,?,?)"
    start = time.process_time()
    for i in range(0, len(ops), BATCH):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(insert, [(o, c, s, s, "a", "", r) for o, c, s, r in ops[i : i + BATCH]])
        db.execute("COMMIT")
    took = time.process_time() - start
    db.close()
    return took


RUNS_DDL = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, chain INTEGER NOT NULL, first INTEGER NOT NULL,
    last INTEGER NOT NULL, ends BLOB NOT NULL, raws BLOB NOT NULL
);
CREATE INDEX runs_position ON runs (chain, first);
CREATE TABLE op_ids (
    h INTEGER NOT NULL, run INTEGER NOT NULL, k INTEGER NOT NULL, PRIMARY KEY (h, run, k)
) WITHOUT ROWID;
"""


def runs(tmp: Path, ops: list, length: int) -> float:
    """Seconds of CPU to insert the ops as runs of ``length`` per author (a row each) and an
    id row per op (the id's first 8 bytes, then its run and place), BATCH ops a transaction."""
    db = _db(tmp, f"runs{length}", RUNS_DDL)
    by_chain: dict[int, list] = {}
    for op in ops:
        by_chain.setdefault(op[1], []).append(op)
    groups = [c[i : i + length] for c in by_chain.values() for i in range(0, len(c), length)]
    cursor = db.cursor()
    start = time.process_time()
    done = 0
    db.execute("BEGIN IMMEDIATE")
    for run in groups:
        ends = struct.pack(f">{len(run)}I", *itertools.accumulate(len(o[3]) for o in run))
        cursor.execute(
            "INSERT INTO runs (chain, first, last, ends, raws) VALUES (?, ?, ?, ?, ?)",
            (run[0][1], run[0][2], run[-1][2], ends, b"".join(o[3] for o in run)),
        )
        row = cursor.lastrowid
        cursor.executemany(
            "INSERT INTO op_ids (h, run, k) VALUES (?, ?, ?)",
            [(int.from_bytes(o[0][:8], "big", signed=True), row, k) for k, o in enumerate(run)],
        )
        done += len(run)
        if done >= BATCH:
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            done = 0
    db.execute("COMMIT")
    took = time.process_time() - start
    db.close()
    return took


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    n = int(args[0]) if args else 50_000
    ops = fixture(n)
    table, *indexes = [s for s in today_ddl().split(";\n")]
    position = next(s for s in indexes if "ops_position" in s)
    by_id = next(s for s in indexes if "ops_id" in s)
    layouts = {
        "today": lambda tmp: op_rows(tmp, ops, "today", today_ddl()),
        "no index": lambda tmp: op_rows(tmp, ops, "bare", table),
        "position index only": lambda tmp: op_rows(tmp, ops, "pos", f"{table};\n{position}"),
        "id index only": lambda tmp: op_rows(tmp, ops, "id", f"{table};\n{by_id}"),
        **{f"runs of {k}": (lambda tmp, k=k: runs(tmp, ops, k)) for k in (100, 40, 10)},
    }
    best = dict.fromkeys(layouts, float("inf"))
    for _ in range(ROUNDS):  # interleaved, so that a slow spell hits every layout alike
        with tempfile.TemporaryDirectory() as tmp:
            for name, write in layouts.items():
                best[name] = min(best[name], write(Path(tmp)))
    us = {name: s / n * 1e6 for name, s in best.items()}
    print(f"{'layout':22} {'us/op (CPU)':>12} {'x today':>8}")
    for name, v in us.items():
        print(f"{name:22} {v:12.2f} {v / us['today']:8.2f}")
    result = {
        "ops": n,
        "batch": BATCH,
        "method": f"CPU seconds, best of {ROUNDS} interleaved rounds; ratios to today's layout",
        "us_per_op": {k: round(v, 2) for k, v in us.items()},
        "x_today": {k: round(v / us["today"], 3) for k, v in us.items()},
        "sqlite": sqlite3.sqlite_version,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
