"""SCALE policy: pure-torch layers (``layers``) and the RLlib module (``scale_module``).

Nothing is imported here, so ``scale_rllib.models.layers`` stays importable without Ray.
"""
