"""The node daemon's parts: host + store + gossip + sync + the local control API.

The blocking entry point used by ``we daemon`` is ``node.daemon.run`` (beside ``Node``, which
it opens); it stops cleanly on SIGINT/SIGTERM.
"""
