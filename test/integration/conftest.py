"""Fixtures of the integration tests: one real virtual cluster per session."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

import vcluster as harness  # noqa: E402

IPOLICY = harness.IPOLICY
NET_PREFIX = harness.NET_PREFIX


@pytest.fixture(scope="session")
def vcluster():
    if not harness.installed():
        pytest.skip("no installed copy in %s (run ./quickstart.sh test)" % harness.PREFIX)
    if os.geteuid() != 0:
        pytest.skip("the virtual cluster needs root (sshd, noded)")
    cluster = harness.create(3, 4, prefix="gnt-it-")
    try:
        yield cluster
    finally:
        harness.teardown(cluster)
