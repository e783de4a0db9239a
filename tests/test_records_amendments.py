"""A decision enacted twice (concurrently) must not undo a later amendment."""

import nacl.signing

from node.crdt.causal import OpMeta
from node.crdt.records import HANDLERS, apply_charter_amendment
from node.crdt.records.common import COMMUNITY, charter_in_clock
from node.crdt.replica import Replica

KEY = nacl.signing.SigningKey(b"\x07" * 32)
P, Q = b"P" * 32, b"Q" * 32


def _meta(n: int) -> OpMeta:
    return OpMeta(bytes([n]) * 32, bytes(KEY.verify_key), n + 1, n + 1, (), b"")


def test_second_enactment_of_one_decision_is_ignored():
    r = Replica(HANDLERS)
    genesis = r.compose(KEY, b"", "community.create", {"name": "Garden"})
    assert r.ingest(genesis).status == "applied"
    c = genesis.id
    apply_charter_amendment(r.state, c, {"name": "Garden 2"}, _meta(1), source=P)
    apply_charter_amendment(r.state, c, {"name": "Garden 3"}, _meta(2), source=Q)
    apply_charter_amendment(r.state, c, {"name": "Garden 2"}, _meta(3), source=P)
    com = r.state.get(COMMUNITY, c)
    assert len(com["amendments"]) == 3
    assert charter_in_clock(com, None)["name"] == "Garden 3"
    # within a cut that holds only the later copy of P, that copy counts
    only_late = {bytes(KEY.verify_key): 4}
    com_late = {**com, "amendments": [a for a in com["amendments"] if a["by_seq"] == 4]}
    assert charter_in_clock(com_late, only_late)["name"] == "Garden 2"
