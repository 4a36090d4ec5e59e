"""Heuristic schedulers and the shared scheduler interface."""
