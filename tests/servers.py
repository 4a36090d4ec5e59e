"""Real servers for the platform tests, on 127.0.0.1, stopped by whoever started them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            return  # the server answered (e.g. 401 from a token-authenticated dashboard)
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


@contextlib.contextmanager
def mlflow_server(root: Path):
    """A real `mlflow server` (sqlite backend, served artifacts) on 127.0.0.1; yields its URI."""
    port = free_port()
    log = open(root / "mlflow-server.log", "w")  # noqa: SIM115 - closed below
    cmd = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_http(uri + "/health", 120, proc)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def ray_env() -> dict[str, str]:
    """Environment for `ray` CLI calls and clients of a token-authenticated cluster (Ray 2.60's default)."""
    return {**os.environ, "RAY_AUTH_MODE": "token"}


@contextlib.contextmanager
def ray_cluster(tmp: Path):
    """Two Ray nodes on this machine: a head (1 CPU, dashboard for job submission) and a worker with a custom
    resource ``node2`` (1 CPU). Yields ``{"address", "dashboard"}``; stops both at the end.
    """
    port, dash = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    env = ray_env()
    ray = str(BIN / "ray")
    head = [
        ray,
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=1",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        *_own_ports(head=True),
    ]
    worker = [
        ray,
        "start",
        f"--address=127.0.0.1:{port}",
        "--num-cpus=1",
        "--resources=" + json.dumps({"node2": 1}),
        "--disable-usage-stats",
        *_own_ports(head=False),
    ]
    try:
        for cmd in (head, worker):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        _wait_http(f"http://127.0.0.1:{dash}/api/version", 120)
        yield {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dash}"}
    finally:
        _kill_cluster(port, temp_dir)


def _own_ports(head: bool) -> list[str]:
    """Free ports for the ports ``ray start`` otherwise takes at fixed defaults — the dashboard agent's HTTP port
    (52365) and, on the head, the Ray client server (10001) — so that this cluster's two nodes, and any other Ray on
    the machine, never collide (a taken agent port leaves the node without a job agent: "No available agent to submit
    job")."""
    ports = [f"--dashboard-agent-listen-port={free_port()}"]
    return ports + ([f"--ray-client-server-port={free_port()}"] if head else [])


def _kill_cluster(gcs_port: int, temp_dir: str, timeout_s: float = 30) -> None:
    """Stop only this cluster's processes; ``ray stop`` would stop every Ray on the machine.

    They are the processes naming its GCS address (``--gcs-address=IP:PORT``, ``--address=IP:PORT``) or its temp dir
    (the GCS server's log dir) in their command line, plus the agents that retitle themselves (``ray::DashboardAgent``)
    but carry ``RAY_RAYLET_PID`` of one of its raylets in their environment.
    """
    pattern = re.compile(
        rb"(gcs[-_]address|--address)=[^\x00 ]*:%d(?![0-9])|%s/" % (gcs_port, re.escape(temp_dir.encode()))
    )
    targets = set(_pids_where(lambda proc: pattern.search((proc / "cmdline").read_bytes())))
    raylets = {f"RAY_RAYLET_PID={pid}".encode() for pid in targets}
    targets |= set(_pids_where(lambda proc: set((proc / "environ").read_bytes().split(b"\x00")) & raylets))
    targets.discard(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while any(Path(f"/proc/{pid}").exists() for pid in targets) and time.monotonic() < deadline:
            time.sleep(0.5)


def _pids_where(predicate) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and predicate(proc):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids
