"""`we`: a peer-to-peer cooperation node."""
