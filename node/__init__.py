"""`we`: a peer-to-peer cooperation node."""


def __getattr__(name: str):
    # Lazy: ``import node.crdt`` must not pull in trio/libp2p/sqlite through the package.
    if name == "Node":
        from .api import Node

        return Node
    raise AttributeError(name)
