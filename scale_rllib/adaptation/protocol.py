"""The adaptation protocol: pretrain, adapt to each held-out shift step by step, evaluate after every step.

Every training run goes through the project's training entry point (:func:`scale_rllib.training.train`): pretraining
as a normal run, fine-tuning with ``TrainConfig.init_checkpoint``, and each further adaptation step by resuming the
same run to a larger iteration count (the optimizer state, PPO's KL coefficient and the anchor carry over, and new
episodes are sampled, as in one uninterrupted run: :func:`scale_rllib.training.ppo.sampling_seed`). Every
(method, seed, shift, step) is evaluated right after its step on the same seeded episodes, and its rows are cached in
its run directory (``eval_step<K>.csv``), so an interrupted study restarts where it stopped.

Layout under ``runs_dir``: ``pretrain/<method>/seed<S>/`` and ``<shift>/<method>/seed<S>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import ray

from scale_rllib.adaptation.plan import METHODS, PRETRAINED, AdaptationPlan
from scale_rllib.evaluation import EvalConfig, evaluate
from scale_rllib.schedulers.policy import PolicyScheduler
from scale_rllib.training import CHECKPOINT_DIR, TrainConfig, train
from scale_rllib.training.checkpoints import find_checkpoint, read_metadata

#: The columns of the protocol's rows (:mod:`scale_rllib.adaptation.tables`).
ROW_COLUMNS = ["shift", "method", "seed", "step", "episode", "mean_response_time_s", "lower_bound_s"]


def eval_config(plan: AdaptationPlan, shift: str, knowledge: str, schedulers: tuple[str, ...] = ()) -> EvalConfig:
    """The evaluation episodes of ``shift`` at N = ``plan.eval_servers`` (seeds 10000, …), every method the same."""
    return EvalConfig(servers=(plan.eval_servers,), episodes=plan.episodes, schedulers=schedulers,
                      runtime_knowledge=knowledge, shift_distribution=shift)  # fmt: skip


def _rows(results: list[dict], shift: str, method: str, seed: int, step: int) -> pd.DataFrame:
    frame = pd.DataFrame(results).rename(columns={"seed": "episode"})
    return frame.assign(shift=shift, method=method, seed=seed, step=step)[ROW_COLUMNS]


#: The heuristics beside the policies: (method, scheduler, runtime knowledge). ``eft-contention`` and
#: ``eft-colocation``: the hand-made heuristics that hedge against interference on the estimates, with an assumed and
#: an inferred charge (:mod:`scale_rllib.schedulers.uncertain`, ``results/adaptation_headroom``).
HEURISTIC_METHODS = (("eft-estimated", "eft", "estimated"), ("eft-contention", "eft-contention", "estimated"),
                     ("eft-colocation", "eft-colocation", "estimated"), ("eft-oracle", "eft", "oracle"))  # fmt: skip


def heuristic_rows(plan: AdaptationPlan, shift: str) -> pd.DataFrame:
    """Every heuristic of :data:`HEURISTIC_METHODS` on ``shift``'s evaluation episodes."""
    frames = [_rows(evaluate(eval_config(plan, shift, knowledge, (name,))).results, shift, method, -1, -1)
              for method, name, knowledge in HEURISTIC_METHODS]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def policy_rows(plan: AdaptationPlan, shift: str, checkpoint: Path, method: str, seed: int, step: int) -> pd.DataFrame:
    """The policy of ``checkpoint`` on ``shift``'s evaluation episodes (estimated runtime knowledge)."""
    policy = PolicyScheduler.from_checkpoint(checkpoint, name=method)
    return _rows(evaluate(eval_config(plan, shift, "estimated"), [policy]).results, shift, method, seed, step)


def train_to(cfg: TrainConfig, out: Path, mlflow_uri: str | None) -> Path:
    """``out``'s checkpoint after ``cfg.iterations`` iterations: reused if there, else trained (resumed if ``out``
    holds an earlier iteration of the run).

    Raises:
        RuntimeError: ``out`` holds a later iteration than ``cfg.iterations`` (its earlier steps cannot be
            recovered; remove ``out`` to retrain).
    """
    found = find_checkpoint(out / CHECKPOINT_DIR)
    done = read_metadata(found)["iteration"] if found is not None else 0
    if done > cfg.iterations:
        raise RuntimeError(f"{out} is at iteration {done} > {cfg.iterations}: remove it to retrain")
    if found is None or done < cfg.iterations:
        train(cfg, out, mlflow_uri=mlflow_uri, resume=found is not None, progress=False)
    return find_checkpoint(out / CHECKPOINT_DIR)


def _cached(path: Path, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    if path.is_file():
        return pd.read_csv(path)
    rows = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    return rows


def adapt(plan: AdaptationPlan, method: str, shift: str, seed: int, pretrained: Path | None, runs_dir: Path,
          mlflow_uri: str | None, log: Callable[[str], None] = print) -> pd.DataFrame:  # fmt: skip
    """Every step of ``plan.steps`` for one (method, shift, seed): train to it, evaluate; rows of all steps.

    Step 0 is the pretrained network as it is (no row for ``scratch``, which has no network before training)."""
    out = runs_dir / shift / method / f"seed{seed}"
    frames = []
    for step in plan.steps:
        if step == 0 and pretrained is None:
            continue
        log(f"{shift} {method} seed {seed}: {step} adaptation iteration(s)")

        def rows(step: int = step) -> pd.DataFrame:
            if step == 0:
                checkpoint = pretrained
            else:
                checkpoint = train_to(plan.adapt_config(method, shift, seed, step, pretrained), out, mlflow_uri)
            return policy_rows(plan, shift, checkpoint, method, seed, step)

        frames.append(_cached(out / f"eval_step{step}.csv", rows))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_COLUMNS)


def run_protocol(plan: AdaptationPlan, runs_dir: Path, mlflow_uri: str | None = None,
                 log: Callable[[str], None] = print) -> pd.DataFrame:  # fmt: skip
    """Pretrain ``meta`` and ``no-meta`` per seed, adapt every method to every shift, evaluate everything.

    Returns:
        One row per evaluation episode (:data:`ROW_COLUMNS`), heuristics included (seed and step −1).
    """
    frames = [_cached(runs_dir / shift / "heuristics.csv", lambda s=shift: heuristic_rows(plan, s))
              for shift in plan.shifts]  # fmt: skip
    try:
        for seed in plan.seeds:
            pretrained: dict[str, Path | None] = {"scratch": None}
            for method in PRETRAINED:
                log(f"pretrain {method} seed {seed}: {plan.pretrain_iterations} iteration(s)")
                out = runs_dir / "pretrain" / method / f"seed{seed}"
                pretrained[method] = train_to(plan.pretrain_config(method, seed), out, mlflow_uri)
            frames += [adapt(plan, m, shift, seed, pretrained[m], runs_dir, mlflow_uri, log)
                       for shift in plan.shifts for m in METHODS]  # fmt: skip
    finally:
        if ray.is_initialized():
            ray.shutdown()
    return pd.concat(frames, ignore_index=True)
