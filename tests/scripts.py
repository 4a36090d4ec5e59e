"""Import the benchmark scripts in tests (they are scripts under benchmarks/, not a package); hand-made evaluate folders
for the scripts that read them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd

#: The benchmark scripts' folder.
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str, monkeypatch=None) -> ModuleType:
    """``benchmarks/<name>.py`` imported as module ``bench_<name>``; with pytest's ``monkeypatch``, benchmarks/ is first
    on ``sys.path`` for the test, as when the script runs (scripts import their siblings, e.g. ``gap.py``)."""
    if monkeypatch is not None:
        monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluation_folder(folder: Path, scale_rt: dict, scale_over_lb: float, lower_bound: float = 10.0) -> Path:
    """An ``evaluate --output`` folder at N = 16, ρ = 0.85: EFT 12 s on every episode (EFT / LB 1.2), the network
    (``scale``) ``scale_rt[seed]`` seconds on episode ``seed``, its summary ratio to the bound ``scale_over_lb``."""
    rows = [("eft", 16, 0.85, seed, 12.0, lower_bound) for seed in scale_rt]
    rows += [("scale", 16, 0.85, seed, rt, lower_bound) for seed, rt in scale_rt.items()]
    folder.mkdir(parents=True)
    columns = ["scheduler", "servers", "load", "seed", "mean_response_time_s", "lower_bound_s"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "results.csv", index=False)
    summary = [{"servers": 16, "scheduler": s, "ratio_to_lower_bound": r, "best_heuristic": "eft",
                "paired_ratio_to_best": 1.0, "paired_ratio_ci95": 0.0, "episodes": len(scale_rt)}
               for s, r in (("eft", 1.2), ("scale", scale_over_lb))]  # fmt: skip
    pd.DataFrame(summary).to_csv(folder / "summary.csv", index=False)
    return folder
