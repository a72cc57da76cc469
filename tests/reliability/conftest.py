"""Fixtures of the reliability suite: the fault-injecting intake."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fault_intake import FaultIntake  # noqa: E402


@pytest.fixture
def fault_intake():
    servers = []

    def make(mode="ok", **kw):
        server = FaultIntake(mode, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()
