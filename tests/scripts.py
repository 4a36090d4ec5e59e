"""Import the benchmark scripts in tests (they are scripts under benchmarks/, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

#: The benchmark scripts' folder.
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as module ``bench_<name>``."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
