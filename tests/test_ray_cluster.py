"""A real 2-node Ray cluster (two `ray start` on 127.0.0.1): env runners on both nodes, `ray job submit`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from tests.servers import BIN, descendants, ray_cluster, ray_env, session_of


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ray_cluster(tmp_path_factory.mktemp("cluster")) as info:
        yield info


def test_env_runners_are_placed_on_both_nodes(cluster):
    script = textwrap.dedent(f"""
        import json, ray
        from scale_rllib import EnvConfig, TrainConfig
        from scale_rllib.training import build_ppo_config, init_ray
        init_ray({cluster["address"]!r})
        cfg = TrainConfig(env=EnvConfig(servers_range=(6, 10), num_workflows=6), iterations=1, num_env_runners=2,
                          envs_per_runner=1, train_batch_size=256, minibatch_size=128, num_epochs=1,
                          embed_dim=16, num_heads=2)
        algo = build_ppo_config(cfg).build_algo()
        runner_nodes = algo.env_runner_group.foreach_env_runner(
            lambda r: ray.get_runtime_context().get_node_id(), local_env_runner=False)
        steps = int(algo.train()["env_runners"]["num_env_steps_sampled"])
        node2 = [n["NodeID"] for n in ray.nodes() if n["Alive"] and "node2" in n["Resources"]]
        print(json.dumps({{"runners": runner_nodes, "node2": node2, "steps": steps,
                          "nodes": [n["NodeID"] for n in ray.nodes() if n["Alive"]]}}))
        algo.stop()
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=ray_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["nodes"]) == 2
    assert sorted(out["runners"]) == sorted(out["nodes"])  # one env runner on each node
    assert out["node2"][0] in out["runners"]  # including the node with the custom resource
    assert out["steps"] >= 256


def test_policy_iteration_labels_on_both_nodes(cluster):
    script = textwrap.dedent(f"""
        import json, ray
        import gymnasium as gym
        from scale_rllib import EnvConfig
        from scale_rllib.env.observation import observation_space
        from scale_rllib.models.scale_module import ScaleRLModule
        from scale_rllib.training import init_ray
        from scale_rllib.training.policy_iteration import LabelJob, label_in_parallel
        init_ray({cluster["address"]!r})
        env = EnvConfig(servers_range=(3, 4), num_workflows=3)
        module = ScaleRLModule(observation_space=observation_space(4), action_space=gym.spaces.Discrete(4),
                               model_config={{"embed_dim": 16, "num_heads": 2}})
        weights = {{k: v.numpy() for k, v in module.state_dict().items()}}
        jobs = [LabelJob(weights, dict(module.model_config), env.to_dict(), s, 1, 0.99, 2) for s in (0, 1)]
        results = label_in_parallel(jobs)
        print(json.dumps({{"labelled": [len(d.actions) for d, _ in results],
                          "task_nodes": [info["node_id"] for _, info in results],
                          "nodes": [n["NodeID"] for n in ray.nodes() if n["Alive"]]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=ray_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(n > 0 for n in out["labelled"])
    assert sorted(out["task_nodes"]) == sorted(out["nodes"])  # one labelling task on each of the two nodes


def test_ray_job_submit_runs_a_training_job(cluster, tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "job"
    flags = "--servers 8 --iterations 1 --num-env-runners 1 --envs-per-runner 1 --train-batch-size 256"
    flags += " --minibatch-size 128 --workflows-per-server 1"
    store = f"sqlite:///{out / 'mlflow.db'}"  # explicit: the job's environment is the cluster's, not this process's
    entry = [str(BIN / "scale-rllib"), "train", "--address", "auto", *flags.split(), "--output", str(out)]
    entry += ["--mlflow-uri", store]
    cmd = [str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--", *entry]
    deadline = time.monotonic() + 360
    while True:  # on a loaded 2-core machine the head's job agent can take a while to register
        proc = subprocess.run(cmd, env=ray_env(), capture_output=True, text=True, timeout=600)
        not_ready = "No available agent to submit job" in proc.stderr or "Failed to connect to Ray" in proc.stderr
        if not not_ready or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "succeeded" in proc.stdout.lower() and f"checkpoint: {out.resolve()}" in proc.stdout
    runs = MlflowClient(store).search_runs(["0", "1"])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["train/env/servers_range"] == "(8, 8)"


def test_cluster_stops_every_process_it_started_and_nothing_else(tmp_path):
    """The fixture stops its nodes through their process trees: a job's workers included, a bystander untouched."""
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        with ray_cluster(tmp_path) as info:
            task = "ray.remote(lambda: 1).options(resources={'node2': 1}).remote()"
            job = f"import ray; ray.init(); print(ray.get({task}))"
            env = {**ray_env(), "RAY_ADDRESS": info["address"]}
            assert subprocess.run([sys.executable, "-c", job], env=env, timeout=120).returncode == 0
            tree = {pid for node in info["nodes"] for pid in descendants(node)}
            assert len(tree) >= 8, tree  # per node: ray start, raylet, agents, log monitor; head: GCS, dashboard
        assert [pid for pid in tree if session_of(pid) in info["nodes"]] == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
