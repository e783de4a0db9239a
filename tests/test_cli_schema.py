"""Every `we ... --json` output against its published schema (specs/cli.schema.json, described
in specs/cli.md): scripts may rely on the fields and types written there. Each command of the
CLI must have a schema, and the outputs of a scenario that runs them (real subprocesses) must
validate. The validator is the subset of JSON Schema the file uses (no dependency)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pytest
from cli_helpers import ROOT, we

SCHEMA = json.loads((ROOT / "specs" / "cli.schema.json").read_text())
NOT_JSON = {"completion"}  # prints a shell script
DAEMON_ONLY = {
    "daemon",
    "daemon stop",
    "community join",
    "peers",
    "seal",
    "web",  # test_web checks its output against the schema
    "recovery claim",  # test_cli_devices checks its output against the schema
}  # test_cli_issue11


def leaf_commands() -> list[str]:
    from cli.main import cli

    ctx = click.Context(cli)
    out = []

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            if getattr(cmd, "invoke_without_command", False) and path:
                out.append(" ".join(path))
            for n in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, n), [*path, n])
        else:
            out.append(" ".join(path))

    walk(cli, [])
    return out


def check(value, schema, where="$"):
    """Raise AssertionError naming the first place ``value`` breaks ``schema``."""
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        errors = []
        for s in schema["anyOf"]:
            try:
                return check(value, s, where)
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{where}: matches no alternative: {errors}")
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        py = {
            "string": str,
            "integer": int,
            "boolean": bool,
            "array": list,
            "object": dict,
            "null": type(None),
        }
        ok = any(
            isinstance(value, py[t]) and not (t == "integer" and isinstance(value, bool))
            for t in types
        )
        assert ok, f"{where}: {value!r:.80} is not {types}"
    if "pattern" in schema and isinstance(value, str):
        import re

        assert re.search(schema["pattern"], value), f"{where}: {value!r} is not {schema['pattern']}"
    if "minLength" in schema and isinstance(value, str):
        assert len(value) >= schema["minLength"], f"{where}: {value!r} is too short"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for k in schema.get("required", []):
            assert k in value, f"{where}: missing {k!r}"
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                check(v, props[k], f"{where}.{k}")
            elif schema.get("additionalProperties") is False:
                raise AssertionError(f"{where}: unexpected field {k!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                check(v, schema["additionalProperties"], f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            check(v, schema["items"], f"{where}[{i}]")


def test_every_command_has_a_published_schema():
    missing = [c for c in leaf_commands() if c not in NOT_JSON and c not in SCHEMA["commands"]]
    assert not missing, f"no schema in specs/cli.schema.json for: {missing}"
    stale = [c for c in SCHEMA["commands"] if c not in leaf_commands()]
    assert not stale, f"schemas of commands that do not exist: {stale}"


def test_the_validator_can_fail():
    with pytest.raises(AssertionError):
        check({"id": 3}, SCHEMA["commands"]["offer add"])
    with pytest.raises(AssertionError):
        check([{"title": "x"}], SCHEMA["commands"]["offer list"])
    with pytest.raises(AssertionError):
        check({"error": {"code": "x", "message": "y", "hint": ""}}, SCHEMA["$defs"]["error"])


def scenario(tmp: Path):
    """(command, output) for a run of every command that works on one node, offline."""
    import nacl.signing
    import trio

    from node import Node
    from node.identity import member_id

    a = tmp / "alice"
    runs: list[tuple[str, object]] = []

    def j(name: str, *args: str, env=None):
        r = we(a, "--json", *args, env=env)
        assert r.code == 0, (args, r.err)
        value = json.loads(r.out) if r.out.strip() else None
        runs.append((name, value))
        return value

    j("init", "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    j("id", "id")
    j("community create", "community", "create", "Other", "--vouches", "0")
    j("community leave", "community", "leave", "-c", "Other")
    cid = j("community create", "community", "create", "Tools", "--vouches", "1")["id"]
    j("community list", "community", "list")
    j("community info", "community", "info")
    j("status", "status")
    j("profile set", "profile", "set", "--name", "Alice", "--skill", "carpentry")
    j("profile show", "profile", "show")
    offer = j("offer add", "offer", "add", "Drill", "--category", "tools/power")["id"]
    j("offer edit", "offer", "edit", offer[:10], "--title", "Cordless drill")
    j("offer list", "offer", "list")
    need = j("need add", "need", "add", "Glue", "--category", "kitchen")["id"]
    j("need list", "need", "list")
    j("need show", "need", "show", need[:10])
    j("match", "match")
    project = j("project create", "project", "create", "Repair cafe")["id"]
    j("project list", "project", "list")
    j("contribute", "contribute", project[:10], "--hours", "2", "--what", "radios")
    pid = j("proposal create", "proposal", "create", "Buy glue", "--closes", "+1d")["id"]
    start = time.time_ns() // 1_000_000 + 3_600_000
    keys: list = []

    async def others() -> None:
        async with Node.open(a, network=False) as n:
            c = bytes.fromhex(cid)
            m = nacl.signing.SigningKey.generate()
            keys.append(m)
            n.store.append(m, c, "member.join", {})
            n.store.append(
                n.identity.signing_key, c, "member.vouch", {"member": bytes(m.verify_key)}
            )
            n.store.append(m, c, "profile.set", {"display_name": "Bob"})
            # a mention of Alice: her inbox shows it
            ask = {"title": "Ladder?", "text": "who has one", "mentions": [n.public_key]}
            n.store.append(m, c, "thread.create", ask)
            for i in range(2):
                window = [start + i * 10 * 3_600_000, start + (i * 10 + 1) * 3_600_000]
                body = {"offer": bytes.fromhex(offer), "window": window, "quantity": 1}
                n.store.append(m, c, "reservation.request", body, deps=[bytes.fromhex(offer)])
            work = {"action": "work", "effort_minutes": 30, "at": start - 7_200_000}
            n.store.append(m, c, "contribution.record", work)
            n.store.append(
                m,
                c,
                "offer.create",
                {
                    "title": "Tent",
                    "category": "camping",
                    "action": "lend",
                    "expires": start + 86_400_000,
                },
            )
            n.store.append(nacl.signing.SigningKey.generate(), c, "member.join", {})

    trio.run(others)
    j("member list", "member", "list")
    assert "mention" in {r["kind"] for r in j("inbox", "inbox")}  # Bob asked Alice
    first, second = [r["id"] for r in j("reservation list", "reservation", "list")]
    j("reservation accept", "reservation", "accept", first[:10])
    j("reservation decline", "reservation", "decline", second[:10])
    tent = next(o["id"] for o in j("offer list", "offer", "list") if o["title"] == "Tent")
    j("offer show", "offer", "show", tent[:10])
    res = j("reserve", "reserve", tent[:10], "--from", "+1h", "--until", "+2h")["id"]
    j("reservation cancel", "reservation", "cancel", res[:10])
    theirs = next(
        c
        for c in j("contribution list", "contribution", "list")
        if c["fields"]["effort_minutes"] == 30
    )
    j("attest", "attest", theirs["id"][:10])
    j("score", "score")
    j("proposal list", "proposal", "list")
    j("proposal show", "proposal", "show", pid[:10])
    j("vote", "vote", pid[:10], "yes")
    about = ("--on", offer[:10], "--text", "for the weekend\nor longer")
    th = j("thread new", "thread", "new", "Lend the drill?", *about)["id"]
    j("thread list", "thread", "list")
    first = j("comment", "comment", th[:10], "Sure")["id"]
    j("comment", "comment", th[:10], "When?", "--reply-to", first[:10], "--mention", "Bob")
    j("thread show", "thread", "show", th[:10])
    j("tally", "tally", pid[:10])
    j("delegate", "delegate", "Bob")
    j("undelegate", "undelegate")
    members = j("member list", "member", "list")
    bob = next(m["member_id"] for m in members if m["name"] == "Bob")
    j("block", "block", bob)
    j("block", "block", "--list")
    j("unblock", "unblock", bob)
    candidate = next(m for m in members if m["status"] == "candidate")
    j("member vouch", "member", "vouch", candidate["member_id"])
    j("export", "export")
    out = tmp / "ops.json"
    j("export", "export", "--ops", "-o", str(out))
    j("import", "import", str(out))
    j("activity", "activity")
    j("offer withdraw", "offer", "withdraw", offer[:10])
    j("need withdraw", "need", "withdraw", need[:10])
    j("watch", "watch", "--interval", "0.1", "--count", "1")
    j("key adopt", "key", "adopt")
    backup = str(tmp / "alice.key")
    j("key export", "key", "export", backup, env={"WE_NEW_PASSPHRASE": "a backup phrase"})
    restored, pw = tmp / "restored", {"WE_PASSPHRASE": "a backup phrase"}
    for name, args in (("key import", ("import", backup)), ("key passwd", ("passwd",))):
        r = we(restored, "--json", "key", *args, env={**pw, "WE_NEW_PASSPHRASE": "new phrase"})
        assert r.code == 0, (args, r.err)
        runs.append((name, json.loads(r.out)))
    j("device add", "device", "add", str(tmp / "laptop.key"), env={"WE_NEW_PASSPHRASE": "p w"})
    j("device list", "device", "list")
    stranger = member_id(bytes(nacl.signing.SigningKey.generate().verify_key))
    j("recovery vouch", "recovery", "vouch", "Bob", stranger)
    j("device revoke", "device", "revoke", j("id", "id")["member_id"])  # retires alice's key
    # handover and return: the borrower hands over (in-process), the owner takes it back
    return runs, first, keys


def test_every_json_output_matches_its_schema(tmp_path):
    runs, _, _ = scenario(tmp_path)
    seen = set()
    for name, value in runs:
        if value is None:  # `watch` with nothing new prints nothing
            continue
        check(value, SCHEMA["commands"][name], name)
        seen.add(name)
    # `watch` prints activity's rows (the "event" schema, checked with `activity`); handover
    # and return have accept's schema
    others = {"watch", "reservation handover", "reservation return"}
    not_run = set(SCHEMA["commands"]) - seen - DAEMON_ONLY - others
    assert not not_run, f"commands the scenario does not check: {sorted(not_run)}"


def test_error_object_matches_its_schema(tmp_path):
    r = we(tmp_path / "none", "--json", "offer", "list")
    assert r.code != 0
    check(json.loads(r.err.strip().splitlines()[-1]), SCHEMA["$defs"]["error"], "error")


if __name__ == "__main__":  # python tests/test_cli_schema.py DIR: print the scenario's outputs
    import sys
    import tempfile

    runs, _, _ = scenario(Path(tempfile.mkdtemp()))
    json.dump([[n, v] for n, v in runs], sys.stdout, indent=1)
