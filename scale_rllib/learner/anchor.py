"""KL regularisation toward an anchor policy: the network PPO started from (a clone, a distilled or a fine-tuned one).

PPO that starts from a behaviour clone can lose what the clone knew before its value function and advantages are
any good (docs/design.md, "Warm start": PPO after the clone made the DWS policy worse). AlphaStar's reinforcement
learning kept a KL divergence from its supervised policy for this reason (Vinyals et al., "Grandmaster level in
StarCraft II using multi-agent reinforcement learning", Nature 575, 2019), as RLHF keeps one from its supervised
model (Ouyang et al., "Training language models to follow instructions with human feedback", NeurIPS 2022; KL-control:
Jaques et al., "Way Off-Policy Batch Deep Reinforcement Learning of Implicit Human Preferences in Dialog", 2019).
The learner adds β · KL(π_anchor ‖ π) per decision, averaged over the valid rows of the batch.
"""

from __future__ import annotations

import torch


def anchor_kl(logits: torch.Tensor, anchor_logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of KL(π_anchor ‖ π) = Σ_a p_anchor(a) (log p_anchor(a) − log p(a)) (nats).

    Args:
        logits: Shape (B, N). The policy's masked logits (invalid servers at a huge negative value).
        anchor_logits: Shape (B, N). The anchor's logits on the same observations (the same mask).
        mask: Shape (B,). Rows to average over (``Columns.LOSS_MASK``); None: every row.

    Returns:
        A scalar tensor, differentiable in ``logits``; 0 where ``logits`` equal ``anchor_logits`` up to a constant
        per row. Servers the anchor gives probability 0 (masked) contribute 0.

    Raises:
        ValueError: the shapes differ.
    """
    if logits.shape != anchor_logits.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and anchor logits {tuple(anchor_logits.shape)} differ")
    log_p = torch.log_softmax(logits, dim=-1)
    log_q = torch.log_softmax(anchor_logits.detach(), dim=-1)
    q = log_q.exp()
    per_row = torch.where(q > 0, q * (log_q - log_p), torch.zeros_like(q)).sum(dim=-1)  # (B,)
    if mask is None:
        return per_row.mean()
    weights = mask.to(per_row.dtype)
    return (per_row * weights).sum() / weights.sum().clamp(min=1.0)
