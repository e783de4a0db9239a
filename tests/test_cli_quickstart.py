"""The README's quickstart, run as written by two people with two real daemons, in both
directions (Alice founds and Bob joins, then Bob founds and Alice joins).

Each `we` line of the quickstart's shell blocks (and the reservation steps its prose names) is
run with the placeholders filled from earlier outputs; a line runs as the person its block or
comment names. Replication is asynchronous, so a step that needs what the other node wrote is
retried until it succeeds (bounded). Only what a test cannot do is changed: ports (127.0.0.1,
any free port), `we daemon` in the background (`--detach`) and the proposal's close (+1d
becomes a few seconds, then the witness seals)."""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest
from cli_helpers import ROOT, we

README = (ROOT / "README.md").read_text()


def quickstart_lines() -> list[tuple[str, str]]:
    """(who, the line after `we `) for each `we` line of the quickstart, in order. A line runs
    as the person of its block, or the one its comment starts with (or says "here: NAME")."""
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    out: list[tuple[str, str]] = []
    who = "alice"
    for m in re.finditer(
        r"\*\*(Alice|Bob)\*\*[^`]*?```sh\n(.*?)```|```sh\n(.*?)```", section, re.S
    ):
        if m.group(1):
            who = m.group(1).lower()
        block = m.group(2) or m.group(3)
        for line in block.splitlines():
            code, _, comment = line.partition("#")
            if not code.strip().startswith("we "):
                continue
            named = re.match(r"\s*(Alice|Bob)\b(?!')", comment) or re.search(
                r"here: (Alice|Bob)", comment
            )
            if "each member" in comment or "every node" in comment or "we score" in code:
                runner = "both"
            elif named:
                runner = who = named.group(1).lower()
            else:
                runner = who
            out.append((runner, code.strip()[3:]))
        if "we reserve" in block:  # the prose after it: accept, handover, return
            for step in re.findall(r"(Alice|Bob)\s+`we (reservation \w+ <id>)`", section):
                out.append((step[0].lower(), step[1]))
    return out


def test_the_quickstart_is_found_whole():
    """The parser can fail: it must see every step the README shows."""
    lines = [code for _, code in quickstart_lines()]
    for step in (
        "init",
        "daemon",
        "community create",
        "community join",
        "member vouch",
        "offer add",
        "need add",
        "reserve <offer",
        "reservation accept",
        "reservation handover",
        "reservation return",
        "contribute <project",
        "attest <contribution",
        "proposal create",
        "vote <proposal",
        "seal <proposal",
        "tally <proposal",
    ):
        assert any(x.startswith(step) for x in lines), (step, lines)


@pytest.mark.parametrize("founder", ["alice", "bob"])
def test_readme_quickstart_runs(tmp_path, founder):
    other = "bob" if founder == "alice" else "alice"
    homes = {"alice": tmp_path / "alice", "bob": tmp_path / "bob"}
    role = {"alice": founder, "bob": other}  # the README's Alice is played by `founder`
    env = {"WE_PASSPHRASE": "quickstart"}
    found: dict[str, str] = {}

    def fill(code: str) -> list[str]:
        for key in ("offer id", "project id", "contribution id", "proposal id", "id"):
            code = code.replace(f"<{key}>", found.get(key, f"<{key}>"))
        out = []
        for a in shlex.split(code):
            if a.startswith("we:..."):
                a = found["line"]
            elif a.startswith("12D3KooW") and a.endswith("..."):
                a = found["member_id"]
            out.append(a)
        args = out
        if args[:1] == ["init"]:
            out += ["--listen", "/ip4/127.0.0.1/tcp/0"]
        if args[:1] == ["daemon"]:
            out = ["daemon", "--detach"]
        if "--closes" in out:
            out[out.index("--closes") + 1] = "+8s"
        return out

    def run(person: str, args: list[str]) -> dict:
        home = homes[role[person]]
        deadline = time.monotonic() + 45
        if args[:1] == ["seal"]:
            time.sleep(9)  # after the close
        while True:
            r = we(home, "--json", *args, env=env, timeout=120)
            if r.code == 0:
                return json.loads(r.out) if r.out.strip() else {}
            assert r.code in (1, 3, 4) and time.monotonic() < deadline, (person, args, r.err)
            time.sleep(0.5)

    try:
        for person, raw in quickstart_lines():
            args = fill(raw)
            for p in ("alice", "bob") if person == "both" else (person,):
                if args[:1] == ["tally"]:  # the same result on both once both have the seal
                    deadline = time.monotonic() + 45
                    while (t := run(p, args)).get("status") != "final":
                        assert time.monotonic() < deadline, t
                        time.sleep(0.5)
                    found.setdefault("tally", json.dumps(t, sort_keys=True))
                    assert json.dumps(t, sort_keys=True) == found["tally"]
                    continue
                out = run(p, args)
                cmd = " ".join(args[:2])
                if cmd == "community info":
                    found["line"] = out["line"]
                elif args[:1] == ["id"]:
                    found["member_id"] = out["member_id"]
                elif cmd == "offer add":
                    found["offer id"] = out["id"][:12]
                elif args[:1] == ["reserve"]:
                    found["id"] = out["id"][:12]
                elif cmd == "project create":
                    found["project id"] = out["id"][:12]
                elif args[:1] == ["contribute"]:
                    found["contribution id"] = out["id"][:12]
                elif cmd == "proposal create":
                    found["proposal id"] = out["id"][:12]
        assert "tally" in found
        tally = json.loads(found["tally"])
        assert tally["passed"] is True and tally["delegated"] not in (None, "0")
    finally:
        for home in homes.values():
            we(home, "daemon", "stop")
