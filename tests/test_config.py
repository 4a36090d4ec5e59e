"""Invalid configuration is rejected with a clear message before any Ray work starts."""

from __future__ import annotations

import pytest

from scale_rllib import ConfigError, EnvConfig, TrainConfig
from scale_rllib.cli import main


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lambda_dec": -0.1}, "lambda_dec"),
        ({"lambda_kl": float("nan")}, "lambda_kl"),
        ({"minibatch_size": 8000, "train_batch_size": 4000}, "minibatch_size"),
        ({"embed_dim": 30, "num_heads": 4}, "embed_dim"),
        ({"rollout_known_arrivals": -1}, "rollout_known_arrivals: must be ≥ 0, got -1"),
    ],
)
def test_train_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"servers_range": (24, 8)}, "inverted range"),
        ({"servers_range": (8, 64), "max_servers": 32}, "exceed max_servers"),
        ({"load": 0.0}, "load"),
        ({"workload": "nope"}, "unknown workload"),
        ({"workload": "dax:/does/not/exist"}, "does not exist"),
        ({"workload": "wfinstances:"}, "needs a path"),
    ],
)
def test_env_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EnvConfig(**kwargs)


def test_env_config_round_trips_and_rejects_unknown_keys():
    cfg = EnvConfig(servers_range=(8, 24))
    assert cfg.max_servers == 24
    assert EnvConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown field"):
        EnvConfig.from_dict({"servers": 3})
    train = TrainConfig(env=cfg, lambda_dec=0.5)
    assert TrainConfig.from_dict(train.to_dict()) == train


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--lambda-dec", "-1"], "lambda_dec"),
        (
            ["train", "--teacher", "self-rollout", "--policy-iterations", "1", "--policy-iteration-lr", "0"],
            "policy_iteration_lr",
        ),
        (["train", "--servers-range", "24", "8"], "inverted range"),
        (["train", "--servers", "64", "--max-servers", "32"], "exceed max_servers"),
        (["train", "--workload", "dax:/nowhere"], "does not exist"),
        (["train", "--resume"], "no scale_rllib checkpoint"),
        (["evaluate", "--checkpoint", "/no/such/ckpt"], "not a scale_rllib checkpoint"),
        (["evaluate", "--servers", "0"], "servers"),
        (["evaluate", "--target-ci", "0.01"], "--target-ci: only with --checkpoint"),
        (["evaluate", "--episodes", "8", "--max-episodes", "4"], "max_episodes: must be ≥ episodes (8)"),
    ],
)
def test_cli_rejects_before_ray_starts(argv, message, tmp_path, capsys):
    import ray

    assert main([*argv, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "error:" in err
    assert not ray.is_initialized()
    assert not (tmp_path / "out" / "mlflow.db").exists()  # nothing was started or written


@pytest.mark.parametrize("command", ["train", "evaluate", "tune"])
def test_an_output_under_a_file_is_refused_while_parsing(command, tmp_path, capsys):
    blocker = tmp_path / "results.csv"
    blocker.write_text("saved earlier\n")
    with pytest.raises(SystemExit) as exit_:
        main([command, "--output", str(blocker / "run")])
    assert exit_.value.code == 2
    assert f"argument --output: {blocker} is a file, not a directory" in capsys.readouterr().err
    assert blocker.read_text() == "saved earlier\n"  # nothing already saved is lost


@pytest.mark.parametrize("command", ["train", "evaluate", "tune"])
@pytest.mark.parametrize(
    ("uri", "reason"),
    [("bogus://x", "unsupported URI 'bogus://x'"), ("mlruns", "filesystem tracking backend"), ("sqlite:///", "<path")],
)
def test_a_tracking_uri_mlflow_cannot_use_is_refused_while_parsing(command, uri, reason, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--output", str(tmp_path / "out"), "--mlflow-uri", uri])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --mlflow-uri: {uri!r}" in err and reason in err
    assert not any(tmp_path.iterdir())  # no store, no output directory


def test_a_usable_tracking_uri_passes_without_creating_its_store(tmp_path):
    from scale_rllib.tracking import check_tracking_uri

    for uri in (f"sqlite:///{tmp_path}/new/mlflow.db", "http://127.0.0.1:9"):  # port 9: nobody answers; not probed
        assert check_tracking_uri(uri) == uri
    assert not any(tmp_path.iterdir())


def test_train_flags_reach_the_train_config():
    from scale_rllib.cli import build_parser
    from scale_rllib.cli.train import config_from_args as train_config_from_args

    argv = ["train", "--output", "x", "--entropy-coeff", "0", "--vf-loss-coeff", "0.2", "--warm-start", "eft-rollout"]
    argv += ["--warm-start-episodes", "3", "--warm-start-epochs", "7", "--warm-start-dagger-rounds", "2"]
    argv += ["--embed-dim", "16", "--num-heads", "2", "--rollout-known-arrivals", "16"]
    cfg = train_config_from_args(build_parser().parse_args(argv))
    assert cfg.rollout_known_arrivals == 16
    assert (cfg.entropy_coeff, cfg.vf_loss_coeff, cfg.warm_start) == (0.0, 0.2, "eft-rollout")
    assert (cfg.warm_start_episodes, cfg.warm_start_epochs, cfg.warm_start_dagger_rounds) == (3, 7, 2)
    assert (cfg.embed_dim, cfg.num_heads) == (16, 2)
