"""Pure-torch building blocks of the SCALE cross-attention pointer policy (docs/design.md, "The SCALE model").

Nothing here imports Ray: these layers can be unit-tested, benchmarked and exported on their own.

Named dimensions used in the shapes below:
    B: batch size.  N: number of (padded) servers.  F_s: features per server.  F_t: features of the ready task.
    d: embedding width (``embed_dim``).

No parameter shape depends on N, so weights trained with one ``N_max`` apply unchanged to any other ``N_max``.
Padded servers (``valid`` False) never influence valid outputs: they are masked as attention keys, in pooling and in
the pointer logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Two-layer perceptron ``Linear → ReLU → Linear``.

    Args:
        in_dim: Input width.
        hidden_dim: Hidden width.
        out_dim: Output width.

    Returns:
        The module, mapping (..., in_dim) to (..., out_dim).
    """
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))


def key_padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """Builds the ``key_padding_mask`` of :class:`torch.nn.MultiheadAttention` (True = ignore this key).

    A row without any valid server would make the attention softmax run over an empty set (NaN). Such rows attend to
    every position instead: their outputs are finite garbage and are masked everywhere downstream.

    Args:
        valid: (B, N) bool, True for real, selectable servers.

    Returns:
        (B, N) bool, True where the key must be ignored.
    """
    return ~valid & valid.any(dim=-1, keepdim=True)


def attention_mask(valid: torch.Tensor) -> torch.Tensor | None:
    """Builds the boolean ``attn_mask`` of ``scaled_dot_product_attention`` (True = attend), the negation of
    :func:`key_padding_mask`, shaped (B, 1, 1, N) to broadcast over heads and queries.

    Args:
        valid: (B, N) bool, True for real, selectable servers.

    Returns:
        (B, 1, 1, N) bool, or ``None`` when every key is valid (no mask needed: the fastest kernel, same result).
    """
    if bool(valid.all()):
        return None
    return (valid | ~valid.any(dim=-1, keepdim=True))[:, None, None, :]


def multihead_attention(
    attn: nn.MultiheadAttention, query: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Computes ``attn(query, kv, kv, key_padding_mask=…, need_weights=False)[0]`` with the parameters of ``attn``
    but through one fused ``scaled_dot_product_attention`` call.

    ``nn.MultiheadAttention`` turns a key padding mask into a (B·heads, L, N) float mask (training) or runs an unfused
    masked softmax (inference fast path); both are O(N²) in memory traffic and dominate the latency at large N. Same
    parameters (state_dict keys unchanged), same formula: ``softmax(QKᵀ/√d_h) V`` per head, then the output
    projection.

    Args:
        attn: A batch-first ``nn.MultiheadAttention`` with packed in-projection and biases (the default one).
        query: (B, L, d) queries.
        kv: (B, N, d) keys and values (the same tensor).
        mask: From :func:`attention_mask`: (B, 1, 1, N) bool (True = attend) or ``None`` (attend to all); or a
            float (B, 1, 1, N) bias added to the attention scores (e.g. log multiplicities, see
            :meth:`~scale_rllib.models.scale_module.ScaleRLModule.infer_one`).

    Returns:
        (B, L, d) attended values.
    """
    batch, length, d = query.shape
    heads = attn.num_heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    if query is kv:
        q, k, v = F.linear(kv, weight, bias).view(batch, -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
    else:
        q = F.linear(query, weight[:d], bias[:d]).view(batch, length, heads, d // heads).transpose(1, 2)
        k, v = F.linear(kv, weight[d:], bias[d:]).view(batch, -1, 2, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
    dropout = attn.dropout if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    return attn.out_proj(out.transpose(1, 2).reshape(batch, length, d))


def single_query_attention(
    attn: nn.MultiheadAttention, query: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Computes ``attn(query[:, None], kv, kv, key_padding_mask=…, need_weights=False)[0][:, 0]`` for one query per
    sample, with the key and value projections absorbed into the query and the pooled tokens.

    Per head j with query projection q_j = W_q^j q + b_q^j: the score of token h_i is
    ``q_j·(W_k^j h_i + b_k^j)/√d_h = (W_k^jᵀ q_j/√d_h)·h_i + q_j·b_k^j/√d_h``, whose last term is the same for every i
    and cancels in the softmax; and ``Σ_i a_i (W_v^j h_i + b_v^j) = W_v^j (Σ_i a_i h_i) + b_v^j Σ_i a_i``. So nothing is
    projected per token: O(N·d·heads) work instead of O(N·d²) for the keys and values (the same formula as
    :func:`multihead_attention`, up to float rounding; the "absorbed" attention of DeepSeek-V2's MLA, Liu et al. 2024).

    Args:
        attn: A batch-first ``nn.MultiheadAttention`` with packed in-projection and biases (the default one).
        query: (B, d) one query per sample.
        kv: (B, N, d) keys and values (the same tensor).
        mask: As for :func:`multihead_attention`: (B, 1, 1, N) bool (True = attend), float score bias, or ``None``.

    Returns:
        (B, d) attended values.
    """
    batch, _, d = kv.shape
    heads = attn.num_heads
    head_dim = d // heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    # einsum contracts per head as one (B·…) matmul; a broadcast torch.matmul would copy the weights B times.
    q = F.linear(query, weight[:d], bias[:d]).view(batch, heads, head_dim)
    absorbed = torch.einsum("bhe,hed->bhd", q, weight[d : 2 * d].view(heads, head_dim, d)) * head_dim**-0.5
    scores = torch.bmm(absorbed, kv.transpose(1, 2))  # (B, heads, N)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, 0], float("-inf")) if mask.dtype == torch.bool else scores + mask[:, 0]
    weights = F.dropout(torch.softmax(scores, dim=-1), attn.dropout, attn.training)
    pooled = torch.bmm(weights, kv)  # (B, heads, d)
    w_v, b_v = weight[2 * d :].view(heads, head_dim, d), bias[2 * d :].view(heads, head_dim)
    values = torch.einsum("bhd,hed->bhe", pooled, w_v) + weights.sum(-1, keepdim=True) * b_v
    return attn.out_proj(values.reshape(batch, d))


def masked_mean_max(h: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean- and max-pools server tokens over the valid servers only.

    Args:
        h: (B, N, d) server tokens.
        valid: (B, N) bool, True for real servers.

    Returns:
        ``(mean, max)``, each (B, d). Rows without any valid server pool to zeros.
    """
    weight = valid.to(h.dtype)
    mean = torch.bmm(weight.unsqueeze(1), h).squeeze(1) / weight.sum(dim=1, keepdim=True).clamp_min(1.0)
    mx = h.masked_fill(~valid.unsqueeze(-1), torch.finfo(h.dtype).min).amax(dim=1)
    mx = mx.masked_fill(~valid.any(dim=1, keepdim=True), 0.0)
    return mean, mx


class ServerSelfAttention(nn.Module):
    """One post-LN Transformer encoder block among servers (Vaswani et al. 2017, "Attention Is All You Need", §3.1).

    ``H ← LN(H + MHA(H, H, H))``, then ``H ← LN(H + FFN(H))``, with padded servers masked as keys. No positional
    encoding, so the block is permutation-equivariant in N.
    """

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        """Initialises the block.

        Args:
            embed_dim: Token width d (divisible by ``num_heads``).
            num_heads: Number of attention heads.
        """
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.norm_attn = nn.LayerNorm(embed_dim)
        self.ffn = mlp(embed_dim, 2 * embed_dim, embed_dim)
        self.norm_ffn = nn.LayerNorm(embed_dim)

    def forward(self, h: torch.Tensor, valid: torch.Tensor, key_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Mixes information among the valid servers.

        Args:
            h: (B, N, d) server tokens.
            valid: (B, N) bool, True for real servers.
            key_bias: Optional (B, 1, 1, N) float bias on the attention scores, used instead of the ``valid`` mask.

        Returns:
            (B, N, d) updated server tokens.
        """
        mask = attention_mask(valid) if key_bias is None else key_bias
        h = self.norm_attn(h + multihead_attention(self.attn, h, h, mask))
        return self.norm_ffn(h + self.ffn(h))


class ServerEncoder(nn.Module):
    """Per-server MLP, optionally followed by one masked self-attention block (docs/design.md, "The SCALE model")."""

    def __init__(self, server_dim: int, embed_dim: int, num_heads: int, self_attention: bool = True) -> None:
        """Initialises the encoder.

        Args:
            server_dim: Features per server F_s.
            embed_dim: Token width d.
            num_heads: Heads of the self-attention block.
            self_attention: Whether to add the :class:`ServerSelfAttention` block.
        """
        super().__init__()
        self.mlp = mlp(server_dim, embed_dim, embed_dim)
        self.self_attention = ServerSelfAttention(embed_dim, num_heads) if self_attention else None

    def forward(self, servers: torch.Tensor, valid: torch.Tensor, key_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Encodes servers into tokens.

        Args:
            servers: (B, N, F_s) server features.
            valid: (B, N) bool, True for real servers.
            key_bias: Optional (B, 1, 1, N) float bias on the self-attention scores (instead of the ``valid`` mask).

        Returns:
            (B, N, d) server tokens H.
        """
        h = self.mlp(servers)
        if self.self_attention is not None:
            h = self.self_attention(h, valid, key_bias)
        return h


class CrossAttention(nn.Module):
    """Masked multi-head attention from the task query to the server tokens (Vaswani et al. 2017, §3.2.2).

    ``z = MHA(q, H, H)``: the task "reads" the cluster. z is the attention feature that SRR regularises
    (docs/design.md, "SRR").
    """

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        """Initialises the attention.

        Args:
            embed_dim: Token width d (divisible by ``num_heads``).
            num_heads: Number of attention heads.
        """
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)

    def forward(
        self, q: torch.Tensor, h: torch.Tensor, valid: torch.Tensor, key_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attends from the query to the valid servers.

        Args:
            q: (B, d) task query.
            h: (B, N, d) server tokens.
            valid: (B, N) bool, True for real servers.
            key_bias: Optional (B, 1, 1, N) float bias on the attention scores (instead of the ``valid`` mask).

        Returns:
            (B, d) attention feature z.
        """
        mask = attention_mask(valid) if key_bias is None else key_bias
        if q.shape[0] == 1:  # batch 1: the fused kernel beats the absorbed form's extra small ops (≈ 0.08 ms)
            return multihead_attention(self.attn, q.unsqueeze(1), h, mask).squeeze(1)
        return single_query_attention(self.attn, q, h, mask)  # batches: 6-9 % faster inference, 12 % training


class PointerHead(nn.Module):
    """Additive pointer over servers with tanh clipping and masking.

    ``u_i = vᵀ tanh(W_1 h_i + W_2 [q; z])`` (Bahdanau et al. 2015 additive attention, used as a pointer by Vinyals et
    al. 2015, "Pointer Networks", eq. 3), then ``logits_i = C · tanh(u_i)`` (Bello et al. 2017; Kool et al. 2019,
    "Attention, Learn to Solve Routing Problems!", §3.2, C = 10), and ``logits_i = finfo.min`` where server i is
    invalid (finite, so entropies and KLs of the categorical stay NaN-free, unlike -inf).
    """

    def __init__(self, embed_dim: int, logit_clip: float | None = 10.0) -> None:
        """Initialises the head.

        Args:
            embed_dim: Token width d.
            logit_clip: Clipping constant C; ``None`` disables clipping.

        Raises:
            ValueError: If ``logit_clip`` is not positive.
        """
        super().__init__()
        if logit_clip is not None and logit_clip <= 0:
            raise ValueError(f"logit_clip must be positive or None, got {logit_clip}.")
        self.logit_clip = logit_clip
        self.w_server = nn.Linear(embed_dim, embed_dim, bias=False)
        self.w_context = nn.Linear(2 * embed_dim, embed_dim)
        self.v = nn.Linear(embed_dim, 1, bias=False)

    def forward(self, h: torch.Tensor, q: torch.Tensor, z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Scores every server.

        Args:
            h: (B, N, d) server tokens.
            q: (B, d) task query.
            z: (B, d) attention feature.
            valid: (B, N) bool, True for selectable servers.

        Returns:
            (B, N) masked logits.
        """
        context = self.w_context(torch.cat([q, z], dim=-1)).unsqueeze(1)
        logits = self.v(torch.tanh(self.w_server(h) + context)).squeeze(-1)
        if self.logit_clip is not None:
            logits = self.logit_clip * torch.tanh(logits)
        return logits.masked_fill(~valid, torch.finfo(logits.dtype).min)


def value_features(q: torch.Tensor, z: torch.Tensor, h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Builds the value-head input ``[q; z; mean(H); max(H)]`` (docs/design.md, "The SCALE model"), pooled over
    valid servers.

    Args:
        q: (B, d) task query.
        z: (B, d) attention feature.
        h: (B, N, d) server tokens.
        valid: (B, N) bool, True for real servers.

    Returns:
        (B, 4d) value features.
    """
    mean, mx = masked_mean_max(h, valid)
    return torch.cat([q, z, mean, mx], dim=-1)


class ValueHead(nn.Module):
    """MLP critic on the output of :func:`value_features`."""

    def __init__(self, embed_dim: int) -> None:
        """Initialises the head.

        Args:
            embed_dim: Token width d; the input width is 4d.
        """
        super().__init__()
        self.mlp = mlp(4 * embed_dim, embed_dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Estimates state values.

        Args:
            features: (B, 4d) value features.

        Returns:
            (B,) values.
        """
        return self.mlp(features).squeeze(-1)
