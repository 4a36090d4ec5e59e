"""Gymnasium env: assign each ready task of an online workflow stream to a server."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from scale_rllib.env.config import EnvConfig
from scale_rllib.env.observation import encode, observation_space, terminal_observation
from scale_rllib.env.shifts import episode_config, may_shift_work
from scale_rllib.metrics import INFO_INPUT_ID as INPUT_ID
from scale_rllib.metrics import INFO_TIME_S as TIME_S
from scale_rllib.sim.cluster import Cluster
from scale_rllib.sim.knowledge import EstimatedRuntimes
from scale_rllib.sim.performance_model import PerformancePrior
from scale_rllib.sim.simulator import Simulator
from scale_rllib.sim.workflow import TaskKind, Workflow
from scale_rllib.workloads.spec import make_workload


class SchedulingEnv(gym.Env):
    """Online workflow scheduling on a heterogeneous cluster of N servers (docs/design.md, "The MDP").

    ## Description
    Workflows (DAGs) arrive by a Poisson process at offered load ρ. Whenever a task becomes
    ready, the agent picks the server that runs it (FIFO queue, non-preemptive). N and the
    server-type mix are drawn per episode within ``servers_range`` (training) or fixed.

    ## Action space
    ``Discrete(max_servers)``; indices ≥ N raise ``ValueError`` (never remapped). ``action_mask`` also excludes
    real servers that cannot run the ready task's kind (``Cluster.serves``: e.g. the tool service of
    ``agentic-serving``'s ``tools=service`` for an LLM call), which the policy never picks.

    ## Observation space
    ``Dict`` padded to ``max_servers`` (see :mod:`scale_rllib.env.observation` for every column):

    | key | shape | meaning |
    |---|---|---|
    | servers | (max_servers, F_s) | per-server features for this task: exec/wait/EFT ratios, speed, slots, busy slots |
    | task | (F_t,) | kind one-hot, log work, remaining critical path, age, children, queue state |
    | action_mask | (max_servers,) | 1 for the real servers that can run the ready task, 0 for the others and padding |

    ## Reward
    ``−(Σ over workflows in system of the time elapsed since the previous decision) / scale``, so
    the undiscounted return is exactly −(total response time) / scale (Decima, Mao et al. 2019).
    ``scale`` = ``reward_scale_s`` or the episode's mean critical path (on the fastest servers).

    ## Starting state
    The first decision: the entry tasks of the first arrival at t = 0 on an idle cluster.

    ## Episode end
    Terminated when every workflow has completed (the last step's reward includes the tail after
    the final decision). Never truncated by the env itself.

    ## Arguments
    ``env_config``: an :class:`EnvConfig` or its dict (RLlib passes its ``EnvContext``, whose ``worker_index`` names
    the env runner for ``shared_inputs``).

    ## Info
    Keys ``INFO_*`` of :mod:`scale_rllib.metrics`: ``servers`` and ``time_s`` (the observation's simulated time); with
    ``shared_inputs`` also ``input_id`` (the group of episodes that share the input); at the end also
    ``mean_response_time_s``, ``mean_lower_bound_s`` and ``total_response_time_s`` — scalars only: gymnasium's
    vector env stacks each info key across its envs, so a per-workflow array would break when two episodes with
    different workflow counts end in the same step (per-workflow values: ``env.sim.response_times_s()``).
    """

    metadata = {"render_modes": []}

    def __init__(self, env_config: EnvConfig | dict[str, Any] | None = None):
        config = env_config if isinstance(env_config, EnvConfig) else EnvConfig.from_dict(dict(env_config or {}))
        self.config = config
        # RLlib's EnvContext names the env runner: its sub-envs share their inputs (EnvConfig.shared_inputs).
        self._worker_index = int(getattr(env_config, "worker_index", 0))
        self._episodes = 0
        self.workload = make_workload(config.workload, config.max_tasks)
        # the kind whose work EnvConfig.work_shift scales (only computed when it does, or may per episode)
        shifts = config.work_shift != 1 or may_shift_work(config.shift_distribution)
        self._shift_kind = work_shift_kind(self.workload.mean_work_by_kind()) if shifts else -1
        self._spec = config.observation_spec  # the observations' optional feature groups, read at every decision
        self.observation_space = observation_space(config.max_servers, self._spec)
        self.action_space = gym.spaces.Discrete(config.max_servers)
        self.sim: Simulator | None = None  # the engine: the true cluster
        self.knowledge: EstimatedRuntimes | None = None  # with runtime_knowledge="estimated"
        self.view: Simulator | None = None  # what schedulers and the observation read at this decision
        self.episode_config = config  # the episode's config, its shift drawn (EnvConfig.shift_distribution)
        self._scale = 1.0
        self._tau = 1.0
        self._last_area = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``options`` may fix ``servers`` (within ``max_servers``), or give ``simulator``: a
        fresh, unstarted :class:`Simulator` (e.g. a replayed DWS stream) to run instead of drawing an episode.

        Raises:
            ValueError: N outside [1, max_servers], or a ``simulator`` that is not a fresh Simulator.
        """
        super().reset(seed=seed)
        cfg = self.config
        lo, hi = cfg.servers_range
        rng, info = self._episode_rng()
        prebuilt = _fresh_simulator((options or {}).get("simulator"))
        default_n = prebuilt.cluster.num_servers if prebuilt is not None else rng.integers(lo, hi + 1)
        n = int((options or {}).get("servers", default_n))
        if not 1 <= n <= cfg.max_servers:
            raise ValueError(f"servers={n} is outside [1, max_servers={cfg.max_servers}]")
        if prebuilt is not None and n != prebuilt.cluster.num_servers:
            raise ValueError(f"servers={n} differs from the given simulator's {prebuilt.cluster.num_servers}")
        workflows = cfg.num_workflows or max(1, round(cfg.workflows_per_server * n))
        self.sim = (
            prebuilt
            if prebuilt is not None
            else self.workload.build_episode(
                rng,
                servers=n,
                load=cfg.load,
                num_workflows=workflows,
                randomize_mix=cfg.randomize_mix,
                bandwidth=cfg.bandwidth,
            )
        )
        self.episode_config = episode_config(cfg, rng)  # this episode's shift, drawn with shift_distribution
        self.sim, self.knowledge = _with_knowledge(self.sim, self.episode_config, rng, self._shift_kind)
        self._last_area = 0.0
        self._next_decision()
        self._tau = max(float(self.view.critical_path_s.mean()), 1e-9)  # the time unit of observations and reward
        self._scale = cfg.reward_scale_s or self._tau
        return self._observation(), info | {"servers": n, TIME_S: self.sim.now_s}

    def _next_decision(self) -> bool:
        """Advance to the next decision and take its view; False when the episode is over."""
        more = self.knowledge.next_decision() if self.knowledge else self.sim.next_decision()
        self.view = (self.knowledge.view() if self.knowledge else self.sim) if more else None
        return more

    def _episode_rng(self) -> tuple[np.random.Generator, dict[str, Any]]:
        """The episode's source of randomness, and the info keys that name its input.

        By default the env's own generator (seeded by ``reset(seed=…)``). With ``shared_inputs``, the k-th episode of
        every env of one env runner draws from ``default_rng([input_seed, worker index, k])``: the envs of a runner
        run groups of episodes with the same workflows, arrivals, N and server mix (``input_id`` names the group),
        which differ only by the policy's actions (input-driven baselines, :mod:`scale_rllib.learner.advantages`).
        """
        if not self.config.shared_inputs:
            return self.np_random, {}
        k, self._episodes = self._episodes, self._episodes + 1
        key = [self.config.input_seed, self._worker_index, k]
        return np.random.default_rng(key), {INPUT_ID: (self._worker_index << 32) + k}

    def step(self, action):
        """Assign the ready task to server ``action``; advance to the next decision.

        Raises:
            ValueError: ``action`` is not a valid server index for this episode.
            RuntimeError: the episode is over (call reset).
        """
        sim = self.sim
        if sim is None or sim.task < 0:
            raise RuntimeError("episode is over or not started: call reset()")
        server = int(action)
        if server != action or not 0 <= server < sim.cluster.num_servers:
            raise ValueError(f"invalid action {action!r}: valid servers are 0..{sim.cluster.num_servers - 1}")
        (self.knowledge or sim).assign(server)
        terminated = not self._next_decision()
        reward = -(sim.area_s - self._last_area) / self._scale
        self._last_area = sim.area_s
        info: dict[str, Any] = {"servers": sim.cluster.num_servers, TIME_S: sim.now_s}
        if terminated:
            rt = sim.response_times_s()
            info.update(
                mean_response_time_s=float(rt.mean()),
                mean_lower_bound_s=float(sim.lower_bound_s.mean()),
                total_response_time_s=float(rt.sum()),
            )
            last = terminal_observation(self.config.max_servers, sim.cluster.num_servers, self._spec)
            return last, reward, True, False, info
        return self._observation(), reward, False, False, info

    def _observation(self) -> dict[str, np.ndarray]:
        return encode(self.view, self.config.max_servers, self._tau, self._spec)


def _with_knowledge(
    profile_sim: Simulator, cfg: EnvConfig, rng: np.random.Generator, shift_kind: int
) -> tuple[Simulator, EstimatedRuntimes | None]:
    """The engine (true speeds: the profile's × exp(ε) with ``profile_error``, × ``new_type_speedup`` on the first
    server type; ``interference`` factors; ``work_shift`` × the work of ``shift_kind`` in the later workflows) and,
    with estimated runtime knowledge, what stands between it and the schedulers. With none of these options,
    ``profile_sim`` itself and None."""
    engine = profile_sim
    if cfg.profile_error > 0 or cfg.interference > 0 or cfg.new_type_speedup != 1 or cfg.work_shift != 1:
        true_cluster, interference = _true_cluster(profile_sim.cluster, cfg, rng)
        workflows = shift_work(profile_sim.workflows, shift_kind, cfg.work_shift, cfg.work_shift_at)
        engine = Simulator(true_cluster, workflows, profile_sim.arrival_s,
                           ready_order=profile_sim.ready_order, interference=interference)  # fmt: skip
    if cfg.runtime_knowledge == "oracle":
        return engine, None
    prior = PerformancePrior(pseudo_count=cfg.model_prior_count, forgetting=cfg.model_forgetting)
    return engine, EstimatedRuntimes(engine, profile_sim.cluster, prior, profile_workflows=profile_sim.workflows)


def _true_cluster(cluster: Cluster, cfg: EnvConfig, rng: np.random.Generator) -> tuple[Cluster, np.ndarray | None]:
    """The true cluster (``profile_error``, ``new_type_speedup``) and the ``interference`` factors (or None)."""
    true_cluster, interference = cluster, None
    names = sorted({t.name for t in cluster.server_types})
    rows = np.ones((len(names), cluster.speed.shape[1]))
    if cfg.profile_error > 0:
        rows = np.exp(rng.normal(0.0, cfg.profile_error, size=rows.shape))
    rows[0] *= cfg.new_type_speedup
    if not np.all(rows == 1):
        rows = rows[[names.index(t.name) for t in cluster.server_types]]  # (N, K)
        true_cluster = cluster.with_speeds(cluster.speed * rows, cluster.decode_speed * rows)
    if cfg.interference > 0:
        interference = 1.0 + rng.uniform(0.0, 2 * cfg.interference, size=cluster.num_servers)
    return true_cluster, interference


def work_shift_kind(mean_work_by_kind: np.ndarray) -> int:
    """The task kind ``EnvConfig.work_shift`` scales: the non-LLM kind with the most expected work per workflow
    (``Workload.mean_work_by_kind``; agentic: CODE, the scientific workloads: COMPUTE), or LLM if no other has work.
    LLM calls are left out because their work is counted in tokens, not comparable with the tools' seconds."""
    tools = np.array(mean_work_by_kind, dtype=np.float64)
    tools[TaskKind.LLM] = -np.inf
    return int(np.argmax(tools)) if tools.max() > 0 else int(TaskKind.LLM)


def shift_work(workflows: Sequence[Workflow], kind: int, factor: float, at: float) -> tuple[Workflow, ...]:
    """The stream with a workload shift: the workflows from index round(``at`` × W) on have ``factor`` × the work and
    decode work of their tasks of ``kind`` (``dataclasses.replace``); the others are the same objects. ``factor`` 1:
    ``workflows`` unchanged."""
    first = round(at * len(workflows)) if factor != 1 else len(workflows)
    return tuple(workflows[:first]) + tuple(_scaled(w, kind, factor) for w in workflows[first:])


def _scaled(workflow: Workflow, kind: int, factor: float) -> Workflow:
    """``workflow`` with ``factor`` × the work and decode work of its tasks of ``kind``."""
    scale = np.where(workflow.kinds == kind, factor, 1.0)
    return dataclasses.replace(workflow, work=workflow.work * scale, decode_work=workflow.decode_work * scale)


def _fresh_simulator(sim: Any) -> Simulator | None:
    """``options["simulator"]`` checked: None, or a Simulator on which nothing has happened yet.

    Raises:
        ValueError: not a Simulator, or one that has already advanced or decided.
    """
    if sim is None:
        return None
    if not isinstance(sim, Simulator) or sim.decisions or sim.task >= 0 or sim.now_s or sim.done:
        raise ValueError("options['simulator'] must be a fresh, unstarted Simulator (build a new one per episode)")
    return sim
