"""The network as a rollout's base policy: one step of policy improvement on the current network (approximate policy
iteration; Bertsekas, *Reinforcement Learning and Optimal Control*, 2019, ch. 2.4 and 5; the "expert iteration" of
Anthony, Tian & Barber, NeurIPS 2017).

:class:`SelfRolloutScheduler` tries the network's ``candidates`` most likely servers for the ready task, each in a
fork of the simulator whose in-system workflows the network then finishes greedily (future arrivals are unknown and
dropped, as in :mod:`scale_rllib.schedulers.rollout`), and picks the candidate with the smallest total completion
time. With ``known_arrivals`` k > 0 the teacher is clairvoyant over a window: the next k workflows of the episode
arrive in the forks too and their completion times count, so a choice that delays the queue behind it is charged for
it (a privileged teacher for training only, as in "Learning by Cheating", Chen et al., CoRL 2019). The candidates'
forks advance in lockstep, one batched forward pass per step (:func:`rollout_costs`). Its choices are labels for the
next network (:mod:`scale_rllib.training.policy_iteration`); rollouts are for training only — evaluation runs the
network alone.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from scale_rllib.env.observation import ObservationSpec, encode
from scale_rllib.models.scale_module import ScaleRLModule
from scale_rllib.schedulers.base import Scheduler
from scale_rllib.sim.simulator import Simulator


class NetworkPolicy(Scheduler):
    """Greedy network decisions on bare simulators: it encodes the observations itself (padded to N, the episode's
    time unit τ = its mean critical path, as the env does), so it can finish rollouts in simulator forks — several
    forks in one batched forward pass.

    Args:
        module: A :class:`ScaleRLModule`.
    """

    name = "network"

    def __init__(self, module: ScaleRLModule) -> None:
        self.module = module.eval()
        self.observation_spec = ObservationSpec.of(module.observation_space)

    def observe(self, sim: Simulator) -> dict[str, np.ndarray]:
        """The env's observation of ``sim``'s pending decision, padded to its own N (with the backlog task features
        if the module reads them)."""
        tau_s = max(float(sim.critical_path_s.mean()), 1e-9)
        return encode(sim, sim.cluster.num_servers, tau_s, self.observation_spec)

    @torch.no_grad()
    def logits(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> np.ndarray:
        """Shape (N,). The masked pointer logits for ``sim.task`` (encoding the observation if not given)."""
        observation = self.observe(sim) if observation is None else self.observation_spec.read(observation)
        logits, _ = self.module.infer_one({k: torch.from_numpy(v)[None] for k, v in observation.items()})
        return logits[0, : sim.cluster.num_servers].numpy()

    @torch.no_grad()
    def choose_batch(self, sims: list[Simulator]) -> np.ndarray:
        """Shape (B,). The greedy server of each simulator's pending decision, in one batched forward pass (the
        simulators share N: forks of one episode)."""
        observations = [self.observe(sim) for sim in sims]
        batch = {k: torch.from_numpy(np.stack([o[k] for o in observations])) for k in observations[0]}
        logits = self.module.forward_inference({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS]
        return logits.argmax(-1).numpy()

    def select(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> int:
        """argmax of the logits."""
        return int(np.argmax(self.logits(observation, sim)))


def rollout_costs(sim: Simulator, servers: list[int], network: NetworkPolicy, known_arrivals: int = 0) -> list[float]:
    """Σ completion time (seconds) of the in-system workflows and the next ``known_arrivals`` ones after giving the
    current task to each of ``servers``, every later task of theirs going to the network's greedy choice, other
    future arrivals dropped; the forks advance in lockstep so that each step is one batched forward pass. ``sim`` is
    not changed."""
    workflows = np.concatenate([sim.in_system_workflows(), sim.next_arrivals(known_arrivals)])
    forks = []
    for server in servers:
        fork = sim.fork(future_arrivals=False, known_arrivals=known_arrivals)
        fork.assign(server)
        forks.append(fork)
    active = [f for f in forks if f.next_decision()]
    while active:
        for fork, server in zip(active, network.choose_batch(active), strict=True):
            fork.assign(int(server))
        active = [f for f in active if f.next_decision()]
    return [float(f.completion_s[workflows].sum()) for f in forks]


class SelfRolloutScheduler(Scheduler):
    """Rollout of the network itself (see the module docstring).

    Args:
        module: The current network (its greedy policy is the base policy).
        candidates: The network's most likely servers simulated per decision, ≥ 1 (1: the network's own choice).
        known_arrivals: Future workflows the forks see, ≥ 0 (0: none, the default; see the module docstring); the
            scheduler is then named ``self-rollout+K``.

    Raises:
        ValueError: ``candidates`` < 1 or ``known_arrivals`` < 0.
    """

    name = "self-rollout"

    def __init__(self, module: ScaleRLModule, candidates: int = 4, known_arrivals: int = 0) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be ≥ 1, got {candidates}")
        if known_arrivals < 0:
            raise ValueError(f"known_arrivals must be ≥ 0, got {known_arrivals}")
        self.base = NetworkPolicy(module)
        self.observation_spec = self.base.observation_spec  # it ranks its candidates on the env's observation
        self.candidates = candidates
        self.known_arrivals = known_arrivals
        if known_arrivals:
            self.name = f"{self.name}+{known_arrivals}"

    def candidate_servers(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> list[int]:
        """Up to ``candidates`` servers of the episode, most likely first (padding and masked servers never)."""
        logits = self.base.logits(observation, sim)
        order = np.argsort(-logits, kind="stable")[: self.candidates]
        return [int(s) for s in order if np.isfinite(logits[s]) and logits[s] > np.finfo(np.float32).min]

    def select(self, observation: dict[str, np.ndarray] | None, sim: Simulator) -> int:
        """The candidate whose rollout gives the smallest total completion time of the in-system workflows and the
        ``known_arrivals`` next ones (ties: the more likely one)."""
        servers = self.candidate_servers(observation, sim)
        if len(servers) == 1:
            return servers[0]
        costs = rollout_costs(sim, servers, self.base, self.known_arrivals)
        return servers[int(np.argmin(costs))]
