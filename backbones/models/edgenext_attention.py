"""EdgeNeXt's cross-covariance attention (XCA, the SDTA encoder's): attention
between channels rather than positions, and the layer-scaled linear layer it
and the pointwise MLP end with."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .tracing import sizes


def scaled_linear(x: torch.Tensor, linear: nn.Linear,
                  scale: torch.Tensor) -> torch.Tensor:
    """``scale * linear(x)`` with the per-channel layer scale applied to
    whichever is smaller, the weight or the output (the same numbers up to
    rounding; at 224 the stage-1 outputs are 16x their weights, the
    stage-4 weights 25x their outputs).  ``scale`` is None once deploy mode
    has folded it into the layer."""
    if scale is None:
        return linear(x)
    if x[..., 0].numel() * linear.out_features > linear.weight.numel():
        return F.linear(x, scale[:, None] * linear.weight,
                        scale * linear.bias)
    return scale * linear(x)


class CrossCovarianceAttention(nn.Module):
    """XCA: attention between channels (a ``d x d`` map per head) with
    L2-normalised queries and keys and a learned per-head temperature.
    ``scale`` (the block's layer scale) multiplies the output channels.

    Shape: ``(N, L, C) -> (N, L, C)``.
    """

    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'EdgeNeXt attention: {num_heads} heads do not '
                             f'divide {channels} channels.')
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.in_4d = False

    def fold_for_deploy(self) -> None:
        """Deploy mode: the same attention through tensors of at most 4
        dims, which every runtime (ncnn too) has."""
        self.in_4d = True

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape
        qkv = self.qkv(x)
        if self.in_4d:
            # one (N, heads, head_dim, L) tensor at a time (ncnn has 4 dims)
            (n, length), c = sizes(x)[:2], int(x.shape[2])  # models.tracing
            q, k, v = (t.reshape(n, length, self.num_heads,
                                 c // self.num_heads).permute(0, 2, 3, 1)
                       for t in qkv.split(c, dim=-1))
        else:
            # (3, N, heads, head_dim, L): channels attend over all positions.
            q, k, v = qkv.reshape(n, length, 3, self.num_heads,
                                  c // self.num_heads).permute(2, 0, 3, 4, 1)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        out = (attn @ v).permute(0, 3, 1, 2).reshape(n, length, c)
        return scaled_linear(out, self.proj, scale)
