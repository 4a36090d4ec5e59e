"""Where a policy forward spends its time: torch.profiler's operator table per (N, batch) case.

    python benchmarks/profile_policy.py [--cases 1024x1 48x1024] [--repeats 10] [--rows 12] [--distinct]

Each case builds an untrained SCALE module for N servers (1 thread, no autograd, like ``benchmarks/speed.py``) and
profiles ``forward_inference`` on random features (every server row distinct: the worst case), or with
``--distinct`` off, on rows drawn from 8 server types (idle clusters have many identical rows, see
``ScaleRLModule.infer_one``). Prints the mean time per forward and the operators sorted by self CPU time.
"""

from __future__ import annotations

import argparse
import time


def profile_case(n: int, batch: int, repeats: int, rows: int, all_distinct: bool) -> None:
    """Profile ``repeats`` forwards of a (batch, N) observation and print the operator table."""
    import numpy as np
    import torch
    from ray.rllib.core.columns import Columns
    from speed import random_observations, untrained_module  # benchmarks/speed.py
    from torch.profiler import profile

    torch.set_num_threads(1)
    module = untrained_module(n)
    rng = np.random.default_rng(0)
    sample = random_observations(module.observation_space, batch, rng)
    if not all_distinct:  # 8 server types: rows repeat
        obs = sample[Columns.OBS]
        obs["servers"] = obs["servers"][:, rng.integers(0, 8, n)]
    with torch.no_grad():
        for _ in range(3):
            module.forward_inference(sample)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            module.forward_inference(sample)
        per_forward = (time.perf_counter() - start) / repeats
        with profile() as prof:
            for _ in range(repeats):
                module.forward_inference(sample)
    kind = "all rows distinct" if all_distinct else "8 server types"
    print(f"\n=== N={n}, batch {batch} ({kind}): {per_forward * 1e3:.3f} ms per forward, "
          f"{batch / per_forward:,.0f} decisions/s ===")  # fmt: skip
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["1024x1", "48x1024"], help="NxBATCH cases")
    parser.add_argument("--repeats", type=int, default=10, help="profiled forwards per case")
    parser.add_argument("--rows", type=int, default=12, help="operators shown per case")
    parser.add_argument("--distinct", action=argparse.BooleanOptionalAction, default=True, help="all rows distinct")
    args = parser.parse_args()
    for case in args.cases:
        try:
            n, batch = (int(x) for x in case.lower().split("x"))
        except ValueError:
            parser.error(f"argument --cases: {case!r} is not NxBATCH (e.g. 48x1024)")
        profile_case(n, batch, args.repeats, args.rows, args.distinct)


if __name__ == "__main__":
    main()
