"""What the tests that compare with a peer (OBP, gbstats) share."""

PEER_INSTALL_TIMEOUT = 900
"""Seconds such a test may take: it installs the peer's own venv on first use (pip, from the
index), minutes on a busy machine, so it gets this instead of the suite's per-test timeout."""
