"""Input-driven baselines (Mao et al., "Variance Reduction for Reinforcement Learning in Input-Driven Environments",
ICLR 2019; used by Decima, SIGCOMM 2019), and the average-reward (differential) return.

In a scheduling episode most of the return's variance comes from the *input* — which workflows arrive when, on which
cluster — not from the agent's actions. A group of K episodes that share one input (the same seed of workflows,
arrivals, N and server mix) and differ only by the policy's sampled actions gives an input-dependent baseline: at
decision t of episode i, taken at simulated time τ_{i,t},

    A_{i,t} = G_{i,t} − (1/K) Σ_j G_j(τ_{i,t}),

where G_{i,t} is episode i's return-to-go from decision t and G_j(τ) is episode j's return-to-go at simulated time τ,
interpolated linearly between its decisions and falling to 0 at its final time (Mao et al., §5: "the baseline is the
average return at the same wall-clock time across the episodes of the group").

The **average-reward** return (Decima, Mao et al. 2019, §5.3) replaces each reward r_t by r_t − ρ̄ · Δτ_t, where
Δτ_t is the simulated time step t spans and ρ̄ the average reward per second over the batch, and does not discount:
episodes are thousands of decisions long, and γ < 1 would weigh their beginning only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def returns_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Shape (L,). G_t = Σ_{u ≥ t} γ^(u − t) r_u."""
    out, running = np.empty(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def differential_rewards(times: Sequence[np.ndarray], rewards: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per episode: r_t − ρ̄ · Δτ_t, with ρ̄ = Σ r / Σ Δτ over all given episodes (reward per simulated second).

    Args:
        times: Per episode, shape (L + 1,): the simulated time of each decision and of the episode's end (seconds).
        rewards: Per episode, shape (L,): the reward of each decision.
    """
    spans = [np.diff(t) for t in times]
    total_time = sum(float(s.sum()) for s in spans)
    rate = sum(float(r.sum()) for r in rewards) / total_time if total_time > 0 else 0.0
    return [r - rate * s for r, s in zip(rewards, spans, strict=True)]


def group_advantages(times: Sequence[np.ndarray], rewards: Sequence[np.ndarray], gamma: float) -> list[np.ndarray]:
    """Input-dependent advantages of K episodes that share one input (the module docstring's formula).

    Args:
        times: Per episode, shape (L_i + 1,): non-decreasing simulated times of its L_i decisions and of its end.
        rewards: Per episode, shape (L_i,): its rewards.
        gamma: Discount of the return-to-go (1: undiscounted).

    Returns:
        Per episode, shape (L_i,): G_{i,t} − the group's mean return-to-go at τ_{i,t}.

    Raises:
        ValueError: fewer than 2 episodes, or lengths that do not match.
    """
    if len(times) < 2 or len(times) != len(rewards):
        raise ValueError(f"a group needs ≥ 2 episodes with times and rewards each, got {len(times)}, {len(rewards)}")
    curves = []  # (times, return-to-go at those times, 0 at the end)
    for t, r in zip(times, rewards, strict=True):
        if len(t) != len(r) + 1:
            raise ValueError(f"times need one entry per decision and one for the end: {len(t)} vs {len(r)} rewards")
        curves.append((t, np.append(returns_to_go(r, gamma), 0.0)))
    out = []
    for t, g in curves:
        decisions = t[:-1]
        baseline = np.mean([np.interp(decisions, tj, gj) for tj, gj in curves], axis=0)
        out.append(g[:-1] - baseline)
    return out
