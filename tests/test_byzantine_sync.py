"""Byzantine eventual consistency through the real sync protocol (issue 9): whatever an
equivocating member, a stranger, junk and forged proofs do, in any partition, batching and
restart, honest stores that synced end with the same state, heights, proofs and tally, and no
honest op pending. The world is in ``tests/byzantine_world.py``; ``python -m bench
adversarial`` runs a longer profile."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.byzantine_world import run


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(5, 60))
def test_honest_nodes_converge_whatever_hostile_keys_sign(tmp_path_factory, seed, steps):
    run(tmp_path_factory.mktemp("bec"), seed, steps)
