"""Issue 12: a node never signs at a seq its key may already have used. A restored backup or
a copied data dir is told apart from a node that simply restarts, and it writes only once it
has its own chain back from peers (or the user adopts the store as it is)."""

from __future__ import annotations

import shutil

import pytest

from node import Node
from node.identity.chainguard import BEHIND, OK, UNVERIFIED, ChainGuard, ChainGuardError
from tests.net_helpers import wait_until

C1, C2 = b"\x01" * 32, b"\x02" * 32
KEY = b"\x07" * 32


class FakeStore:
    """The two things the guard reads of a store: this key's own heads, and communities."""

    def __init__(self, heads=None):
        self.heads = dict(heads or {})

    def own_seq(self, c):
        return self.heads.get(c, 0)

    def communities(self):
        return sorted(self.heads)


def guard(data_dir, store, markers):
    return ChainGuard(data_dir, KEY, store.own_seq, store.communities, markers=markers)


def test_fresh_data_dir_writes_and_a_restore_waits_for_its_chain(tmp_path):
    store, markers = FakeStore(), tmp_path / "machine"
    g = guard(tmp_path / "d", store, markers)
    g.check(C1)  # a fresh data dir: nothing of this key exists anywhere
    for seq in (1, 2, 3):
        store.heads[C1] = seq
        g.signed(C1, seq, bytes([seq]) * 32)
    store.heads[C1] = 1  # the data dir is restored from a backup taken after op 1
    g = guard(tmp_path / "d", store, markers)  # the node starts again
    assert g.state(C1) == BEHIND and g.state(C2) == OK  # C2: never written from here
    with pytest.raises(ChainGuardError) as err:
        g.check(C1)
    assert err.value.reason == "chain_behind" and "restored backup" in str(err.value)
    g.peer_synced(C1)  # a peer that lacks ops 2-3 does not unblock it
    assert g.state(C1) == BEHIND
    store.heads[C1] = 3  # sync brought ops 2 and 3 back
    g.check(C1)
    assert g.status() == {"state": OK, "communities": {C1.hex(): OK}}


def test_copied_data_dir_waits_for_a_peer_in_each_community(tmp_path):
    store, home = FakeStore(), tmp_path / "home"
    g = guard(tmp_path / "d", store, home)
    store.heads.update({C1: 5, C2: 2})
    g.signed(C1, 5, b"\x05" * 32)
    g.signed(C2, 2, b"\x02" * 32)
    shutil.copytree(tmp_path / "d", tmp_path / "copy")
    g2 = guard(tmp_path / "copy", store, tmp_path / "elsewhere")  # another machine
    assert g2.status()["state"] == UNVERIFIED
    with pytest.raises(ChainGuardError) as err:
        g2.check(C1)
    assert err.value.reason == "chain_unverified" and "we daemon" in err.value.hint
    g2.peer_synced(C1)
    g2.check(C1)
    assert g2.state(C2) == UNVERIFIED  # each community on its own
    g3 = guard(tmp_path / "copy", store, tmp_path / "elsewhere")  # remembered over restarts
    assert g3.state(C1) == OK and g3.state(C2) == UNVERIFIED
    g3.adopt()  # the user says the old copy is gone for good
    assert g3.status()["state"] == OK


def test_data_dir_from_before_the_guard_adopts_its_store_once(tmp_path):
    store = FakeStore({C1: 4})
    g = guard(tmp_path / "d", store, tmp_path / "m")  # no chain.guard file: an older data dir
    assert g.status()["state"] == OK
    store.heads[C1] = 2  # ...but a later restore of it is caught
    assert guard(tmp_path / "d", store, tmp_path / "m").state(C1) == BEHIND


def test_backup_from_before_the_guard_restored_where_a_marker_exists(tmp_path):
    store = FakeStore({C1: 4})
    guard(tmp_path / "d", store, tmp_path / "m").signed(C1, 4, b"\x04" * 32)
    (tmp_path / "d" / "chain.guard").unlink()  # the restored backup predates the guard file
    store.heads[C1] = 1
    assert guard(tmp_path / "d", store, tmp_path / "m").state(C1) == BEHIND


def test_damaged_marker_means_ask_peers(tmp_path):
    store = FakeStore({C1: 1})
    g = guard(tmp_path / "d", store, tmp_path / "m")
    g.signed(C1, 1, b"\x01" * 32)
    (tmp_path / "m" / f"chain-{KEY.hex()}.json").write_text("{not json")
    assert guard(tmp_path / "d", store, tmp_path / "m").state(C1) == UNVERIFIED


# ------------------------------------------------------------------- real nodes, libp2p
async def test_restored_backup_catches_up_from_a_peer_and_never_forks(tmp_path):
    """Alice backs up her data dir, signs two more ops that Bob receives, then restores the
    backup. Her node refuses to sign until sync has brought her ops back from Bob; then it
    signs at the next seq, and no node holds a fork proof of hers."""
    a_dir, b_dir = tmp_path / "alice", tmp_path / "bob"
    async with Node.open(a_dir, insecure_plaintext=True, network=False) as alice:
        cid = await alice.create_community({"name": "Tools", "membership": {"rule": "open"}})
        await alice.publish(cid, "profile.set", {"display_name": "Alice"})
    shutil.copytree(a_dir, tmp_path / "backup")
    async with (
        Node.open(a_dir, insecure_plaintext=True) as alice,
        Node.open(b_dir, insecure_plaintext=True) as bob,
    ):
        for i in range(2):
            await alice.publish(cid, "profile.set", {"display_name": f"saw {i}"})
        await bob.follow(cid)
        await bob.connect(alice.listen_addrs[0])
        await wait_until(lambda: bob.store.heights(cid).get(alice.public_key, (0,))[0] == 4)
    shutil.rmtree(a_dir)
    shutil.copytree(tmp_path / "backup", a_dir)
    async with (
        Node.open(a_dir, insecure_plaintext=True) as alice,
        Node.open(b_dir, insecure_plaintext=True) as bob,
    ):
        assert alice.status()["chain_guard"]["state"] == "behind"
        with pytest.raises(ChainGuardError):
            await alice.publish(cid, "profile.set", {"display_name": "would fork"})
        await alice.connect(bob.listen_addrs[0])
        await wait_until(lambda: alice.status()["chain_guard"]["state"] == "ok")
        op = await alice.publish(cid, "profile.set", {"display_name": "ladder"})
        assert op.seq == 5
        await wait_until(lambda: bob.store.get_op(op.id) is not None)
        assert bob.store.fork_proofs(cid) == [] and alice.store.fork_proofs(cid) == []
        assert alice.status()["own_forks"] == []


async def test_copy_on_another_machine_signs_only_after_a_peer_confirmed(tmp_path, monkeypatch):
    a_dir, b_dir = tmp_path / "alice", tmp_path / "bob"
    async with (
        Node.open(a_dir, insecure_plaintext=True) as alice,
        Node.open(b_dir, insecure_plaintext=True) as bob,
    ):
        cid = await alice.create_community({"name": "Tools", "membership": {"rule": "open"}})
        await bob.follow(cid)
        await bob.connect(alice.listen_addrs[0])
        op = await alice.publish(cid, "profile.set", {"display_name": "Alice"})
        await wait_until(lambda: bob.store.get_op(op.id) is not None)
    shutil.copytree(a_dir, tmp_path / "laptop")
    monkeypatch.setenv("WE_STATE_DIR", str(tmp_path / "laptop-machine"))  # another machine
    async with (
        Node.open(tmp_path / "laptop", insecure_plaintext=True) as laptop,
        Node.open(b_dir, insecure_plaintext=True) as bob,
    ):
        assert laptop.status()["chain_guard"]["state"] == "unverified"
        with pytest.raises(ChainGuardError) as err:
            await laptop.publish(cid, "profile.set", {"display_name": "drill"})
        assert err.value.reason == "chain_unverified"
        await laptop.connect(bob.listen_addrs[0])
        await wait_until(lambda: laptop.status()["chain_guard"]["state"] == "ok")
        op = await laptop.publish(cid, "profile.set", {"display_name": "drill"})
        assert op.seq == 3
