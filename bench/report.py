"""``python -m bench report``: the benchmark results as one markdown table and two plots.

Reads ``bench/results/*.json`` (written by the other benchmarks), writes
``bench/results/summary.md`` (pasted into the README) and ``ratios.png`` / ``tally.png`` /
``scale.png``.
Only ratios measured side by side in one run are reported: these machines are shared.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows() -> list[tuple[str, str, str, str]]:
    """(benchmark, measured, ratio, target) rows for every result present."""
    out = []
    if ingest := _load("ingest"):
        raw = ingest["raw_verify_per_s"]["cpu"]
        out.append(("ingest", f"raw Ed25519 verify: {raw:,} ops/s (CPU)", "1.00", "reference"))
        for key, label in (("per_op", "per-op ingest"), ("bulk", "chain-verified bulk ingest")):
            r = ingest[key]
            out.append(
                (
                    "ingest",
                    f"{label}: {r['ops_per_s_cpu']:,} ops/s",
                    f"{r['ratio_cpu']:.2f} x verify",
                    f">= {ingest['targets'][key]} x",
                )
            )
        for key, label in (
            ("per_op", "per-op ingest on 2 cores (signatures shared with a worker process)"),
            ("bulk", "chain-verified bulk ingest on 2 cores (op rows written behind)"),
        ):
            if two := ingest.get(f"{key}_2cores"):
                out.append(
                    (
                        "ingest",
                        f"{label}: {two['ops_per_s_wall']:,} ops/s",
                        f"{two['ratio_wall']:.2f} x one-core verify (wall)",
                        f">= {ingest['targets'][key]} x",
                    )
                )
    if rec := _load("records"):
        out.append(
            (
                "records",
                f"materialize {rec['ops']:,} record ops ({rec['members']} members)",
                f"{rec['overhead_vs_store_ingest']:.2f} x store ingest",
                "< 0.5 x",
            )
        )
        out.append(
            (
                "records",
                f"match one need against {rec['match_offers']:,} offers",
                f"{rec['match_s'] * 1000:.0f} ms",
                "well under a CLI round trip",
            )
        )
    if cli := _load("cli"):
        daemon = cli["cli"]["daemon"]["status_s"]
        out.append(
            (
                "cli",
                f"one `we --json status` round trip via the daemon: {daemon * 1000:.0f} ms",
                f"offline (no daemon): {cli['cli']['offline']['status_s'] / daemon:.1f} x as long",
                "",
            )
        )
        out.append(
            (
                "cli",
                f"match one need against {cli['match']['offers']:,} offers (in-process)",
                f"{cli['ratios']['match_over_daemon_status']:.2f} x one CLI round trip",
                "well under 1 x",
            )
        )
    if sync := _load("sync"):
        out.append(
            (
                "sync",
                f"catch-up of {sync['ops']:,} ops over loopback: {sync['catchup_ops_per_s']:,.0f} ops/s",
                f"{sync['catchup_vs_local']:.2f} x local ingest",
                "",
            )
        )
        out.append(
            (
                "sync",
                f"already in sync ({sync['in_sync_authors']} authors)",
                f"{sync['in_sync_bytes']} bytes, {sync['in_sync_round_trips']} round trip",
                "1 round trip, a few hundred bytes",
            )
        )
    if layout := _load("oplayout"):
        us = layout["us_per_op"]
        out.append(
            (
                "oplayout",
                f"SQLite writing the op log: {us['today']:.2f} us an op today; a row per run of"
                f" 40 ops and an id row per op: {us['runs of 40']:.2f}",
                f"{layout['x_today']['runs of 40']:.2f} x today",
                "(a study: issue 13)",
            )
        )
    if scale := _load("scale"):
        sizes = scale["sizes"] if isinstance(scale, dict) else scale  # older files: a list
        for r in sizes:
            views = r.get("member_views_s") or {}
            mine = (
                "; one member's reservations / score / inbox "
                f"{views['reservations'] * 1000:.0f} / {views['score'] * 1000:.0f} /"
                f" {views['inbox'] * 1000:.0f} ms"
                if views
                else ""
            )
            whole = r.get("community_views_s") or {}
            if "activity_page" in whole:
                mine += (
                    f"; a page of activity {whole['activity_page'] * 1000:.0f} ms; the score"
                    f" table {whole['scores'] * 1000:.0f} ms, a tally's scores 5,000 ops back"
                    f" {whole['cut_scores'] * 1000:.0f} ms (from every row"
                    f" {whole['cut_scores_rows']:.2f} s); all history: every contribution"
                    f" {whole['contributions']:.1f} s"
                )
            if r.get("catch_up_span_written_per_op"):
                mine += (
                    f"; a catch-up of 20,000 more ops {r['catch_up_each_ops_per_s']:,.0f} ops/s"
                    f" writing {r['catch_up_each_written_per_op'] / 1e3:.1f} KB an op, in spans"
                    f" {r['catch_up_span_ops_per_s']:,.0f} ops/s writing"
                    f" {r['catch_up_span_written_per_op'] / 1e3:.1f} KB"
                )
            out.append(
                (
                    "scale",
                    f"records workload, {r['ops']:,} ops: Store.open {r['open_s']:.2f} s,"
                    f" RSS {r['rss_mb']:.0f} MB after open, {r['rss_after_tail_mb']:.0f} MB after"
                    f" {2_000:,} more ops; idle daemon {r.get('daemon_rss_mb', 0):.0f} MB;"
                    f" `we offer list` {r.get('cli_offer_list_s', 0):.2f} s{mine}",
                    f"disk {r['disk_ratio']:.2f} x the encoded ops ({r['file_bytes_per_op']:.0f} B/op)",
                    "at 1,000,000: open < 1 s, RSS < 250 MB, disk <= 2 x",
                )
            )
    if net := _load("net"):
        out += _net_rows(net)
    if tally := _load("tally"):
        store = tally.get("store_ingest_basic_cpu_s")
        for row in tally["rows"]:
            ratio = f"{row['final_over_ingest_cpu']:.2f} x replica ingest"
            if store:
                ratio += f", {row['tally_final_cpu_s'] / store:.2f} x store ingest"
            out.append(
                (
                    "tally",
                    f"{row['method']}: {row['ballots']:,} ballots, {row['delegations']:,} delegations",
                    ratio,
                    "well under ingest",
                )
            )
    if adv := _load("adversarial"):
        logs = adv["logs"]
        sizes = " / ".join(f"{r['ops']:,}" for r in logs)
        for kind, label in (
            ("ballot", "ballot, proposal only transitively in its past"),
            ("enact", "rejected decision.enact"),
            ("seal", "non-member seal.create"),
            ("edit", "non-member proposal.edit"),
            ("decode", "op of ~60 KiB of one-byte ints"),
            ("fork", "forged fork proof by a fresh key"),
        ):
            ratios = " / ".join(f"{r[kind]['full_s'] / r['plain']['full_s']:.1f}" for r in logs)
            out.append(
                (
                    "adversarial",
                    f"{label}, CPU per op ({sizes}-op logs)",
                    f"{ratios} x plain op",
                    "<= 10 x, flat",
                )  # fmt: skip
            )
        for r in adv["in_sync"]:
            got = f"fails: {r['fails']}" if "fails" in r else f"{r['bytes']:,} bytes"
            out.append(("adversarial", f"in-sync check, {r['authors']:,} authors", got, ""))
    return out


def _net_rows(net: dict) -> list[tuple[str, str, str, str]]:
    out = []
    if c := net.get("churn"):
        out.append(
            (
                "net",
                f"{c['reconnects']:,} reconnects (Noise) from {c['clients']} peers to one host: "
                f"{c['failures']} refused, {c['reconnects_per_s']:.0f}/s",
                f"slots in use after = live connections ({c['inbound_slots_used_after']} of "
                f"{c['inbound_slots']})",
                "none refused (py-libp2p alone: refused after 250)",
            )
        )
    setup, nat = net.get("setup"), net.get("nat") or {}
    topo = nat.get("topologies", {})
    cone = topo.get("cone-cone", {})
    if setup:
        text = (
            f"connection set-up on loopback: direct {setup['direct_ms_median']:.0f} ms "
            f"(py-libp2p's 250 ms happy-eyeballs wait), relayed {setup['relayed_ms_median']:.0f} ms"
        )
        if cone.get("punched_ms_median"):
            text += (
                f"; through two cone-like NATs: relayed {cone['relayed_connect_ms_median']:.0f} ms,"
                f" punched (DCUtR, from the relayed dial to a direct connection) "
                f"{cone['punched_ms_median'] / 1000:.1f} s"
            )
        out.append(("net", text, "medians", ""))
    if "skipped" in nat:
        out.append(("net", f"NAT split: skipped ({nat['skipped']})", "", ""))
    elif topo:
        names = {"cone-cone": "both NATs cone-like", "cone-symmetric": "one symmetric-like",
                 "symmetric-symmetric": "both symmetric-like"}  # fmt: skip
        parts = [
            f"{names.get(k, k)}: "
            + (f"direct {r['direct']} of {r['trials']}" if "failed" not in r else "failed")
            for k, r in topo.items()
        ]
        out.append(
            (
                "net",
                f"share of direct connections (namespaces, {nat['trials']} trials per topology): "
                + "; ".join(parts),
                "",
                "direct wherever the NATs allow a punch",
            )
        )
    if sw := net.get("swarm"):
        shape = (
            f"swarm of {sw['nodes']} nodes in {sw['processes']} processes (10 writers, 20 % "
            "SIGKILLed and restarted, a partition while both halves write, the heal)"
        )
        if "failed" in sw:
            out.append(("net", f"{shape}: did not finish: {sw['failed'][:200]}", "", ""))
        else:
            out.append(
                (
                    "net",
                    f"{shape}, {sw['ops']} ops: converged {sw['converge_after_heal_s']:.0f} s after "
                    f"the heal, {sw['lost']} lost, {sw['states']} state",
                    f"{sw['bytes_sent_per_op_per_node']:,} bytes sent per op per node; CPU "
                    f"{sw['cpu_s_per_node']:.1f} s per node in a {sw['run_s']:.0f} s run "
                    f"({sw['cpu_share_per_node'] * 100:.1f} % of a core)",
                    "every node converges, 0 lost",
                )
            )
    return out


def markdown() -> str:
    lines = ["| benchmark | measured | ratio (same run) | target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows()]
    return "\n".join(lines) + "\n"


def plots() -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    if ingest := _load("ingest"):
        fig, ax = plt.subplots(figsize=(6, 3))
        labels = ["raw verify", "per-op ingest", "bulk ingest"]
        values = [1.0, ingest["per_op"]["ratio_cpu"], ingest["bulk"]["ratio_cpu"]]
        ax.barh(labels, values, color=["grey", "tab:blue", "tab:green"])
        for target, y in ((ingest["targets"]["per_op"], 1), (ingest["targets"]["bulk"], 2)):
            ax.plot([target, target], [y - 0.4, y + 0.4], "r--")
        ax.set_xlabel("ops/s relative to raw Ed25519 verify (red: target)")
        fig.tight_layout()
        written.append(RESULTS / "ratios.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    if (scale := _load("scale")) and isinstance(scale, dict):
        written.append(_scale_plot(plt, scale["sizes"]))
    if tally := _load("tally"):
        fig, ax = plt.subplots(figsize=(6, 3))
        methods = [r["method"] for r in tally["rows"]]
        ax.bar(methods, [r["ingest_cpu_s"] for r in tally["rows"]], label="ingest (replica)")
        ax.bar(
            methods, [r["tally_final_cpu_s"] for r in tally["rows"]], label="final tally", width=0.5
        )
        ax.set_ylabel("CPU seconds, 100k ballots")
        ax.legend()
        fig.tight_layout()
        written.append(RESULTS / "tally.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written


def _scale_plot(plt, sizes: list[dict]) -> Path:
    """scale.png: what grows with history and what does not, against the ops in the store."""
    ops = [r["ops"] for r in sizes]
    catch_up = all("catch_up_span_written_per_op" in r for r in sizes)
    fig, axes = plt.subplots(1, 4 if catch_up else 3, figsize=(16 if catch_up else 12, 3.2))
    ax = axes[0]
    ax.plot(ops, [r["daemon_rss_mb"] for r in sizes], "o-", label="idle daemon RSS (MB)")
    ax.plot(ops, [r["rss_mb"] for r in sizes], "s-", label="RSS after Store.open (MB)")
    ax.axhline(250, color="r", linestyle="--", label="target 250 MB")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(ops, [r["disk_ratio"] for r in sizes], "o-", label="file / encoded ops")
    ax.axhline(2.0, color="r", linestyle="--", label="target 2 x")
    ax.set_ylim(0, max(2.5, 1.1 * max(r["disk_ratio"] for r in sizes)))
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.plot(ops, [r["open_s"] * 1000 for r in sizes], "o-", label="Store.open")
    ax.plot(ops, [r["offer_page_s"] * 1000 for r in sizes], "s-", label="first page of offers")
    for name in ("reservations", "score", "inbox"):
        if all(name in r.get("member_views_s", {}) for r in sizes):
            ax.plot(ops, [r["member_views_s"][name] * 1000 for r in sizes], ".-",
                    label=f"one member's {name}")  # fmt: skip
    for name, label in (
        ("activity_page", "a page of activity"),
        ("scores", "the score table"),
        ("cut_scores", "a tally's scores"),
    ):
        if all(name in r.get("community_views_s", {}) for r in sizes):
            ax.plot(ops, [r["community_views_s"][name] * 1000 for r in sizes], "x--",
                    label=label)  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)
    if catch_up:  # a sync session's batches, committed one by one or sharing commits
        ax = axes[3]
        for mode, label in (("each", "each batch committed"), ("span", "in spans")):
            kb = [(r[f"catch_up_{mode}_written_per_op"] or 0) / 1e3 for r in sizes]
            ax.plot(ops, kb, "o-" if mode == "each" else "s-", label=f"catch-up, {label}")
        ax.set_yscale("log")
        ax.set_ylabel("KB written per op")
        ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("ops in the store (records workload)")
    fig.tight_layout()
    path = RESULTS / "scale.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    text = markdown()
    (RESULTS / "summary.md").write_text(text)
    print(text)
    for path in plots():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
