"""Real gmond + gmetad on loopback for integration tests (Debian's ganglia-monitor and gmetad).

gmond runs with no collection groups, so it reports only what ``gmetric --spoof`` feeds it; gmetad
polls it every ``poll_seconds``, serves the XML dump (xml port) and one host on the interactive port,
and writes RRD files under ``rrd_root/<cluster>/<host>/<metric>.rrd``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.ports import free_port, free_udp_port, need, stop_process

CLUSTER = "prod"


@dataclass
class Ganglia:
    gmond_conf: Path
    xml_port: int
    interactive_port: int
    rrd_root: Path
    cluster: str = CLUSTER
    ips: dict[str, str] = field(default_factory=dict)

    @property
    def xml_url(self) -> str:
        return f"tcp://127.0.0.1:{self.xml_port}"

    @property
    def interactive_url(self) -> str:
        return f"tcp://127.0.0.1:{self.interactive_port}"

    def gmetric(self, host: str, name: str, value: float, *, units: str = " ", group: str = "load") -> None:
        """Report one metric for ``host`` (a host that does not exist: ``--spoof IP:host``)."""
        ip = self.ips.setdefault(host, f"10.0.0.{len(self.ips) + 11}")
        subprocess.run(
            ["gmetric", "-c", str(self.gmond_conf), "--name", name, "--value", repr(float(value)), "--type",
             "float", "--units", units, "--group", group, "--spoof", f"{ip}:{host}", "--tmax", "60"],
            check=True, capture_output=True, timeout=10,
        )

    def report(self, values: Mapping[str, Mapping[str, float]]) -> None:
        for host, metrics in values.items():
            for name, value in metrics.items():
                self.gmetric(host, name, value)

    def xml(self, request: bytes | None = None, port: int | None = None) -> bytes:
        with socket.create_connection(("127.0.0.1", port or self.xml_port), timeout=5) as s:
            if request:
                s.sendall(request)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


@contextmanager
def start_ganglia(tmp: Path, *, poll_seconds: int = 2) -> Iterator[Ganglia]:
    """Start gmond and gmetad on free loopback ports under ``tmp``; stop both at the end."""
    gmond_bin, gmetad_bin = need("gmond"), need("gmetad")
    need("gmetric")
    udp, tcp, xml_port, interactive = free_udp_port(), free_port(), free_port(), free_port()
    gmond_conf = tmp / "gmond.conf"
    gmond_conf.write_text(f"""
globals {{
  daemonize = no
  setuid = no
  debug_level = 0
  max_udp_msg_len = 1472
  mute = no
  deaf = no
  host_dmax = 0
  cleanup_threshold = 300
  send_metadata_interval = 5
}}
cluster {{ name = "{CLUSTER}" }}
udp_send_channel {{ host = 127.0.0.1 port = {udp} }}
udp_recv_channel {{ port = {udp} bind = 127.0.0.1 }}
tcp_accept_channel {{ port = {tcp} bind = 127.0.0.1 }}
""")
    rrd_root = tmp / "rrds"
    rrd_root.mkdir()
    gmetad_conf = tmp / "gmetad.conf"
    gmetad_conf.write_text(
        f'data_source "{CLUSTER}" {poll_seconds} 127.0.0.1:{tcp}\n'
        "setuid off\n"
        f"xml_port {xml_port}\n"
        f"interactive_port {interactive}\n"
        f'rrd_rootdir "{rrd_root}"\n'
        'gridname "test"\n'
        "server_threads 2\n"
    )
    gmond_log, gmetad_log = tmp / "gmond.log", tmp / "gmetad.log"
    with gmond_log.open("wb") as glog:
        gmond = subprocess.Popen([gmond_bin, "-c", str(gmond_conf), "-f"], stdout=glog, stderr=subprocess.STDOUT)
    gmetad: subprocess.Popen[bytes] | None = None
    try:
        _wait_port(tcp, gmond, "gmond", gmond_log)
        with gmetad_log.open("wb") as mlog:
            gmetad = subprocess.Popen([gmetad_bin, "-c", str(gmetad_conf), "-d", "1"], stdout=mlog,
                                      stderr=subprocess.STDOUT)
        _wait_port(xml_port, gmetad, "gmetad", gmetad_log)
        _wait_port(interactive, gmetad, "gmetad (interactive port)", gmetad_log)
        yield Ganglia(gmond_conf, xml_port, interactive, rrd_root)
    finally:
        if gmetad is not None:
            stop_process(gmetad)
        stop_process(gmond)


def rrdtool() -> str:
    return shutil.which("rrdtool") or need("rrdtool")
