"""benchmarks/rllib_speed.py's process-tree walk: finds exactly the tree it measures."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from tests.scripts import load_benchmark


def test_descendants_are_the_tree_below_the_root_and_nothing_else():
    speed = load_benchmark("rllib_speed")
    shell = subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while (programs := _programs(tree := speed._descendants(shell.pid))) != [b"sleep"] * 2:
            assert time.monotonic() < deadline, programs  # the shell forks its two children, which exec sleep
            time.sleep(0.05)
        assert tree[0] == shell.pid and len(tree) == 3
        mine = speed._descendants(os.getpid())
        assert set(tree) <= set(mine) and os.getppid() not in mine  # ours; never our parent
    finally:  # only the processes this test started
        for pid in speed._descendants(shell.pid)[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shell.kill()
        shell.wait()


def _programs(tree: list[int]) -> list[bytes]:
    """The program name of each process below the root of ``tree`` (b"" for one that has already exited)."""
    names = []
    for pid in tree[1:]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                names.append(f.read().split(b"\0")[0])
        except FileNotFoundError:
            names.append(b"")
    return names
