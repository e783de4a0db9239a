"""Communities: create, list, share (one join line), join and leave."""

from __future__ import annotations

import time

import click

from node.crdt.text import counted

from ..context import group, obj
from ..errors import UserError, bad_value
from ..output import Shortener, emit, emit_table, rel_time
from ._common import community_option, in_community, me, member_key, pick_member

community = group("community", help="Create, list, share, join and leave communities.")


def _number(flag: str, low: int, high: int, default: int, help: str):
    return click.option(
        flag, type=click.IntRange(low, high), default=default, show_default=True, help=help
    )


@community.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the community is for.")
@_number(
    "--vouches", 0, 1000, 2, "Distinct members who must vouch for a newcomer (0 = open community)."
)
@_number("--attestations", 0, 1000, 2, "Confirmations a contribution needs to count.")
@_number("--half-life", 1, 36500, 180, "Contribution score half-life in days.")
@_number(
    "--recovery-vouches",
    1,
    1000,
    2,
    "Members who must vouch to move a member who lost every key to a new one (`we recovery`).",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="Full member id of a witness who seals votes (repeatable; default: you).",
)
def create(
    name, description, vouches, attestations, half_life, recovery_vouches, witnesses
) -> None:
    """Create a community with you as its first member."""
    charter = {
        "name": name,
        "description": description,
        "membership": {"rule": "open"} if vouches == 0 else {"rule": "vouched", "vouches": vouches},
        "attestation": {"confirmations": attestations, "max_disputes": 0},
        "half_life_days": half_life,
        "recovery": {"vouches": recovery_vouches},
    }
    if witnesses:
        charter["witnesses"] = [member_key(w) for w in witnesses]
    o = obj()
    b = o.backend()
    from ..backend import to_wire

    result = b.call("create_community", {"charter": to_wire(charter)})
    cid = result["community"]
    emit(
        o,
        {"id": cid, "name": name},
        lambda c, d: (
            c.print(f"Created community [bold]{d['name']}[/bold] {d['id']}"),
            c.print("Share it with `we community info`; others join with `we community join`."),
        ),
    )


@community.command("list")
def list_() -> None:
    """Communities this node holds, with their sync state."""
    o = obj()
    rows = o.backend().call("status").get("communities", [])
    short = Shortener(r["id"] for r in rows)
    emit_table(
        o,
        rows,
        ["id", "name", "ops", "authors", "synced with", "last sync"],
        lambda r: [
            short(r["id"]),
            r.get("name") or "(not synced yet)",
            r.get("ops"),
            r.get("authors"),
            counted(r.get("in_sync_with", 0), "peer"),
            rel_time(r.get("last_sync_ms")) or "-",
        ],
    )


@community.command("info")
@click.option(
    "--addr",
    "advertise",
    multiple=True,
    help="Address to put in the line instead of the listen addresses (e.g. a public one).",
)
@community_option
def info(advertise, community) -> None:
    """One line another person pastes into `we community join`."""
    o, b, cid = in_community(community)
    st = b.call("status")
    listen = list(advertise) or _concrete(st.get("listen_addrs", []))
    addrs = [a if "/p2p/" in a else f"{a}/p2p/{st['member_id']}" for a in listen]
    line = join_line(cid, addrs)
    ci = b.query("community_info", community=cid) or {}
    data = {"id": cid, "addrs": addrs, "line": line, "community": ci}

    def render(c, d):
        if not d["addrs"]:
            c.print(
                "[yellow]No listen address: start `we daemon` so others can reach you.[/yellow]",
                highlight=False,
            )
        print(d["line"])
        _render_rules(c, d["community"])

    emit(o, data, render)


def _render_rules(c, ci: dict) -> None:
    """The rules a newcomer accepts by joining: admission, what a contribution may add, and the
    floor every proposal must meet (changed only by a charter amendment under that floor)."""
    ch = ci.get("charter")
    if not ch:
        return
    m = ch["membership"]
    admit = "open" if m["rule"] == "open" else counted(m["vouches"], "vouch")
    if m.get("founding"):
        admit += f" (the founder's first {counted(m['founding'], 'vouch')} admit alone)"
    bounds = ch.get("contribution") or {}
    c.print(f"Admission: {admit}", highlight=False)
    c.print(
        f"Contributions: {ch['attestation']['confirmations']} confirmations, at most "
        f"{bounds.get('max_minutes', '-')} min per record and "
        f"{bounds.get('max_minutes_per_day', '-')} min per member per day",
        highlight=False,
    )
    for kind, r in (ci.get("voting") or {}).items():
        q, t = r["quorum"], r["threshold"]
        c.print(
            f"{kind}: methods {', '.join(r['methods'])}; quorum >= {q[0]}/{q[1]}, threshold >= "
            f"{t[0]}/{t[1]}; open >= {r['min_duration_ms'] // 3_600_000} h; witnesses: "
            f"{r['witnesses']}; proposers: {r['proposers']}",
            highlight=False,
        )


def _concrete(addrs: list[str]) -> list[str]:
    """A wildcard listen address (0.0.0.0) is no use to someone else: name this machine's
    own address instead (the one its default route uses), then loopback."""
    out: list[str] = []
    for a in addrs:
        if a.startswith("/ip4/0.0.0.0/"):
            rest = a[len("/ip4/0.0.0.0/") :]
            out += [f"/ip4/{ip}/{rest}" for ip in _local_ips()]
        else:
            out.append(a)
    return list(dict.fromkeys(out))


def _local_ips() -> list[str]:
    import socket

    ips = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            ips.append(s.getsockname()[0])
    except OSError:
        pass
    return [*ips, "127.0.0.1"]


def join_line(cid: str, addrs: list[str]) -> str:
    return f"we:{cid}" + ("@" + ",".join(addrs) if addrs else "")


def parse_join_line(line: str) -> tuple[str, list[str]]:
    text = line.strip()
    if not text.startswith("we:"):
        raise bad_value(
            f"{line!r} is not a join line", "copy the whole line printed by `we community info`"
        )
    cid, _, rest = text[3:].partition("@")
    try:
        if len(bytes.fromhex(cid)) != 32:
            raise ValueError
    except ValueError:
        raise bad_value(
            f"{cid!r} is not a community id", "copy the whole line printed by `we community info`"
        ) from None
    from ..config import check_addrs

    return cid, check_addrs([a for a in rest.split(",") if a], "the join line")


@community.command("join")
@click.argument("line")
@click.option("--note", default="", help="A word to the members who will vouch for you.")
@click.option(
    "--timeout",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Seconds to wait for the community to sync.",
)
def join(line, note, timeout) -> None:
    """Join a community from the line `we community info` printed (needs the daemon)."""
    from ..backend import open_backend

    o = obj()
    cid, addrs = parse_join_line(line)
    b = open_backend(o.data_dir, require_daemon=True)
    try:
        _follow_and_sync(o, b, cid, addrs, timeout)
        you = me(b)
        # A restored key (`we key import --same-key`), or a member joining again what it
        # follows, is in already: asking again would be refused by the rules.
        already = _my_status(b, cid, you)
        op_id = None
        if already not in ("member", "candidate", "device"):
            body = {"note": note} if note else {}
            op_id = b.publish(cid, "member.join", body)["op_id"]
    finally:
        b.close()
    _remember_bootstrap(o.data_dir, addrs)

    def render(c, d) -> None:
        if already in ("member", "device"):
            c.print(f"Already a member of community {cid[:12]}; syncing it.")
        elif already == "candidate":
            c.print(f"You already asked to join community {cid[:12]}; syncing it.")
            c.print(f"A member admits you with `we member vouch {d['member_id']}`.")
        elif d.get("device"):
            c.print(f"Linked this device to {d['member_id']} in community {cid[:12]}.")
        else:
            c.print(f"Asked to join community {cid[:12]}.")
            c.print(f"A member admits you with `we member vouch {d['member_id']}`.")

    data = {
        "community": cid,
        "op_id": op_id,
        "already": already in ("member", "candidate", "device"),
        **you,
    }
    emit(o, data, render)


recovery = group(
    "recovery", help="Get a member who lost every key back: members vouch, the new key claims."
)


@recovery.command("vouch")
@click.argument("member")
@click.argument("new_key")
@click.option("--note", default="", help="How you know it is them.")
@community_option
def recovery_vouch(member, new_key, note, community) -> None:
    """Vouch that NEW_KEY (the member id the person's new node shows: `we id`) now belongs to
    MEMBER, who lost every key. With the charter's number of such vouches (2 by default) the
    new key can claim the membership: history, score, roles and delegations stay theirs."""
    o, b, cid = in_community(community)
    target = pick_member(b, member, cid)
    body = {"member": "hex:" + member_key(target).hex(), "key": "hex:" + member_key(new_key).hex()}
    if note:
        body["note"] = note
    op = b.publish(cid, "recovery.vouch", body)
    emit(
        o,
        {"community": cid, "member_id": target, "key": new_key, "op_id": op["op_id"]},
        lambda c, d: c.print(f"Vouched that {new_key} is now {target}."),
    )


@recovery.command("claim")
@click.argument("member_id")
@click.argument("line")
@click.option(
    "--timeout",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Seconds to wait for the community to sync.",
)
def recovery_claim(member_id, line, timeout) -> None:
    """On a NEW node (`we init`, `we daemon`), before joining anything: take over MEMBER_ID's
    membership in the community of LINE, once enough members ran `we recovery vouch
    MEMBER_ID <this node's id>`. Every old key of the member stops counting."""
    from ..backend import open_backend

    o = obj()
    cid, addrs = parse_join_line(line)
    target = member_key(member_id)
    b = open_backend(o.data_dir, require_daemon=True)
    try:
        claim = {"member": "hex:" + target.hex()}
        op = _follow_and_sync(
            o, b, cid, addrs, timeout, then=lambda: b.publish(cid, "recovery.claim", claim)
        )
        you = me(b)
    finally:
        b.close()
    _remember_bootstrap(o.data_dir, addrs)
    emit(
        o,
        {"community": cid, "op_id": op["op_id"], **you},
        lambda c, d: c.print(f"This node now signs for {d['member_id']} in {cid[:12]}."),
    )


@community.command("leave")
@community_option
@click.option("--note", default="", help="A word to the members.")
def leave(community, note) -> None:
    """Leave a community: say so to its members (if you are one) and stop syncing it. Its ops
    stay in your store; `we community join` takes it up again."""
    o, b, cid = in_community(community)
    status = _my_status(b, cid, me(b))
    op_id = None
    # Only an admitted member may say so: the rules refuse a leave from a candidate (asked
    # to join, not vouched for yet), who has no one to tell and just stops syncing.
    if status == "member":
        op_id = b.publish(cid, "member.leave", {"note": note} if note else {})["op_id"]
    b.call("unfollow", {"community": cid})

    def render(c, d) -> None:
        if op_id:
            c.print(f"Left community {cid[:12]}; the members were told.")
        elif status == "device":
            c.print(
                f"Stopped syncing community {cid[:12]} on this device; your membership stays "
                "(a device does not leave: `we community leave` where your member key is does)."
            )
        elif status == "candidate":
            c.print(
                f"Stopped syncing community {cid[:12]}; you were not a member yet (your "
                "request to join was not vouched for), so there was no one to tell."
            )
        else:
            c.print(f"Stopped syncing community {cid[:12]}; you were not a member of it.")

    emit(o, {"community": cid, "op_id": op_id}, render)


def _my_status(b, cid: str, you: dict) -> str | None:
    """This node's standing in ``cid``: "member", "candidate" (asked to join, not admitted
    yet), "device" (a device of a member, linked there), another status of the members
    view ("left", "removed", "invited"), or None (never asked; a device not linked yet)."""
    if you.get("device"):  # its member's standing is not its own: only its link counts
        linked = b.query("devices", community=cid) or []
        return "device" if any(d["device"] == you["device"]["public_key"] for d in linked) else None
    rows = b.query("members", community=cid) or []
    return next((r["status"] for r in rows if r["member"] == you["public_key"]), None)


def _follow_and_sync(o, b, cid: str, addrs: list[str], timeout: int, then=None):
    """Follow ``cid``, reach it through ``addrs`` and wait for its sync (join, recovery
    claim); returns ``then()`` if given. If any of it fails, a community this node did not
    hold before is left again: a failed attempt leaves nothing behind (no "(syncing)")."""
    held = any(c["id"] == cid for c in b.call("communities") or [])
    b.call("follow", {"community": cid})
    try:
        progress = _Progress(o, cid)  # subscribed before the first session can start
        try:
            _connect_any(b, addrs)
            progress.wait(b, timeout)
        finally:
            progress.close()
        return then() if then is not None else None
    except BaseException:
        if not held:
            b.call("unfollow", {"community": cid})
        raise


def _connect_any(b, addrs: list[str]) -> None:
    """A join line may list several addresses (each interface, LAN and public); one that is
    unreachable from here must not stop the join when another one answers."""
    failures = []
    for a in addrs:
        try:
            b.call("connect", {"addr": a})
        except UserError as exc:
            failures.append(f"{a}: {exc.message}")
    if addrs and len(failures) == len(addrs):
        raise UserError(
            "could not reach the community: " + "; ".join(failures),
            hint="is that member's daemon running, and its address reachable from here? "
            "(`we peers --connect ADDR` tries one)",
            code="unreachable",
        )


class _Progress:
    """Wait for a community being joined, showing how far its sync got ("12,000 of 48,200
    ops") on stderr when stderr is a terminal (nothing with --json). The daemon pushes
    ``sync_progress`` and ``synced`` events (control ``subscribe``). Done when the community
    is known and a session completed, or nothing moved for ``QUIET`` seconds; past the
    timeout a known community goes on syncing in the background, an unknown one fails."""

    QUIET = 2.0

    def __init__(self, o, cid: str):
        import sys

        from ..backend import subscribe

        self.cid = cid
        self.show = not o.json and sys.stderr.isatty()
        params = {"community": cid, "events": ["sync_progress", "synced"]}
        self.events = subscribe(o.data_dir, params, timeout=0.3)
        self.first = next(self.events)  # subscribes (then None: no event within 0.3 s)

    def close(self) -> None:
        self.events.close()

    def wait(self, b, timeout: int) -> None:
        import contextlib
        import itertools

        from ..output import console

        start = time.monotonic()
        moved = start
        known = synced = False
        shown = console(stderr=True).status(f"syncing community {self.cid[:12]}...")
        with shown if self.show else contextlib.nullcontext():
            for ev in itertools.chain([self.first], self.events):
                now = time.monotonic()
                if ev is not None:
                    moved = now
                    synced |= ev["event"] == "synced"
                    if ev["event"] == "sync_progress" and self.show:
                        shown.update(f"syncing community {self.cid[:12]}: {_of(ev)}")
                known = known or b.query("community_info", community=self.cid) is not None
                if known and (synced or now - moved > self.QUIET):
                    return
                if now - start > timeout:
                    break
        if not known:
            raise UserError(
                f"could not get community {self.cid[:12]} from its peers within {timeout}s",
                hint="check that a member's daemon is running and reachable, then retry",
                code="sync_timeout",
                exit_code=1,
            )
        if self.show:
            console(stderr=True).print(
                "The community goes on syncing in the background (see `we status`)."
            )


def _of(ev: dict) -> str:
    done, expected = ev.get("done") or 0, ev.get("expected")
    return f"{done:,} of {expected:,} ops" if expected else f"{done:,} ops"


def _remember_bootstrap(data_dir, addrs) -> None:
    """Keep the addresses in config.toml so the daemon redials them after a restart."""
    from ..config import load_config, save_config

    cfg = load_config(data_dir)
    new = [a for a in addrs if a not in cfg.bootstrap]
    if new:
        cfg.bootstrap += new
        save_config(data_dir, cfg)
