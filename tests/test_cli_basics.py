"""The `we` skeleton: help, init, id, config, completion, and error reporting."""

from __future__ import annotations

import tomllib

from cli_helpers import we


def test_help_lists_every_command():
    r = we(None, "--help")
    assert r.code == 0
    for name in (
        "init",
        "daemon",
        "community",
        "offer",
        "reservation",
        "proposal",
        "tally",
        "export",
    ):
        assert name in r.out
    assert "Exit codes" in r.out


def test_init_plaintext_then_id_json(tmp_path):
    home = tmp_path / "n"
    r = we(home, "--json", "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
    assert r.code == 0, r.err
    created = r.json
    assert created["member_id"].startswith("12D3KooW")
    assert created["encrypted"] is False
    # --json also works after the command name
    r = we(home, "id", "--json")
    assert r.code == 0
    assert r.json["member_id"] == created["member_id"]
    assert len(bytes.fromhex(r.json["public_key"])) == 32
    cfg = tomllib.loads((home / "config.toml").read_text())
    assert cfg["network"]["listen"] == ["/ip4/127.0.0.1/tcp/0"]
    assert cfg["network"]["bootstrap"] == []


def test_we_home_env_is_the_default_data_dir(tmp_path):
    r = we(None, "--json", "init", "--plaintext", env={"WE_HOME": str(tmp_path / "h")})
    assert r.code == 0, r.err
    assert r.json["data_dir"] == str(tmp_path / "h")


def test_init_twice_refuses_to_overwrite(tmp_path):
    assert we(tmp_path, "init", "--plaintext").code == 0
    r = we(tmp_path, "init", "--plaintext")
    assert r.code == 1
    assert "refusing to overwrite" in r.err
    assert "Traceback" not in r.err


def test_id_without_init_says_run_init(tmp_path):
    r = we(tmp_path / "empty", "id")
    assert r.code == 1
    assert "we init" in r.err
    assert "Traceback" not in r.err
    r = we(tmp_path / "empty", "--json", "id")
    assert r.error["code"] == "no_identity"


def test_encrypted_key_needs_the_right_passphrase(tmp_path):
    home = tmp_path / "enc"
    r = we(home, "init", env={"WE_PASSPHRASE": "correct horse"})
    assert r.code == 0, r.err
    # the member id is readable without the passphrase
    assert we(home, "id").out.startswith("12D3KooW")
    # an operation that signs needs the key: wrong passphrase -> exit 6, clear message
    r = we(home, "--json", "community", "create", "Tools", env={"WE_PASSPHRASE": "wrong"})
    assert r.code == 6, (r.code, r.err)
    assert r.error["code"] == "wrong_passphrase"
    assert "Traceback" not in r.err
    r = we(home, "community", "create", "Tools", input="")
    assert r.code == 6
    assert "WE_PASSPHRASE" in r.err
    # the daemon checks the key before it starts anything
    r = we(home, "daemon", env={"WE_PASSPHRASE": "wrong"})
    assert r.code == 6 and "wrong passphrase" in r.err
    assert not (home / "control.sock").exists()
    r = we(home, "--json", "community", "create", "Tools", env={"WE_PASSPHRASE": "correct horse"})
    assert r.code == 0, r.err


def test_bad_config_is_reported(tmp_path):
    assert we(tmp_path, "init", "--plaintext").code == 0
    (tmp_path / "config.toml").write_text("[network\nlisten = 3")
    r = we(tmp_path, "daemon")
    assert r.code == 2
    assert "config.toml is not valid TOML" in r.err


def test_completion_scripts():
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef")):
        r = we(None, "completion", shell)
        assert r.code == 0
        assert marker in r.out
        assert "_WE_COMPLETE" in r.out


def test_usage_error_exit_2():
    r = we(None, "offer", "add")
    assert r.code == 2
    assert "Traceback" not in r.err


def test_bad_dates_are_reported_before_anything_runs(tmp_path):
    cases = [
        ("offer", "add", "Drill", "--category", "tools", "--expires", "next tuesday"),
        ("need", "add", "Drill", "--category", "tools", "--window", "2026-13-01..2026-12-02"),
        ("reserve", "abc", "--from", "+1h", "--until", "yesterday-ish"),
        ("proposal", "create", "T", "--closes", "soon"),
        ("contribute", "abc", "--hours", "2", "--when", "32/13/2026"),
    ]
    for args in cases:
        r = we(tmp_path, "--json", *args)
        assert r.code == 2, (args, r.code, r.err)
        err = r.error
        assert err["code"] == "bad_value"
        assert "bad date" in err["message"]
        assert "YYYY-MM-DD" in err["hint"]


def test_bad_effort_and_share_values(tmp_path):
    r = we(tmp_path, "contribute", "abc", "--hours", "lots")
    assert r.code == 2 and "bad effort 'lots'" in r.err
    r = we(tmp_path, "proposal", "create", "T", "--quorum", "150%")
    assert r.code == 2 and "between 0 and 100%" in r.err
    r = we(tmp_path, "reserve", "abc", "--from", "+2d", "--until", "+1d")
    assert r.code == 2 and "--until must be after --from" in r.err


def test_join_line_must_be_a_join_line(tmp_path):
    r = we(tmp_path, "community", "join", "hello")
    assert r.code == 2
    assert "not a join line" in r.err
    r = we(tmp_path, "community", "join", "we:abcd@/ip4/127.0.0.1/tcp/1")
    assert r.code == 2
    assert "not a community id" in r.err
