"""Layers more than one family uses.

* :class:`LayerNorm2d` (registered as ``'LN2d'``) normalises the channel axis
  of ``(N, C, H, W)`` maps, which ``nn.LayerNorm`` cannot do without permutes
  (:func:`standardise_channels`, its reductions over the channel axis, can
  where there is no affine map).
* :class:`SqueezeExcite` is the plain conv-based squeeze-and-excitation gate.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS

from .tracing import exporting


@MODELS.register_module('LN2d')
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a ``(N, C, H, W)`` tensor.

    Same parameters and numbers as ``nn.LayerNorm(C)`` applied to the
    channels-last view.  The output is in the channels-last memory format
    (``(N, H, W, C)`` in memory): no copy back to NCHW, and none at all for a
    channels-last input.  Without an affine map (deploy folds put it
    elsewhere), or with one where ``affine_on_maps`` is set
    (:func:`~backbones.models.folding.affine_layernorms_on_maps`), exported
    graphs get reductions over the channel axis (and a broadcast multiply
    and add) instead of a transpose either side of a LayerNorm.
    """
    affine_on_maps = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        affine = self.weight is not None or self.bias is not None
        if exporting() and (self.affine_on_maps or not affine):
            x = standardise_channels(x, self.eps)
            if self.weight is not None:
                x = x * self.weight.reshape(-1, 1, 1)
            return x if self.bias is None else x + self.bias.reshape(-1, 1, 1)
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape,
                         self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def standardise_channels(x: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm without its affine map over the channels of ``(N, C, H,
    W)``, as reductions over axis 1: no transpose on either side."""
    centred = x - x.mean(1, keepdim=True)
    return centred / (centred * centred).mean(1, keepdim=True).add(
        eps).sqrt()


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: ``x * gate(expand(act(reduce(mean_hw(x)))))``.

    Args:
        channels: C of the ``(N, C, H, W)`` input.
        reduced_channels: width of the bottleneck.
        act_layer: activation module between the two 1x1 convs.
        gate_layer: module producing the per-channel gate.
    """

    def __init__(self, channels: int, reduced_channels: int,
                 act_layer: nn.Module, gate_layer: nn.Module = None):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced_channels, 1)
        self.act = act_layer
        self.conv_expand = nn.Conv2d(reduced_channels, channels, 1)
        self.gate = gate_layer if gate_layer is not None else nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.conv_expand(self.act(self.conv_reduce(scale)))
        return x * self.gate(scale)


class ErfGELU(nn.Module):
    """``nn.GELU()`` (the exact, erf form) written out as
    ``x * (0.5 + 0.5 * erf(x / sqrt(2)))``: the same numbers, in a pattern
    converters do not fuse into an approximate GELU (MNN's differs from
    PyTorch's by 5e-5 relative per layer; this form by 4e-8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (0.5 + 0.5 * torch.erf(x * 0.7071067811865476))
