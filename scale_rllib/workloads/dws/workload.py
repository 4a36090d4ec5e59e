"""``dws:DIR``: DWS-like training and evaluation episodes (random k×n pools, rates around the peer's).

The workflows are the DAX set "S" read from DIR (work = runtime × 16); the cluster profile is the six vCPU types
(speed = vCPU, one slot); each episode builds its own cluster through :meth:`DwsWorkload.build_episode`, which overrides
:meth:`Workload.build_episode`:

- **pool**: N servers (the env's randomized cluster size) over the first k vCPU types, type-major. Training
  (``randomize_mix``): k uniform in [3, min(6, N)], N split as evenly as possible (N // k each, the remainder to
  random distinct types), so N = 24 gives 6×4, 4×6 or 3×8. Evaluation: the largest k ≤ 6 that divides N with
  k ≥ 3 (24 → 6×4, 25 → 5×5, 16 → 4×4), else k = min(6, N) with the remainder on the first types.
- **rate**: ρ × the pool's sustainable rate (:meth:`Cluster.service_rate`), as for every workload, times a jitter
  log-uniform in [0.5, 2] when training. The peer's reference streams are ρ ≈ 0.075 (6×4 at 5.4/h) and ρ ≈ 0.157
  (5×5 at 9/h); ``--load 0.11`` covers both (ρ ∈ [0.055, 0.22] with the jitter).
- **arrivals**: Poisson (constant rate), workflow types uniform; decisions in the testbed's event order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import Workflow
from scale_rllib.workloads.base import ClusterProfile, Workload, mean_work_by_kind, poisson_arrivals
from scale_rllib.workloads.dws.streams import DWS_SET_S, DWS_VCPUS, dws_cluster, load_dws_workflow, vm_type

#: The six DWS VM types, equal default proportions.
DWS_PROFILE = ClusterProfile(tuple(vm_type(v) for v in DWS_VCPUS), (1.0 / len(DWS_VCPUS),) * len(DWS_VCPUS))
#: Fewest VM types in a training pool.
MIN_TYPES = 3
#: Training rate jitter: ρ is multiplied by a factor log-uniform in [1/RATE_JITTER, RATE_JITTER].
RATE_JITTER = 2.0


def even_counts(num_types: int, servers: int, extra: np.ndarray | None = None) -> list[int]:
    """N servers over the first ``num_types`` types: N // k each, +1 for the types listed in ``extra``.

    Args:
        num_types: k ∈ [1, 6].
        servers: N ≥ k.
        extra: Which N mod k types get one more (default: the first ones).
    """
    counts = [servers // num_types] * num_types
    extra = np.arange(servers % num_types) if extra is None else extra
    for i in extra:
        counts[int(i)] += 1
    return counts


def fixed_pool_counts(servers: int) -> list[int]:
    """Evaluation pool of N servers: k×(N/k) for the largest k ≤ 6 dividing N with k ≥ 3, else an even split."""
    divisors = [k for k in range(len(DWS_VCPUS), MIN_TYPES - 1, -1) if servers % k == 0]
    k = divisors[0] if divisors else min(len(DWS_VCPUS), servers)
    return even_counts(k, servers)


def random_pool_counts(servers: int, rng: np.random.Generator) -> list[int]:
    """Training pool of N servers: k uniform in [min(3, N), min(6, N)], even split, remainder to random types."""
    hi = min(len(DWS_VCPUS), servers)
    k = int(rng.integers(min(MIN_TYPES, hi), hi + 1))
    extra = rng.choice(k, size=servers % k, replace=False)
    return even_counts(k, servers, extra)


@dataclass
class DwsWorkload(Workload):
    """The DWS workflow set on DWS VM pools (spec ``dws:DIR``).

    Args:
        name: Spec string.
        workflows: The pool of workflow types (set "S"), drawn uniformly with replacement.
    """

    name: str
    workflows: list[Workflow]
    profile: ClusterProfile = field(default=DWS_PROFILE)

    @classmethod
    def from_dir(cls, dax_dir: str | Path, name: str | None = None) -> DwsWorkload:
        """Load set "S" from ``dax_dir``. Raises FileNotFoundError naming a missing DAX file."""
        return cls(name or f"dws:{dax_dir}", [load_dws_workflow(dax_dir, f) for f in DWS_SET_S])

    def sample(self, rng: np.random.Generator, count: int) -> list[Workflow]:
        """``count`` workflows, types uniform with replacement."""
        return [self.workflows[i] for i in rng.integers(len(self.workflows), size=count)]

    def mean_work_by_kind(self) -> np.ndarray:
        """Shape (K,). Mean work per workflow of each kind (work units)."""
        return mean_work_by_kind(self.workflows)

    def build_episode(
        self,
        rng: np.random.Generator,
        *,
        servers: int,
        load: float,
        num_workflows: int,
        randomize_mix: bool,
        bandwidth: float | None = None,
    ) -> Simulator:
        """One DWS-like episode: a pool of N VMs, W workflows, Poisson arrivals at ρ (jittered when training).

        Args:
            rng: The episode's only source of randomness.
            servers: N ≥ 1.
            load: Offered load ρ (before the training jitter).
            num_workflows: W.
            randomize_mix: Training (random pool and rate jitter) or evaluation (fixed pool, exact ρ).
            bandwidth: Bytes/s between servers (None: no transfer time, as in the peer).
        """
        counts = random_pool_counts(servers, rng) if randomize_mix else fixed_pool_counts(servers)
        cluster = dws_cluster(counts, bandwidth)
        jitter = math.exp(rng.uniform(-math.log(RATE_JITTER), math.log(RATE_JITTER))) if randomize_mix else 1.0
        rate = load * jitter * cluster.service_rate(self.mean_work_by_kind())
        workflows = self.sample(rng, num_workflows)
        return Simulator(cluster, workflows, poisson_arrivals(rng, num_workflows, rate), ready_order="event")
