"""The network as a rollout's base policy: one step of policy improvement on the current network (approximate policy
iteration; Bertsekas, *Reinforcement Learning and Optimal Control*, 2019, ch. 2.4 and 5; the "expert iteration" of
Anthony, Tian & Barber, NeurIPS 2017).

:class:`SelfRolloutScheduler` tries the network's ``candidates`` most likely servers for the ready task, each in a
fork of the simulator whose in-system workflows the network then finishes greedily (future arrivals are unknown and
dropped, as in :mod:`scale_rllib.schedulers.rollout`), and picks the candidate with the smallest total completion
time. Its choices are labels for the next network (:mod:`scale_rllib.training.policy_iteration`); rollouts are for
training only — evaluation runs the network alone.
"""

from __future__ import annotations

import numpy as np
import torch

from scale_rllib.env.observation import encode
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.base import Scheduler
from scale_rllib.schedulers.rollout import rollout_cost
from scale_rllib.sim.simulator import Simulator


class NetworkPolicy(Scheduler):
    """Greedy network decisions on a bare simulator: it encodes the observation itself (padded to N, the episode's
    time unit τ = its mean critical path, as the env does), so it can finish a rollout in a simulator fork.

    Args:
        module: A :class:`ScaleRLModule`.
    """

    name = "network"

    def __init__(self, module: ScaleRLModule) -> None:
        self.module = module.eval()

    @torch.no_grad()
    def logits(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> np.ndarray:
        """Shape (N,). The masked pointer logits for ``sim.task`` (encoding the observation if not given)."""
        if observation is None:
            observation = encode(sim, sim.cluster.num_servers, max(float(sim.critical_path_s.mean()), 1e-9))
        logits, _ = self.module.infer_one({k: torch.from_numpy(v)[None] for k, v in observation.items()})
        return logits[0, : sim.cluster.num_servers].numpy()

    def select(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> int:
        """argmax of the logits."""
        return int(np.argmax(self.logits(observation, sim)))


class SelfRolloutScheduler(Scheduler):
    """Rollout of the network itself (see the module docstring).

    Args:
        module: The current network (its greedy policy is the base policy).
        candidates: The network's most likely servers simulated per decision, ≥ 1 (1: the network's own choice).

    Raises:
        ValueError: ``candidates`` < 1.
    """

    name = "self-rollout"

    def __init__(self, module: ScaleRLModule, candidates: int = 4) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be ≥ 1, got {candidates}")
        self.base = NetworkPolicy(module)
        self.candidates = candidates

    def candidate_servers(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> list[int]:
        """Up to ``candidates`` servers of the episode, most likely first (padding and masked servers never)."""
        logits = self.base.logits(observation, sim)
        order = np.argsort(-logits, kind="stable")[: self.candidates]
        return [int(s) for s in order if np.isfinite(logits[s]) and logits[s] > np.finfo(np.float32).min]

    def select(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> int:
        """The candidate whose rollout gives the smallest total completion time of the in-system workflows (ties:
        the more likely one)."""
        servers = self.candidate_servers(observation, sim)
        if len(servers) == 1:
            return servers[0]
        in_system = np.flatnonzero(np.isnan(sim.completion_s) & (sim.arrival_s <= sim.now_s))
        costs = [rollout_cost(sim, s, in_system, self.base) for s in servers]
        return servers[int(np.argmin(costs))]
