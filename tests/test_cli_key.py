"""`we key` (issue 12): a key backup, a passphrase change, and a data dir that arrives on
another machine, which signs nothing until its chain is confirmed or adopted."""

from __future__ import annotations

import shutil

from cli_helpers import we

OLD, NEW, BACKUP = "old pass phrase", "new pass phrase", "backup pass phrase"


def test_export_passwd_import_and_a_copied_data_dir(tmp_path):
    home = tmp_path / "alice"
    pw = {"WE_PASSPHRASE": OLD}
    assert we(home, "--json", "init", env=pw).code == 0
    r = we(home, "--json", "community", "create", "Tools", env=pw)
    assert r.code == 0, r.err
    me = we(home, "--json", "id").json["member_id"]

    backup = tmp_path / "alice.key"
    r = we(home, "--json", "key", "export", str(backup), env={**pw, "WE_NEW_PASSPHRASE": BACKUP})
    assert r.code == 0, r.err
    r = we(home, "--json", "key", "export", str(backup), env={**pw, "WE_NEW_PASSPHRASE": BACKUP})
    assert r.code != 0 and "refusing to overwrite" in r.error["message"]  # never overwrites

    r = we(home, "--json", "key", "passwd", env={**pw, "WE_NEW_PASSPHRASE": NEW})
    assert r.code == 0, r.err
    r = we(home, "--json", "profile", "set", "--name", "Alice", env=pw)
    assert r.code == 6  # the old passphrase opens nothing now
    r = we(home, "--json", "profile", "set", "--name", "Alice", env={"WE_PASSPHRASE": NEW})
    assert r.code == 0, r.err

    # The whole data dir copied to another machine (its own place for chain markers).
    laptop = tmp_path / "laptop"
    shutil.copytree(home, laptop)
    (laptop / "node.lock").unlink(missing_ok=True)
    there = {"WE_PASSPHRASE": NEW, "WE_STATE_DIR": str(tmp_path / "laptop-machine")}
    st = we(laptop, "--json", "status", env=there).json
    assert st["chain_guard"]["state"] == "unverified"
    assert "not confirmed on this machine" in we(laptop, "status", env=there).out
    r = we(laptop, "--json", "profile", "set", "--name", "Alice (laptop)", env=there)
    assert r.code == 4 and r.error["code"] == "chain_unverified"
    assert "we key adopt" in r.error["hint"]
    assert we(laptop, "--json", "key", "adopt", env=there).json["state"] == "ok"
    r = we(laptop, "--json", "profile", "set", "--name", "Alice (laptop)", env=there)
    assert r.code == 0, r.err

    # The key backup restored as the key itself (--same-key) into a new data dir: same
    # member, and it does not sign on a store it did not get from a peer. (Without
    # --same-key it becomes a new device: tests/test_cli_devices.py.)
    fresh = tmp_path / "restored"
    elsewhere = {"WE_PASSPHRASE": BACKUP, "WE_STATE_DIR": str(tmp_path / "third-machine")}
    r = we(fresh, "--json", "key", "import", "--same-key", str(backup), env=elsewhere)
    assert r.code == 0, r.err
    assert r.json["member_id"] == me == we(fresh, "--json", "id").json["member_id"]
    r = we(fresh, "--json", "key", "import", str(backup), env=elsewhere)
    assert r.code == 1 and r.error["code"] == "key_exists"
    shutil.copy(home / "store.db", fresh / "store.db")  # an old store next to the key
    r = we(fresh, "--json", "profile", "set", "--name", "Alice (restored)", env=elsewhere)
    assert r.code == 4 and r.error["code"] == "chain_unverified"


def test_a_file_that_is_no_key_or_a_damaged_one_is_said_to_be_so(tmp_path):
    """`we key import` of an ops file (mode 0644) asked to chmod it, then, once chmod-ed,
    called it a damaged keystore to bring back with `we key import`; a truncated key made
    `we id` (no passphrase needed) fail as if the passphrase were missing (exit 6)."""
    ops = tmp_path / "ops.json"
    ops.write_text('{"ops": []}')
    ops.chmod(0o644)
    r = we(tmp_path / "new", "--json", "key", "import", str(ops))
    assert r.code == 1, r.err
    assert r.error["message"] == f"{ops}: not a `we` key file (no 'we-keystore' mark)"
    assert "`we key export`" in r.error["hint"] and "chmod" not in r.err
    assert not (tmp_path / "new").exists()  # nothing was set up

    home = tmp_path / "alice"
    assert we(home, "init", "--plaintext").code == 0
    key = home / "identity.json"
    key.write_bytes(key.read_bytes()[:100])
    r = we(home, "--json", "id")
    assert r.code == 1, r.err
    assert "not valid JSON (truncated?); the file is damaged" in r.error["message"]
    assert "WE_PASSPHRASE" not in r.err and "passphrase" not in r.error["hint"]


def test_export_names_the_passphrase_and_the_file_it_wants(tmp_path):
    """`we key export` to an existing file hinted "this data dir already has an identity";
    with WE_NEW_PASSPHRASE empty and no terminal it asked for WE_PASSPHRASE."""
    home = tmp_path / "alice"
    assert we(home, "init", "--plaintext").code == 0
    there = tmp_path / "there.key"
    there.write_text("mine")
    r = we(home, "--json", "key", "export", str(there), env={"WE_NEW_PASSPHRASE": "x"})
    assert r.code == 1 and "refusing to overwrite" in r.error["message"]
    assert r.error["hint"] == "give another file name, or move the existing file away first"
    assert there.read_text() == "mine"
    r = we(
        home, "--json", "key", "export", str(tmp_path / "new.key"), env={"WE_NEW_PASSPHRASE": ""}
    )
    assert r.code == 6 and "set WE_NEW_PASSPHRASE" in r.error["message"]
    assert r.error["hint"].startswith("WE_NEW_PASSPHRASE is set but empty")


def test_export_says_what_an_import_will_do(tmp_path):
    """`we key export` said the restore "checks your chain with peers before it signs", which
    is `--same-key`'s way; a plain import makes a new device key."""
    home = tmp_path / "alice"
    assert we(home, "init", "--plaintext").code == 0
    r = we(home, "key", "export", str(tmp_path / "a.key"), env={"WE_NEW_PASSPHRASE": "x"})
    assert r.code == 0, r.err
    said = " ".join(r.out.split())
    assert "a new key of its own, certified by this one" in said and "`--same-key`" in said
