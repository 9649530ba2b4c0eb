"""EdgeNeXt's cross-covariance attention (XCA, the SDTA encoder's): attention
between channels rather than positions, the Fourier positional encoding
added before it, and the layer-scaled linear layer it and the pointwise MLP
end with."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .folding import conv1x1_from
from .param_cache import ClearsCacheOnTrainOrLoad, ParameterCache
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

    Shape: ``(N, L, C) -> (N, L, C)``; deployed, :meth:`on_maps` also runs
    it on ``(N, C, H, W)`` maps.
    """
    deployed = False

    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'EdgeNeXt attention: {num_heads} heads do not '
                             f'divide {channels} channels.')
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def fold_for_deploy(self) -> None:
        """Deploy mode: the linear layers become 1x1 convs (own
        parameters) for :meth:`on_maps`, ``qkv`` one for each of q, k and
        v (OpenVINO's split of one qkv map along its blocked channels cost
        more than the transposes the maps save); tokens run them as linear
        layers."""
        c = self.proj.in_features
        self.qkv = nn.ModuleList(conv1x1_from(self.qkv, slice(i * c,
                                                              (i + 1) * c))
                                 for i in range(3))
        self.proj = conv1x1_from(self.proj)
        self.deployed = True

    def attend(self, q: torch.Tensor, k: torch.Tensor,
               v: torch.Tensor) -> torch.Tensor:
        """``(..., heads, head_dim, L)`` each -> the same shape: every
        channel of a head a mix of its ``v`` channels."""
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return attn @ v

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape
        if self.deployed:  # (N, heads, head_dim, L) each
            q, k, v = (F.linear(x, conv.weight.flatten(1), conv.bias).reshape(
                n, length, self.num_heads, c // self.num_heads).permute(
                    0, 2, 3, 1) for conv in self.qkv)
        else:  # (3, N, heads, head_dim, L)
            q, k, v = self.qkv(x).reshape(n, length, 3, self.num_heads,
                                          c // self.num_heads).permute(
                                              2, 0, 3, 4, 1)
        out = self.attend(q, k, v).permute(0, 3, 1, 2).reshape(n, length, c)
        if self.deployed:  # the layer scale is in proj
            return F.linear(out, self.proj.weight.flatten(1), self.proj.bias)
        return scaled_linear(out, self.proj, scale)

    def on_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Deployed: ``(N, C, H, W) -> (N, C, H, W)`` in tensors of at
        most 4 dims and without moving a map: in an NCHW map, a head's
        channels are already the rows of a ``(head_dim, H * W)`` matrix
        (the token formulation moved q, k, v and the output in and out of
        that layout)."""
        n, c, h, w = sizes(x)  # models.tracing
        q, k, v = (conv(x).reshape(n, self.num_heads, c // self.num_heads,
                                   h * w) for conv in self.qkv)
        return self.proj(self.attend(q, k, v).reshape(n, c, h, w))


class FourierPositionalEncoding(ClearsCacheOnTrainOrLoad, nn.Module):
    """Sine/cosine encoding of normalised (y, x) positions, projected by a
    1x1 conv: ``(N, C, H, W)`` for any H, W.

    Positions run over ``(0, 2 pi]`` along each axis, so the encoding adapts
    to the input size instead of being tied to a training resolution.  In
    eval mode the encoding of each size is computed once (it depends on the
    projection's parameters only).
    """

    def __init__(self, channels: int, hidden: int = 32,
                 temperature: float = 10000.0):
        super().__init__()
        self.token_projection = nn.Conv2d(2 * hidden, channels, 1)
        self.hidden = hidden
        self.temperature = temperature
        self.param_cache = ParameterCache()

    def forward(self, batch: int, height: int, width: int) -> torch.Tensor:
        pos = self.parameter_derived((height, width),
                                     self.token_projection.parameters(),
                                     lambda: self.encode(height, width))
        return pos.expand(batch, -1, -1, -1)

    def encode(self, height: int, width: int) -> torch.Tensor:
        """``(1, C, H, W)``."""
        device = self.token_projection.weight.device
        # float32 like the reference, whatever the module's dtype.
        ys = torch.arange(1, height + 1, dtype=torch.float32, device=device)
        xs = torch.arange(1, width + 1, dtype=torch.float32, device=device)
        ys = ys / (ys[-1:] + 1e-6) * (2 * math.pi)
        xs = xs / (xs[-1:] + 1e-6) * (2 * math.pi)
        freq = torch.arange(self.hidden, dtype=torch.float32, device=device)
        freq = self.temperature**(2 * torch.div(
            freq, 2, rounding_mode='floor') / self.hidden)

        def encode(pos):  # (L,) -> (L, hidden), sin/cos interleaved
            angles = pos[:, None] / freq
            return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()),
                               dim=2).flatten(1)

        pos_y = encode(ys)[:, None, :].expand(height, width, self.hidden)
        pos_x = encode(xs)[None, :, :].expand(height, width, self.hidden)
        pos = torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)[None]
        return self.token_projection(pos.to(self.token_projection.weight))
