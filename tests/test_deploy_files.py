"""cluster.yaml validates against Ray's autoscaler schema; docker/ stays consistent with pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_cluster_yaml_validates_against_ray_autoscaler_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    validate_config(prepare_config(config))  # as `ray up` does: defaults merged, then the schema check
    assert any("pip install -e ~/scale_rllib" in cmd for cmd in config["setup_commands"])
    assert config["file_mounts"]["~/scale_rllib"] == "."


def test_cluster_yaml_schema_check_catches_errors():
    import pytest
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    config["idle_timeout_minutes"] = "soon"  # the schema wants a number
    with pytest.raises(Exception, match="soon"):
        validate_config(prepare_config(config))


def test_dockerfile_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    ray_pin = next(d for d in project["dependencies"] if d.startswith("ray["))
    ray_version = re.search(r"==\s*([0-9.]+)", ray_pin).group(1).rstrip(".*")
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    base = re.search(r"^FROM rayproject/ray:([0-9.]+)-py3(\d+)", dockerfile, re.M)
    assert base is not None and base.group(1).startswith(ray_version)
    assert project["requires-python"].startswith(">=3.") and int(base.group(2)) >= 10
    assert "pip install --no-cache-dir ." in dockerfile
    for copied in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", dockerfile, re.M):
        for path in copied.split():
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"
    ignored = (REPO / "docker" / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "runs" in ignored
    assert (REPO / ".dockerignore").resolve() == (REPO / "docker" / ".dockerignore").resolve()
