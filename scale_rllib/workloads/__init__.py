"""Workloads: the :class:`Workload` base class, generators, file formats, the DWS set, and spec strings.

``make_workload(spec)`` builds any workload from its spec (:data:`WORKLOAD_KINDS`, docs/workloads.md).
"""

from __future__ import annotations

from scale_rllib.workloads.base import ClusterProfile, Workload
from scale_rllib.workloads.spec import WORKLOAD_KINDS, make_workload, validate_spec

__all__ = ["WORKLOAD_KINDS", "ClusterProfile", "Workload", "make_workload", "validate_spec"]
