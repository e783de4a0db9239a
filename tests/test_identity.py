import json
import os
import stat

import nacl.pwhash
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import Ed25519PublicKey
from libp2p.peer.id import ID

from node.identity import (
    CorruptKeystoreError,
    Identity,
    InsecurePermissionsError,
    KeystoreError,
    KeystoreExistsError,
    KeystoreNotFoundError,
    MemberIdError,
    PassphraseUnavailableError,
    WrongPassphraseError,
    member_id,
    pubkey_from_member_id,
    read_public_key,
)

# The cheapest argon2id parameters, so tests stay fast; production uses the defaults.
FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}


@pytest.fixture
def key_path(tmp_path):
    return tmp_path / "keys" / "member.key"


def test_roundtrip_with_explicit_passphrase(key_path):
    ident = Identity.create(key_path, "correct horse", **FAST)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    loaded = Identity.load(key_path, "correct horse")
    assert loaded.public_key == ident.public_key
    assert loaded.sign(b"m") == ident.sign(b"m")
    assert read_public_key(key_path) == ident.public_key
    text = key_path.read_text()
    assert bytes(ident.signing_key).hex() not in text  # the secret is not in the file
    doc = json.loads(text)
    assert doc["magic"] == "we-keystore" and doc["version"] == 1
    assert doc["protection"] == "argon2id-secretbox"
    assert doc["kdf"]["opslimit"] == FAST["opslimit"]
    assert doc["member_id"] == ident.member_id


def test_roundtrip_with_env_passphrase(key_path, monkeypatch):
    monkeypatch.setenv("WE_PASSPHRASE", "from the environment")
    ident = Identity.create(key_path, **FAST)
    assert Identity.load(key_path).public_key == ident.public_key
    monkeypatch.setenv("WE_PASSPHRASE", "something else")
    with pytest.raises(WrongPassphraseError):
        Identity.load(key_path)
    # an explicit passphrase wins over the environment
    assert Identity.load(key_path, "from the environment").public_key == ident.public_key


def test_no_passphrase_without_terminal_is_a_clear_error(key_path, monkeypatch):
    monkeypatch.delenv("WE_PASSPHRASE", raising=False)
    # pytest replaces stdin with a non-terminal, so no prompt can be shown
    with pytest.raises(PassphraseUnavailableError, match="WE_PASSPHRASE"):
        Identity.create(key_path, **FAST)
    assert not key_path.exists()


def test_empty_passphrase_refused(key_path):
    with pytest.raises(KeystoreError, match="empty passphrase"):
        Identity.create(key_path, "", **FAST)
    assert not key_path.exists()


def test_plaintext_mode_is_explicit_and_labelled(key_path, monkeypatch):
    monkeypatch.delenv("WE_PASSPHRASE", raising=False)
    ident = Identity.create(key_path, insecure_plaintext=True)
    doc = json.loads(key_path.read_text())
    assert doc["protection"] == "plaintext"
    assert doc["secret_seed_plaintext"] == bytes(ident.signing_key).hex()
    assert "box" not in doc
    assert Identity.load(key_path).public_key == ident.public_key
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


def test_refuses_to_overwrite(key_path):
    first = Identity.create(key_path, "pw", **FAST)
    before = key_path.read_bytes()
    with pytest.raises(KeystoreExistsError, match="refusing to overwrite") as e:
        Identity.create(key_path, "pw", **FAST)
    assert str(key_path) in str(e.value)
    with pytest.raises(KeystoreExistsError):
        Identity.generate().save(key_path, insecure_plaintext=True)
    assert key_path.read_bytes() == before
    assert Identity.load(key_path, "pw").public_key == first.public_key


def test_wrong_passphrase(key_path):
    Identity.create(key_path, "right", **FAST)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase") as e:
        Identity.load(key_path, "wrong")
    assert str(key_path) in str(e.value)


def test_missing_file(key_path):
    with pytest.raises(KeystoreNotFoundError, match="create one first"):
        Identity.load(key_path, "pw")


@pytest.mark.parametrize("keep", [0, 1, 20, 100, -2])
def test_truncated_file(key_path, keep):
    Identity.create(key_path, "pw", **FAST)
    data = key_path.read_bytes()
    key_path.write_bytes(data[:keep])
    with pytest.raises(CorruptKeystoreError, match="from a key backup") as e:
        Identity.load(key_path, "pw")
    assert str(key_path) in str(e.value)


def _rewrite(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_corrupt_bytes_anywhere_are_reported_as_corruption(key_path):
    Identity.create(key_path, "pw", **FAST)
    data = key_path.read_bytes()
    # flip one character in every position: always a typed error, never a wrong key
    for i in range(0, len(data), 7):
        damaged = bytearray(data)
        damaged[i] ^= 0x01
        key_path.write_bytes(bytes(damaged))
        with pytest.raises(KeystoreError) as e:
            Identity.load(key_path, "pw")
        assert isinstance(e.value, CorruptKeystoreError), (i, e.value)
    key_path.write_bytes(b"\x00\xff" * 40)
    with pytest.raises(CorruptKeystoreError, match="not valid JSON"):
        Identity.load(key_path, "pw")


def test_consistent_but_mismatched_key_is_corrupt(key_path):
    Identity.create(key_path, "pw", **FAST)
    other = Identity.generate()

    def swap(doc):
        doc["public_key"] = other.public_key.hex()
        doc["member_id"] = other.member_id
        doc.pop("checksum")
        from node.identity.keyfile import checksum as _checksum

        doc["checksum"] = _checksum(doc)

    _rewrite(key_path, swap)
    with pytest.raises(CorruptKeystoreError, match="secret key does not match"):
        Identity.load(key_path, "pw")


def test_unknown_version_refused(key_path):
    Identity.create(key_path, insecure_plaintext=True)
    _rewrite(key_path, lambda d: d.update(version=2))
    with pytest.raises(CorruptKeystoreError, match="version 2 is not supported"):
        Identity.load(key_path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_open_permissions_refused(key_path, mode):
    Identity.create(key_path, "pw", **FAST)
    os.chmod(key_path, mode)
    with pytest.raises(InsecurePermissionsError, match="chmod 600") as e:
        Identity.load(key_path, "pw")
    assert str(key_path) in str(e.value)
    os.chmod(key_path, 0o600)
    Identity.load(key_path, "pw")


def test_file_created_0600_despite_permissive_umask(key_path):
    old = os.umask(0)
    try:
        Identity.create(key_path, insecure_plaintext=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


def test_peer_id_matches_libp2p(key_path):
    ident = Identity.create(key_path, insecure_plaintext=True)
    pair = ident.libp2p_keypair()
    assert pair.public_key.to_bytes() == ident.public_key
    assert pair.private_key.sign(b"hello") == ident.sign(b"hello")
    expected = ID.from_pubkey(pair.public_key).to_base58()
    assert ident.member_id == expected
    assert expected.startswith("12D3KooW")


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_member_id_round_trips_and_matches_libp2p(seed):
    pubkey = bytes(nacl.signing.SigningKey(seed).verify_key)
    text = member_id(pubkey)
    assert pubkey_from_member_id(text) == pubkey
    assert text == ID.from_pubkey(Ed25519PublicKey.from_bytes(pubkey)).to_base58()


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(min_value=0, max_value=51))
def test_member_id_one_char_changed_is_error_or_other_key(seed, pos):
    pubkey = bytes(nacl.signing.SigningKey(seed).verify_key)
    text = member_id(pubkey)
    pos %= len(text)
    swapped = text[:pos] + ("2" if text[pos] != "2" else "3") + text[pos + 1 :]
    try:
        assert pubkey_from_member_id(swapped) != pubkey
    except MemberIdError:
        pass


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "0OIl",  # not base58 alphabet
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",  # sha256 peer id (RSA-style)
        "12D3KooW" + "1" * 100,
        "12D3KooWé",
        b"12D3KooW",
        None,
    ],
)
def test_bad_member_id_text(text):
    with pytest.raises(MemberIdError):
        pubkey_from_member_id(text)


def test_member_id_needs_32_bytes():
    with pytest.raises(ValueError):
        member_id(b"\x01" * 31)


def test_importing_identity_does_not_import_libp2p(tmp_path):
    import subprocess
    import sys

    code = "import sys, node.identity; print('libp2p' in sys.modules, 'trio' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def _talk_on_a_terminal(argv, answers, env):
    """Run argv on a real pseudo-terminal; answer each prompt (a substring) with a line."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # child: the terminal is its controlling tty, as for a user at a shell
        os.execve(argv[0], argv, env)
    seen = b""
    try:
        for prompt, answer in answers:
            while prompt.encode() not in seen:
                ready, _, _ = select.select([fd], [], [], 30)
                assert ready, f"no prompt {prompt!r}; got {seen!r}"
                seen += os.read(fd, 1024)
            seen = seen.split(prompt.encode(), 1)[1]
            os.write(fd, answer.encode() + b"\n")
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, f"child did not finish; got {seen!r}"
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_passphrase_prompt_on_a_terminal(key_path):
    import sys

    env = {k: v for k, v in os.environ.items() if k != "WE_PASSPHRASE"}
    create = (
        "import sys; from node.identity import Identity; "
        f"print(Identity.create(sys.argv[1], opslimit={FAST['opslimit']}, "
        f"memlimit={FAST['memlimit']}).member_id)"
    )
    code, out = _talk_on_a_terminal(
        [sys.executable, "-c", create, str(key_path)],
        [("Passphrase for", "typed secret"), ("Repeat the passphrase", "typed secret")],
        env,
    )
    assert code == 0, out
    ident = Identity.load(key_path, "typed secret")
    assert ident.member_id in out
    assert "typed secret" not in out  # getpass does not echo
    load = "import sys; from node.identity import Identity; print(Identity.load(sys.argv[1]).member_id)"
    code, out = _talk_on_a_terminal(
        [sys.executable, "-c", load, str(key_path)], [("Passphrase for", "typed secret")], env
    )
    assert code == 0 and ident.member_id in out, out
    code, out = _talk_on_a_terminal(
        [sys.executable, "-c", load, str(key_path)], [("Passphrase for", "nope")], env
    )
    assert code != 0 and "WrongPassphraseError" in out


def test_symlinked_keystore_refused(key_path):
    Identity.create(key_path, insecure_plaintext=True)
    link = key_path.parent / "link.key"
    link.symlink_to(key_path)
    with pytest.raises(KeystoreError, match="symbolic link"):
        Identity.load(link)
    with pytest.raises(KeystoreExistsError):
        Identity.create(link, insecure_plaintext=True)


def test_member_id_in_file_must_match(key_path):
    from node.identity.keyfile import checksum as _checksum

    Identity.create(key_path, insecure_plaintext=True)

    def change(doc):
        doc["member_id"] = Identity.generate().member_id
        doc["checksum"] = _checksum(doc)

    _rewrite(key_path, change)
    with pytest.raises(CorruptKeystoreError, match="member_id does not match"):
        Identity.load(key_path)
