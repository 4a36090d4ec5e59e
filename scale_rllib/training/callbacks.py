"""RLlib callbacks run inside the env runners."""

from __future__ import annotations

from ray.rllib.callbacks.callbacks import RLlibCallback

from scale_rllib import metrics as M


class EpisodeMetricsCallback(RLlibCallback):
    """Logs each finished episode's mean response time, its ratio to the lower bound, and N."""

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        info = episode.get_infos(-1)
        if metrics_logger is None or "mean_response_time_s" not in info:
            return  # truncated by RLlib, not finished: nothing to report
        rt, lb = info["mean_response_time_s"], info["mean_lower_bound_s"]
        metrics_logger.log_value(M.EPISODE_RESPONSE_TIME, rt, reduce="mean", window=20)
        metrics_logger.log_value(M.EPISODE_RESPONSE_TIME_RATIO, rt / lb, reduce="mean", window=20)
        metrics_logger.log_value(M.EPISODE_NUM_SERVERS, info["servers"], reduce="mean", window=20)
