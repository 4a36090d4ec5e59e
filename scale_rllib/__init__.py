"""scale_rllib: SCALE, a cross-attention pointer-network scheduler for workflow DAGs, trained with Ray RLlib.

The public API, for notebooks and scripts (docs/README.md)::

    import scale_rllib as sr

    cfg = sr.TrainConfig(env=sr.EnvConfig(servers_range=(12, 20)), iterations=10)
    result = sr.train(cfg, "runs/notebook")
    out = sr.evaluate(sr.EvalConfig(servers=(16, 48)), [sr.PolicyScheduler.from_checkpoint(result.checkpoint)])
    print(sr.summarize(out.results))

Attributes are loaded on first use (``lazy_loader``, Scientific Python SPEC 1), so ``import scale_rllib.sim`` stays
free of torch, Ray and MLflow.
"""

from __future__ import annotations

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "validation": ["ConfigError"],
        "env": ["ENV_ID", "EnvConfig", "SchedulingEnv"],
        "env.registration": ["register"],
        "training": ["TrainConfig", "TrainResult", "train"],
        "evaluation": ["DwsEvalConfig", "EvalConfig", "EvalOutput", "evaluate", "summarize"],
        "tuning": ["SweepConfig", "run_sweep"],
        "study": ["StudyConfig", "run_study"],
        "schedulers": ["SCHEDULERS", "DEFAULT_HEURISTICS", "Scheduler", "make_scheduler", "run_episode"],
        "schedulers.policy": ["PolicyScheduler"],
        "models.scale_module": ["load_policy"],
        "workloads": ["make_workload"],
    },
)
