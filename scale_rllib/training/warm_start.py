"""Imitation warm start: behaviour-clone a heuristic (EFT/PEFT) into the SCALE module before PPO.

PPO from scratch spends its first iterations learning what EFT already knows (route each task
to the server where it finishes first). Cloning the heuristic — cross-entropy on its choices,
plus a regression of the value head on the heuristic's discounted returns so that the first PPO
advantages are not noise — starts PPO at the heuristic's level. DAgger rounds (Ross, Gordon & Bagnell, AISTATS 2011)
then label the states the student itself reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from scale_rllib import metrics as M
from scale_rllib.env.config import EnvConfig
from scale_rllib.env.scheduling_env import SchedulingEnv
from scale_rllib.learner.srr import srr_penalty
from scale_rllib.models.scale_module import SRR_FEATURE
from scale_rllib.schedulers import Scheduler, make_scheduler
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.schedulers.rollout import interchangeable
from scale_rllib.training.config import CLONE_LR
from scale_rllib.training.selection import RoundSelector


@dataclass
class Demonstrations:
    """Teacher decisions.

    Attributes:
        obs: ``servers`` (S, N_max, F_s), ``task`` (S, F_t), ``action_mask`` (S, N_max), float32.
        actions: (S,) the teacher's server choices.
        returns: (S,) discounted return-to-go of the teacher from each decision.
        optimal: (S, N_max) bool, cost-sensitive labels only: the servers whose fork is the cheapest the teacher
            tried, with the servers interchangeable with them; None = the teacher's action alone.
        stakes: (S,), cost-sensitive labels only: the dearest tried fork's cost minus the cheapest's (what a wrong
            choice among the tried servers can cost), over the mean of its episode's.
    """

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    returns: np.ndarray
    optimal: np.ndarray | None = None
    stakes: np.ndarray | None = None

    def __add__(self, other: Demonstrations) -> Demonstrations:
        """Both sets of decisions (DAgger aggregates its rounds)."""
        obs = {k: np.concatenate([v, other.obs[k]]) for k, v in self.obs.items()}
        costed = self.optimal is not None and other.optimal is not None
        return Demonstrations(
            obs,
            np.concatenate([self.actions, other.actions]),
            np.concatenate([self.returns, other.returns]),
            np.concatenate([self.optimal, other.optimal]) if costed else None,
            np.concatenate([self.stakes, other.stakes]) if costed else None,
        )


def collect_demonstrations(
    env_config: EnvConfig,
    teacher: str | Scheduler,
    episodes: int,
    gamma: float,
    seed: int = 0,
    actor: Scheduler | None = None,
    privileged: bool = False,
    cost_sensitive: bool = False,
) -> Demonstrations:
    """Label every decision of ``episodes`` training episodes (randomized N and mix, as in training; seeds ``seed``,
    ``seed + 1``, …) with ``teacher``'s choice.

    Args:
        teacher: A heuristic's name, or a :class:`~scale_rllib.schedulers.Scheduler` (e.g. a self-rollout).
        actor: A :class:`~scale_rllib.schedulers.Scheduler` whose choices are executed (DAgger: the
            student's current policy, so that the teacher labels the states the student reaches — Ross, Gordon &
            Bagnell 2011); None = the teacher's own. ``returns`` are the executed policy's.
        privileged: The teacher decides on the true simulator (``env.sim``: with estimated runtime knowledge, the
            engine, true execution times included) instead of the scheduler's view; the observations stay the
            view's (imitation of a privileged teacher, :class:`~scale_rllib.training.config.TrainConfig`).
        cost_sensitive: Also record each decision's ``optimal`` servers and ``stakes`` from the teacher's fork costs
            (a rollout teacher: ``eft-rollout``, ``peft-rollout``, ``peft-rollout-2``).

    Raises:
        ValueError: unknown teacher name, or ``cost_sensitive`` with a teacher that does not fork.
    """
    env = SchedulingEnv(env_config)
    scheduler = make_scheduler(teacher) if isinstance(teacher, str) else teacher
    if cost_sensitive and not hasattr(scheduler, "fork_costs"):
        raise ValueError(f"cost-sensitive labels need a rollout teacher; {scheduler.name!r} tries no forks")
    obs_lists: dict[str, list] = {"servers": [], "task": [], "action_mask": []}
    actions, returns, optimal, stakes = [], [], [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        scheduler.reset(seed + i)
        if actor is not None:
            actor.reset(seed + i)
        rewards, episode_stakes, done = [], [], False
        while not done:
            sim = env.sim if privileged else env.view
            if cost_sensitive:
                action, best, stake = costed_label(scheduler, obs, sim)
                optimal.append(best)
                episode_stakes.append(stake)
            else:
                action = scheduler.select(obs, sim)
            for key in obs_lists:
                obs_lists[key].append(obs[key])
            actions.append(action)
            executed = action if actor is None else actor.select(obs, env.view)
            obs, reward, done, _, _ = env.step(executed)
            rewards.append(reward)
        returns.extend(_discounted(np.asarray(rewards), gamma))
        stakes.extend(_relative(np.asarray(episode_stakes)))
    stacked = {k: np.stack(v).astype(np.float32) for k, v in obs_lists.items()}
    demos = Demonstrations(stacked, np.asarray(actions, dtype=np.int64), np.asarray(returns, dtype=np.float32))
    if cost_sensitive:
        demos.optimal, demos.stakes = np.stack(optimal), np.asarray(stakes, dtype=np.float32)
    return demos


def _relative(stakes: np.ndarray) -> np.ndarray:
    """An episode's stakes over their mean (all 0 when none has stakes): a busy episode's forks differ by more
    seconds, and absolute stakes would weigh its decisions above a quiet episode's."""
    mean = float(stakes.mean()) if len(stakes) else 0.0
    return stakes / mean if mean > 0 else np.zeros_like(stakes)


def costed_label(teacher, observation: dict, sim) -> tuple[int, np.ndarray, float]:
    """A rollout teacher's decision with what it knows about the alternatives: :func:`label_from_costs` of its
    ``fork_costs``."""
    return label_from_costs(*teacher.fork_costs(observation, sim), sim, len(observation["action_mask"]))


def label_from_costs(servers: np.ndarray, costs: np.ndarray, sim, n_max: int) -> tuple[int, np.ndarray, float]:
    """The label of a decision whose forks ``servers`` (C,) cost ``costs`` (C,) seconds.

    Returns:
        (the first cheapest server, (n_max,) bool: every server as cheap as the cheapest fork tried — the tried ones
        within 1 µs of the minimum and the servers interchangeable with them, the stakes: the dearest tried fork's
        cost minus the cheapest's, in seconds).
    """
    best = np.zeros(n_max, dtype=bool)
    best[: sim.cluster.num_servers] = interchangeable(sim, servers[np.isclose(costs, costs.min(), rtol=0.0, atol=1e-6)])
    return int(servers[np.argmin(costs)]), best, float(costs.max() - costs.min())


def stake_weights(stakes: np.ndarray) -> np.ndarray:
    """(S,) sample weights, mean 1: (stakes + s̄) / 2 s̄ with s̄ the mean stake — cost-proportionate example weighting
    (Zadrozny, Langford & Abe, ICDM 2003; in imitation, AggreVaTe: Ross & Bagnell 2014, arXiv:1406.5979) with s̄ as a
    floor, so that a decision where every tried fork costs the same still keeps the student on a tried server.
    All ones when every stake is 0.
    """
    mean = float(stakes.mean()) if len(stakes) else 0.0
    return np.ones_like(stakes) if mean <= 0 else ((stakes + mean) / (2 * mean)).astype(np.float32)


def _discounted(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out, running = np.empty_like(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def behaviour_clone(
    module,
    demos: Demonstrations,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    lr: float = CLONE_LR,
    value_coeff: float = 0.5,
    seed: int = 0,
    lambda_dec: float = 0.0,
    lambda_kl: float = 0.0,
) -> dict[str, float]:
    """Train ``module`` (a ScaleRLModule with a value head) in place on ``demos``.

    Loss = cross-entropy(pointer logits, teacher action) + value_coeff · MSE(V(s), discounted return)
    + λ_dec · L_dec(z) + λ_KL · L_KL(z): the SRR terms on the minibatch's attention features, so a
    warm-started run is regularized from its first update, as PPO is by :class:`SRRPPOTorchLearner`.
    With cost-sensitive demonstrations (``demos.optimal`` set) the first term is :func:`imitation_loss`'s weighted
    loss on the optimal servers instead.

    Returns:
        ``accuracy`` (fraction of decisions whose argmax is the teacher's action — or one of the optimal servers —
        last epoch) and the last losses.
    """
    module.train()
    optim = torch.optim.Adam(module.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    obs = {k: torch.from_numpy(v) for k, v in demos.obs.items()}
    actions, returns = torch.from_numpy(demos.actions), torch.from_numpy(demos.returns)
    costed = None
    if demos.optimal is not None:
        costed = torch.from_numpy(demos.optimal), torch.from_numpy(stake_weights(demos.stakes))
    stats = {}
    for _ in range(epochs):
        correct = 0
        for idx in torch.randperm(len(actions), generator=gen).split(batch_size):
            out = module._forward_train({Columns.OBS: {k: v[idx] for k, v in obs.items()}})
            logits = out[Columns.ACTION_DIST_INPUTS]
            labels = None if costed is None else (costed[0][idx], costed[1][idx])
            ce, hits = imitation_loss(logits, actions[idx], labels)
            vf = torch.nn.functional.mse_loss(module.compute_values({}, out[Columns.EMBEDDINGS]), returns[idx])
            penalty, _ = srr_penalty(out[SRR_FEATURE], lambda_dec, lambda_kl)
            loss = ce + value_coeff * vf + penalty
            optim.zero_grad()
            loss.backward()
            optim.step()
            correct += hits
        stats = {"accuracy": correct / len(actions), "cross_entropy": ce.item(), "value_mse": vf.item()}
    return stats


def imitation_loss(logits: torch.Tensor, actions: torch.Tensor, costed=None) -> tuple[torch.Tensor, int]:
    """The cloning term and the decisions the argmax gets right.

    Args:
        logits: (B, N_max) pointer logits (invalid servers masked).
        actions: (B,) the teacher's choices.
        costed: None = cross-entropy on ``actions``. Or (optimal (B, N_max) bool, weights (B,)): −Σ w log Σ_{a optimal}
            π(a) / Σ w, a partial-label loss (any optimal server is right: equally cheap servers are not told apart by
            the teacher's tie rule) weighted by :func:`stake_weights`.
    """
    if costed is None:
        return torch.nn.functional.cross_entropy(logits, actions), int((logits.argmax(-1) == actions).sum())
    optimal, weights = costed
    log_p = torch.log_softmax(logits, -1).masked_fill(~optimal, float("-inf"))
    loss = -(weights * torch.logsumexp(log_p, -1)).sum() / weights.sum()
    return loss, int(optimal.gather(1, logits.argmax(-1, keepdim=True)).sum())


def warm_start_algorithm(algo, cfg) -> dict[str, float]:
    """Clone ``cfg.warm_start`` into the learner's module of a built RLlib Algorithm and push it to the env runners.

    After the first clone, each of ``cfg.warm_start_dagger_rounds`` rounds runs the student greedily on
    ``cfg.warm_start_episodes`` new episodes, has the teacher label the states it reached, and re-trains on every
    label so far (DAgger). The cloning loss carries the run's SRR weights. With ``cfg.warm_start_select_episodes``
    the module keeps the round that does best on validation episodes.

    Args:
        algo: A built PPO Algorithm (one local learner).
        cfg: The run's :class:`~scale_rllib.training.config.TrainConfig`.

    Returns:
        :func:`dagger`'s statistics, keyed ``warm_start/<name>``.
    """

    def clone(learner):
        return dagger(
            learner.module[DEFAULT_MODULE_ID],
            cfg.env,
            cfg.warm_start,
            cfg.warm_start_episodes,
            cfg.gamma,
            cfg.seed,
            cfg.warm_start_epochs,
            cfg.warm_start_dagger_rounds,
            (cfg.lambda_dec, cfg.lambda_kl),
            cfg.warm_start_privileged,
            cfg.warm_start_cost_sensitive,
            cfg.warm_start_select_episodes,
            cfg.warm_start_select_load,
        )

    stats = next(iter(algo.learner_group.foreach_learner(clone))).get()  # RemoteCallResults of one learner
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
    return {f"{M.WARM_START_PREFIX}{k}": v for k, v in stats.items()}


def dagger(
    module,
    env_config: EnvConfig,
    teacher: str,
    episodes: int,
    gamma: float,
    seed: int,
    epochs: int,
    rounds: int,
    srr: tuple[float, float] = (0.0, 0.0),
    privileged: bool = False,
    cost_sensitive: bool = False,
    select_episodes: int = 0,
    select_load: float | None = None,
) -> dict[str, float]:
    """Behaviour cloning, then ``rounds`` DAgger rounds (Ross, Gordon & Bagnell 2011) on ``module`` in place;
    ``srr`` = (λ_dec, λ_KL) of the cloning loss; ``privileged``: the teacher decides on the truth;
    ``cost_sensitive``: labels from the teacher's fork costs (:func:`collect_demonstrations`, :func:`imitation_loss`);
    ``select_episodes`` > 0: score every round's network on that many validation episodes (the seeds after the
    cloning episodes') and end with the best round's weights (:class:`~scale_rllib.training.selection.RoundSelector`);
    0 = the last round's; ``select_load``: the validation episodes' offered load (None: ``env_config.load``).

    Returns:
        :func:`behaviour_clone`'s statistics of the last round, ``samples`` (labelled decisions in all) and, with
        ``select_episodes``, :meth:`RoundSelector.restore`'s.
    """
    first_validation = seed + (rounds + 1) * episodes
    validation = env_config if select_load is None else replace(env_config, load=select_load)
    selector = RoundSelector(validation, range(first_validation, first_validation + select_episodes))
    lambda_dec, lambda_kl = srr
    demos, stats = None, {}
    for r in range(rounds + 1):  # round 0: the teacher acts; then the student, the teacher labelling its states
        actor = None if r == 0 else PolicyScheduler(module, "student")
        more = collect_demonstrations(
            env_config, teacher, episodes, gamma, seed + r * episodes, actor, privileged, cost_sensitive
        )
        demos = more if demos is None else demos + more
        stats = behaviour_clone(module, demos, epochs=epochs, seed=seed + r, lambda_dec=lambda_dec, lambda_kl=lambda_kl)
        if select_episodes:
            selector.offer(module)
    selected = selector.restore(module) if select_episodes else {}
    return stats | {"samples": float(len(demos.actions))} | selected
