"""Keys of the env's ``info`` dicts (scalars only: gymnasium's vector env stacks each key across its envs)."""

from __future__ import annotations

#: Every info: N of the episode.
SERVERS = "servers"
#: Every info: the simulated time (seconds) of the observation; at the end, the time the last workflow completed.
TIME_S = "time_s"
#: With ``EnvConfig.shared_inputs``: the group of episodes that share one input (input-driven baselines).
INPUT_ID = "input_id"
#: The final info: mean response time and mean lower bound over the episode's workflows (seconds).
MEAN_RESPONSE_TIME_S = "mean_response_time_s"
MEAN_LOWER_BOUND_S = "mean_lower_bound_s"
