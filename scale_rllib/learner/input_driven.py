"""The learner connector piece that replaces PPO's GAE advantages by input-driven ones
(:mod:`scale_rllib.learner.advantages`) for the episodes of each complete group in the train batch.

Episodes carry their group in their infos: every observation's info has ``input_id`` (episodes of one group share it)
and ``time_s`` (the simulated time of the decision; the last observation's is the episode's end). Value targets stay
GAE's (the critic keeps learning the state value); advantages of episodes without a complete group in the batch stay
GAE's too. All advantages are then standardised, as RLlib's GAE piece does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from ray.rllib.connectors.common.numpy_to_tensor import NumpyToTensor
from ray.rllib.connectors.learner.general_advantage_estimation import GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets
from ray.rllib.utils.postprocessing.zero_padding import unpad_data_if_necessary

from scale_rllib.learner.advantages import differential_rewards, group_advantages
from scale_rllib.metrics import INFO_INPUT_ID as INPUT_ID
from scale_rllib.metrics import INFO_TIME_S as TIME_S


def episode_groups(episodes: list) -> dict[Any, list[int]]:
    """Indices of ``episodes`` per ``input_id`` (episodes without one are left out)."""
    groups: dict[Any, list[int]] = defaultdict(list)
    for index, episode in enumerate(episodes):
        info = episode.get_infos(0)
        if INPUT_ID in info:
            groups[info[INPUT_ID]].append(index)
    return groups


class InputDrivenAdvantageEstimation(GeneralAdvantageEstimation):
    """GAE's value targets, input-driven advantages (average-reward returns if ``average_reward``).

    Args:
        gamma: Discount of the returns-to-go (ignored with ``average_reward``: undiscounted).
        lambda_: GAE λ of the value targets (and of the fallback advantages).
        average_reward: Use differential rewards r_t − ρ̄ Δτ_t, undiscounted.
        group_size: K, the episodes of one input; a group with fewer complete episodes in the batch falls back to GAE.
    """

    def __init__(self, input_observation_space=None, input_action_space=None, *, gamma, lambda_, average_reward=False,
                 group_size=2):  # fmt: skip
        super().__init__(input_observation_space, input_action_space, gamma=gamma, lambda_=lambda_)
        self.average_reward = average_reward
        self.group_size = group_size
        #: (episodes with input-driven advantages, episodes) in the last batch.
        self.last_grouped: tuple[int, int] = (0, 0)

    def __call__(self, *, rl_module, episodes, batch, **kwargs):
        """Compute value targets and advantages for the default module's episodes, then convert the batch to tensors
        (as RLlib's GAE piece does)."""
        sa_episodes = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        device = None
        for module_id, module_batch in batch.items():
            module = rl_module[module_id]
            values_t = module.compute_values(module_batch)
            device = values_t.device
            lens = [len(e) for e in sa_episodes if e.module_id in (None, module_id)]
            values = unpad_data_if_necessary(lens, convert_to_numpy(values_t))
            columns = {c: unpad_data_if_necessary(lens, convert_to_numpy(module_batch[c])) for c in
                       (Columns.REWARDS, Columns.TERMINATEDS, Columns.TRUNCATEDS)}  # fmt: skip
            targets = compute_value_targets(
                values=values,
                rewards=columns[Columns.REWARDS],
                terminateds=columns[Columns.TERMINATEDS],
                truncateds=columns[Columns.TRUNCATEDS],
                gamma=self.gamma,
                lambda_=self.lambda_,
            )
            advantages = targets - values
            self._replace_grouped(sa_episodes, lens, columns[Columns.REWARDS], advantages)
            advantages = (advantages - advantages.mean()) / max(1e-4, advantages.std())
            module_batch[Postprocessing.ADVANTAGES] = advantages
            module_batch[Postprocessing.VALUE_TARGETS] = targets
        self._to_tensors(rl_module, batch, device, episodes)
        return batch

    def _replace_grouped(self, episodes: list, lens: list[int], rewards: np.ndarray, advantages: np.ndarray) -> None:
        """Overwrite, in place, the advantages of the real time steps of every complete group's episodes."""
        starts = np.concatenate([[0], np.cumsum(lens)])
        grouped = 0
        for members in episode_groups(episodes).values():
            done = [i for i in members if episodes[i].is_terminated]
            if len(done) < max(2, self.group_size):
                continue
            real = [lens[i] - 1 for i in done]  # the learner added one artificial time step to each episode
            times = [np.array([episodes[i].get_infos(t)[TIME_S] for t in range(n + 1)]) for i, n in zip(done, real)]
            rews = [rewards[starts[i] : starts[i] + n] for i, n in zip(done, real)]
            gamma = self.gamma
            if self.average_reward:
                rews, gamma = differential_rewards(times, rews), 1.0
            for i, n, adv in zip(done, real, group_advantages(times, rews, gamma), strict=True):
                advantages[starts[i] : starts[i] + n] = adv
            grouped += len(done)
        self.last_grouped = (grouped, len(episodes))

    def _to_tensors(self, rl_module, batch, device, episodes) -> None:
        """The tensor conversion RLlib's GAE piece ends with (the learner expects tensors after this piece)."""
        if self._numpy_to_tensor_connector is None:
            self._numpy_to_tensor_connector = NumpyToTensor(as_learner_connector=True, device=device)
        tensor_results = self._numpy_to_tensor_connector(
            rl_module=rl_module,
            batch={mid: {k: v for k, v in b.items() if k in (Postprocessing.ADVANTAGES, Postprocessing.VALUE_TARGETS)}
                   for mid, b in batch.items()},
            episodes=episodes,
        )  # fmt: skip
        for mid, converted in tensor_results.items():
            batch[mid].update(converted)
