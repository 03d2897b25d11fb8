"""The Docker engine for the container tests: building images, running containers and reading their state.

Everything goes through Debian's client at /usr/bin/docker: it builds with BuildKit without a buildx plugin
(tests/peers/docker.sh starts the engine and makes the Debian base image).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCKER = "/usr/bin/docker"
ROOT = Path(__file__).resolve().parents[2]
#: made by tests/peers/docker.sh from Debian's packages (no image registry is reachable)
BASE_IMAGE = "pagerbot-base:bookworm"
IMAGE = "pagerbot:test"
#: on the images these tests build, so the ones a rebuild left untagged can be pruned
LABEL = "org.pagerbot.test-image"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def build(tag: str, context: Path, *, base: str | None = None, timeout: float = 900) -> None:
    """``docker build`` with BuildKit, the host's network and (when there is one) its CA bundle as the secret."""
    args = ["build", "--network", "host", "--label", LABEL, "--tag", tag]
    if base is not None:
        args += ["--build-arg", f"BASE={base}"]
    if CA_BUNDLE.exists():
        args += ["--secret", f"id=cacert,src={CA_BUNDLE}"]
    result = subprocess.run([DOCKER, *args, str(context)], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "DOCKER_BUILDKIT": "1"}, check=False)
    if result.returncode != 0:
        raise AssertionError(f"building {tag} from {context} failed:\n{result.stderr[-5000:]}")
    docker("image", "prune", "--force", "--filter", f"label={LABEL}")


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)


@dataclass
class Container:
    """A container started with ``docker run --detach``; removed (with its anonymous volumes) by ``remove``."""

    id: str

    @classmethod
    def run(cls, image: str, *command: str, options: tuple[str, ...] = ()) -> Container:
        return cls(docker("run", "--detach", *options, image, *command).stdout.strip())

    def state(self) -> dict[str, Any]:
        return dict(json.loads(docker("inspect", "--format", "{{json .State}}", self.id).stdout))

    def health(self) -> str:
        return str(self.state()["Health"]["Status"])

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.health()) != "healthy":
            if status == "unhealthy" or not self.state()["Running"]:
                raise AssertionError(f"container {status}, {self.state()}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"container still {status} after {timeout}s:\n{self.logs()}")
            time.sleep(0.5)

    def host_pid(self) -> int:
        """The container's main process, as the host sees it."""
        return int(self.state()["Pid"])

    def stop(self, grace: int = 10) -> tuple[int, float]:
        """``docker stop`` (SIGTERM, SIGKILL after ``grace`` seconds): the exit code and how long it took."""
        started = time.monotonic()
        docker("stop", "--time", str(grace), self.id, timeout=grace + 30)
        took = time.monotonic() - started
        return int(self.state()["ExitCode"]), took

    def logs(self) -> str:
        result = docker("logs", "--tail", "60", self.id, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.id, check=False)


def process_uids(pid: int) -> list[int]:
    """Real, effective, saved and filesystem uid of a host process (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(uid) for uid in line.split()[1:]]
    raise AssertionError(f"no Uid line for process {pid}")


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: containers on a compose network reach the host there.

    The engine names it only when it was configured (``--bip``); otherwise it is the subnet's first address.
    """
    ipam = json.loads(docker("network", "inspect", "--format", "{{json .IPAM.Config}}", "bridge").stdout)[0]
    return str(ipam.get("Gateway") or next(ipaddress.ip_network(ipam["Subnet"]).hosts()))
