"""Errors raised by the workload file loaders.

Every loader error is a :class:`~scale_rllib.sim.workflow.WorkflowError` (hence a ``ValueError``), so callers can
catch one type for "this input does not describe a valid workflow", whether the problem was found while parsing the
file (:class:`WorkloadFileError`) or while validating the DAG (:meth:`Workflow.from_edges`).
"""

from __future__ import annotations

from scale_rllib.sim.workflow import WorkflowError

__all__ = ["WorkflowError", "WorkloadFileError"]


class WorkloadFileError(WorkflowError):
    """A workload file cannot be read as a workflow.

    Raised for undecodable input (bad gzip, bad JSON, malformed XML), a missing or mistyped key or attribute, an
    unsupported format version, or an invalid value (e.g. a negative runtime). The message always names the file and,
    where one is involved, the task (WfFormat ``id``, DAX job ``id``) and the JSON path or XML element.
    """
