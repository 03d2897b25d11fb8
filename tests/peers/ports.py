"""Small helpers for the peer fixtures: free loopback ports and required binaries."""

from __future__ import annotations

import shutil
import socket

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    """The path of ``binary``, or a test failure (not a skip: CI must run these) saying how to install it."""
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(f"{binary} is not installed; run tests/peers/install.sh (as root) to install the test peers.",
                    pytrace=False)
    return path
