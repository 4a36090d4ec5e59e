"""Real servers for the platform tests, on 127.0.0.1, stopped by whoever started them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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
    resource ``node2`` (1 CPU). Yields ``{"address", "dashboard", "nodes"}`` (the two ``ray start`` PIDs); stops both
    at the end.

    Each node is a ``ray start --block`` child in a session of its own, so its processes are descendants of a process
    this fixture started and are stopped through that tree (``ray stop`` would stop every Ray on the machine).
    """
    port, dash = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    ray = [str(BIN / "ray"), "start", "--block", "--num-cpus=1", "--disable-usage-stats"]
    head = [
        *ray,
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--temp-dir={temp_dir}",
        *_own_ports(head=True),
    ]
    worker = [*ray, f"--address=127.0.0.1:{port}", "--resources=" + json.dumps({"node2": 1}), *_own_ports(head=False)]
    nodes: list[subprocess.Popen] = []
    try:
        for name, cmd in (("head", head), ("worker", worker)):
            nodes.append(_start_node(cmd, tmp / f"ray-{name}.log"))
        _wait_http(f"http://127.0.0.1:{dash}/api/version", 120)
        yield {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dash}", "nodes": [p.pid for p in nodes]}
    finally:
        _stop_nodes(nodes)
        shutil.rmtree(temp_dir, ignore_errors=True)  # the head's session files and sockets


def _start_node(cmd: list[str], log_path: Path, timeout_s: float = 120) -> subprocess.Popen:
    """Run ``ray start --block`` in a new session; return once it prints "Ray runtime started."."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=ray_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while "Ray runtime started." not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop_nodes([proc])
            raise RuntimeError(f"{' '.join(cmd)} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    return proc


def _stop_nodes(nodes: list[subprocess.Popen], timeout_s: float = 30) -> None:
    """SIGTERM each ``ray start --block`` (it stops the processes it started), then SIGKILL whatever of their
    descendants, taken before, is still alive in one of their sessions (raylets' workers, agents)."""
    sessions = {proc.pid for proc in nodes}
    tree = {pid for proc in nodes for pid in descendants(proc.pid)}
    for proc in nodes:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in nodes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    while (alive := [pid for pid in tree if session_of(pid) in sessions]) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for proc in nodes:
        proc.wait(timeout=timeout_s)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from the kernel's per-thread ``children`` lists (proc(5))."""
    found = [pid]
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                    found += descendants(int(child))
    return found


def session_of(pid: int) -> int | None:
    """The session id of ``pid`` (proc(5), /proc/PID/stat field 6), None if it has exited."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def _own_ports(head: bool) -> list[str]:
    """Free ports for the ports ``ray start`` otherwise takes at fixed defaults — the dashboard agent's HTTP port
    (52365) and, on the head, the Ray client server (10001) — so that this cluster's two nodes, and any other Ray on
    the machine, never collide (a taken agent port leaves the node without a job agent: "No available agent to submit
    job")."""
    ports = [f"--dashboard-agent-listen-port={free_port()}"]
    return ports + ([f"--ray-client-server-port={free_port()}"] if head else [])
