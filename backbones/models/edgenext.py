"""EdgeNeXt backbone for dense prediction.

Maaz et al., "EdgeNeXt: Efficiently Amalgamated CNN-Transformer Architecture
for Mobile Vision Applications", ECCVW 2022; official code:
https://github.com/mmaaz60/EdgeNeXt.  A 4x4 patchify stem and three 2x2
downsamplings feed four stages of depthwise-conv encoders; the last block of
stages 2-4 is an SDTA encoder (multi-scale depthwise convs over a
Res2Net-style channel split, then cross-covariance attention over channels).
Outputs (``out_indices`` 0..3) have strides 4, 8, 16, 32 and ``dims``
channels.

The ``*_bn_hs`` variants replace LayerNorm/GELU with BatchNorm/Hardswish, drop
the conv biases before BatchNorm and normalise the SDTA input before the
attention, whose residual then starts from the normalised tensor.
"""
import math
from collections import OrderedDict
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS

from .base import (FeatureInfo, MultiScaleBackbone, drop_path, per_stage,
                   rename_official_keys, resolve_arch)
from .edgenext_attention import (CrossCovarianceAttention,
                                 FourierPositionalEncoding, scaled_linear)
from .folding import (conv1x1_from, fold_bn_into_next,
                      layernorm_affine_folded, scale_output_channels)
from .layers import LayerNorm2d, standardise_channels
from .tracing import exporting

arch_settings = {
    'xx_small': dict(depths=(2, 2, 6, 2), dims=(24, 48, 88, 168), heads=4),
    'x_small': dict(depths=(3, 3, 9, 3), dims=(32, 64, 100, 192), heads=4),
    'small': dict(depths=(3, 3, 9, 3), dims=(48, 96, 160, 304), heads=8),
    'base': dict(depths=(3, 3, 9, 3), dims=(80, 160, 288, 584), heads=8),
}
for _name in ('xx_small', 'x_small', 'small'):
    arch_settings[f'{_name}_bn_hs'] = dict(arch_settings[_name], bn_hs=True)
# Settings shared by every released variant; a custom arch dict may
# override any of them.
default_arch_settings = dict(
    kernel_sizes=(3, 5, 7, 9),
    split_scales=(2, 2, 3, 4),      # Res2Net-style groups per SDTA block
    sdta_blocks=(0, 1, 1, 1),       # trailing SDTA blocks per stage
    positional_encoding=(False, True, False, False),
    expand_ratio=4,
    layer_scale_init=1e-6,
    bn_hs=False,
)
required_arch_keys = ('depths', 'dims', 'heads')
LN_EPS = 1e-6  # every LayerNorm of the official model


def token_norm(bn_hs: bool, channels: int) -> nn.Module:
    """Norm inside a block: BN, applied to NCHW maps, or LayerNorm (eps
    1e-6), applied to channels-last tokens."""
    return nn.BatchNorm2d(channels) if bn_hs else \
        nn.LayerNorm(channels, eps=LN_EPS)


def channel_norm(bn_hs: bool, channels: int) -> nn.Module:
    """Norm over the channels of an NCHW map: BN (eps 1e-5, torch's default,
    as in the official BN/HS models) or LayerNorm (eps 1e-6)."""
    return nn.BatchNorm2d(channels) if bn_hs else \
        LayerNorm2d(channels, eps=LN_EPS)


class NormThenConvDownsample(nn.Sequential):
    """Stages 1-3 downsampling: ``[norm, 2x2 stride-2 conv]`` (indices as
    in the official ``downsample_layers``)."""

    def fold_for_deploy(self) -> None:
        """Deploy mode: a BatchNorm, or a LayerNorm's affine map, goes into
        the unpadded conv after it."""
        if isinstance(self[0], nn.BatchNorm2d):
            fold_bn_into_next(self[0], self[1])
            self[0] = nn.Identity()
        elif self[0].elementwise_affine:
            self[0] = layernorm_affine_folded(self[0], self[1])


class PointwiseMLP(nn.Module):
    """Channels-last inverted bottleneck with layer scale:
    ``gamma * fc2(act(fc1(x)))``, ``(N, H, W, C) -> (N, H, W, C)``.
    Deployed, its layers are 1x1 convs that :meth:`on_maps` runs on
    ``(N, C, H, W)`` maps."""
    deployed = False

    def __init__(self, channels: int, expand_ratio: int, bn_hs: bool,
                 layer_scale_init: float):
        super().__init__()
        self.pwconv1 = nn.Linear(channels, expand_ratio * channels)
        self.act = nn.Hardswish() if bn_hs else nn.GELU()
        self.pwconv2 = nn.Linear(expand_ratio * channels, channels)
        self.gamma = nn.Parameter(layer_scale_init * torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deployed:  # eager PyTorch: the convs' weights as linear
            hidden = self.act(F.linear(x, self.pwconv1.weight.flatten(1),
                                       self.pwconv1.bias))
            return F.linear(hidden, self.pwconv2.weight.flatten(1),
                            self.pwconv2.bias)
        return scaled_linear(self.act(self.pwconv1(x)), self.pwconv2,
                             self.gamma)

    def on_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Deployed: ``(N, C, H, W) -> (N, C, H, W)``."""
        return self.pwconv2(self.act(self.pwconv1(x)))

    def fold_for_deploy(self) -> None:
        """Deploy mode: ``gamma`` goes into ``pwconv2``, and both layers
        become 1x1 convs."""
        scale_output_channels(self.pwconv2, self.gamma)
        self.gamma = None
        self.pwconv1 = conv1x1_from(self.pwconv1)
        self.pwconv2 = conv1x1_from(self.pwconv2)
        self.deployed = True


class EncoderBlock(nn.Module):
    """What both EdgeNeXt encoders end with: ``x + drop_path(mlp(norm(y)))``.

    A subclass builds ``norm`` (:func:`token_norm`), ``mlp``
    (:class:`PointwiseMLP`), ``drop_path`` and sets ``bn_hs``.
    """
    # deployed, in an exported graph: the MLP as 1x1 convs over the NCHW
    # map, the LayerNorm as reductions over its channel axis, no transpose
    # either side (every runtime ran SSDLite-EdgeNeXt-XXS faster so); eager
    # PyTorch keeps channels-last tokens, where its fused LayerNorm and
    # linear kernels ran 12-25 % faster (docs/speed.md)

    def mlp_residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``, ``y``: ``(N, C, H, W)`` -> ``(N, C, H, W)``.

        BN normalises the NCHW map before the permute to channels last, LN
        the channels-last view after it.
        """
        if self.mlp.deployed and exporting():
            y = standardise_channels(y, self.norm.eps) if isinstance(
                self.norm, nn.LayerNorm) else self.norm(y)
            return self.drop_path(self.mlp.on_maps(y)).add_(x)
        if self.bn_hs:
            y = self.norm(y).permute(0, 2, 3, 1)
        else:
            y = self.norm(y.permute(0, 2, 3, 1))
        # The branch output is a fresh tensor: add the shortcut in place.
        return self.drop_path(self.mlp(y).permute(0, 3, 1, 2)).add_(x)

    def fold_for_deploy(self) -> None:
        """Deploy mode (after the MLP's own fold): the LayerNorm's affine
        map goes into the MLP's first layer (a BatchNorm stays, for the
        BatchNorm folds)."""
        if isinstance(self.norm, nn.LayerNorm):
            self.norm = layernorm_affine_folded(self.norm, self.mlp.pwconv1)


class ConvEncoder(EncoderBlock):
    """Depthwise kxk conv, norm, pointwise MLP, residual.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, kernel_size: int, expand_ratio: int,
                 bn_hs: bool, layer_scale_init: float, drop_path_rate: float):
        super().__init__()
        self.bn_hs = bn_hs
        self.dwconv = nn.Conv2d(channels, channels, kernel_size,
                                padding=kernel_size // 2, groups=channels,
                                bias=not bn_hs)
        self.norm = token_norm(bn_hs, channels)
        self.mlp = PointwiseMLP(channels, expand_ratio, bn_hs,
                                layer_scale_init)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp_residual(x, self.dwconv(x))


class SDTAEncoder(EncoderBlock):
    """Split depth-wise transpose attention encoder.

    The channels are split into groups of ``ceil(C / scales)`` (the last one
    smaller when that does not divide C, e.g. 88 -> 30, 30, 28).  Each group
    but the last goes through a 3x3 depthwise conv after adding the previous
    group's output; the last group is passed through.  Then XCA over
    channels (with a Fourier positional encoding in stage 2 only) and a
    pointwise MLP.  The attention residual starts from the split output, the
    final residual from the block input.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, scales: int, num_heads: int,
                 expand_ratio: int, bn_hs: bool, layer_scale_init: float,
                 drop_path_rate: float, positional_encoding: bool):
        super().__init__()
        width = math.ceil(channels / scales)
        sizes = [width] * (channels // width)
        if channels % width:
            sizes.append(channels % width)
        if scales < 2 or len(sizes) != scales:
            raise ValueError(
                f'EdgeNeXt SDTA cannot split {channels} channels into '
                f'{scales} groups of ceil({channels}/{scales}) = {width}.')
        # Explicit sizes rather than one width: ONNX gets a Split node with
        # static sizes (the width form failed in onnxruntime with the
        # exporters of 2022, mmaaz60/EdgeNeXt#6).
        self.split_sizes = sizes
        self.bn_hs = bn_hs
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, groups=width)
            for _ in range(scales - 1))
        self.pos_embd = FourierPositionalEncoding(channels) \
            if positional_encoding else None
        self.norm_xca = token_norm(bn_hs, channels)
        self.gamma_xca = nn.Parameter(layer_scale_init * torch.ones(channels))
        self.xca = CrossCovarianceAttention(channels, num_heads)
        self.norm = token_norm(bn_hs, channels)
        self.mlp = PointwiseMLP(channels, expand_ratio, bn_hs,
                                layer_scale_init)
        self.drop_path = drop_path(drop_path_rate)

    def multi_scale_conv(self, x: torch.Tensor) -> torch.Tensor:
        groups = torch.split(x, self.split_sizes, dim=1)
        outs = []
        for conv, group in zip(self.convs, groups):
            group = conv(group if not outs else outs[-1] + group)
            outs.append(group)
        return torch.cat(outs + [groups[-1]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.xca.deployed and exporting():
            return self.on_maps(x)
        n, c, h, w = x.shape
        y = self.multi_scale_conv(x)
        if self.bn_hs:
            y = self.norm_xca(y)
        tokens = y.flatten(2).transpose(1, 2)  # (N, HW, C)
        if self.pos_embd is not None:
            tokens = tokens + self.pos_embd(n, h, w).flatten(2).transpose(
                1, 2)
        attn_in = tokens if self.bn_hs else self.norm_xca(tokens)
        tokens = tokens + self.drop_path(self.xca(attn_in, self.gamma_xca))
        return self.mlp_residual(x, tokens.transpose(1, 2).reshape(n, c, h, w))

    def on_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Deployed, in exported graphs: the block on ``(N, C, H, W)`` maps
        (the attention's LayerNorm as reductions over channels, its affine
        map in ``qkv``): no transpose in or out of tokens."""
        n, _, h, w = x.shape
        y = self.multi_scale_conv(x)
        if self.bn_hs:
            y = self.norm_xca(y)
        if self.pos_embd is not None:
            y = y + self.pos_embd(n, h, w)
        attn_in = y if self.bn_hs else standardise_channels(
            y, self.norm_xca.eps)
        return self.mlp_residual(x, y + self.drop_path(
            self.xca.on_maps(attn_in)))

    def fold_for_deploy(self) -> None:
        """Deploy mode: the attention's layer scale goes into its output
        projection; a LayerNorm's affine map before the attention into
        its q, k and v convs; with BN, the norm before the MLP into its
        first layer
        (the other BN normalises the attention input and its residual)."""
        scale_output_channels(self.xca.proj, self.gamma_xca)
        self.gamma_xca = None
        if not self.bn_hs:
            self.norm_xca = layernorm_affine_folded(self.norm_xca,
                                                    *self.xca.qkv)
        else:
            fold_bn_into_next(self.norm, self.mlp.pwconv1)
            self.norm = nn.Identity()
        super().fold_for_deploy()


@MODELS.register_module()
class EdgeNeXt(MultiScaleBackbone):
    """EdgeNeXt backbone emitting up to four feature maps.

    Args:
        arch: ``'xx_small'``, ``'x_small'``, ``'small'``, ``'base'``,
            ``'xx_small_bn_hs'``, ``'x_small_bn_hs'``, ``'small_bn_hs'`` or a
            dict with ``depths``, ``dims``, ``heads`` (and optionally the
            keys of ``default_arch_settings``).
        out_indices: maps to return, 0..3 at strides 4, 8, 16, 32.
        frozen_stages: -1 freezes nothing; k freezes stages 0..k (stage 0
            includes the stem).
        norm_eval: keep BatchNorm layers in eval mode while training (the
            BN/HS variants; LayerNorm has no running statistics).
        drop_path_rate: stochastic depth at the last block, rising linearly
            from 0 (the official small/base were trained with 0.1).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` accepts the
            official training checkpoints (``model_ema`` is used), USI files
            (``state_dict``) and bare tensor dicts.

    Shape:
        input ``(N, 3, H, W)`` of any size; map ``i`` is
        ``(N, dims[i], H_i, W_i)`` with ``H_0 = floor(H / 4)`` and
        ``H_{i+1} = floor(H_i / 2)`` (strided convs without padding), in the
        channels-last memory format.
    """
    channels_last = True
    # stem 4x4 stride 4, then three 2x2 stride-2 downsamples, all unpadded
    min_input_size = 32

    def __init__(self, arch: Union[str, dict] = 'small',
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1, norm_eval: bool = False,
                 drop_path_rate: float = 0.0, init_cfg=None,
                 pretrained=None):
        super().__init__(out_indices, frozen_stages, norm_eval, init_cfg,
                         pretrained)
        settings = resolve_arch(
            arch, arch_settings, default_arch_settings, required_arch_keys,
            ('dims', 'kernel_sizes', 'split_scales', 'sdta_blocks',
             'positional_encoding'), 'EdgeNeXt')
        num_stages = len(settings['depths'])
        heads = per_stage(settings['heads'], num_stages, 'EdgeNeXt heads')
        self.arch = settings
        bn_hs, dims = settings['bn_hs'], settings['dims']

        block_rates = torch.linspace(0, drop_path_rate,
                                     sum(settings['depths'])).tolist()
        layers: List[nn.Module] = []
        for i in range(num_stages):
            if i == 0:
                # its LayerNorm keeps the affine map (the stage's first
                # block adds its input back) and so, in graphs but
                # OpenVINO's, a transpose either side
                # (models.folding.affine_layernorms_on_maps)
                downsample = nn.Sequential(
                    nn.Conv2d(3, dims[0], 4, stride=4, bias=not bn_hs),
                    channel_norm(bn_hs, dims[0]))
            else:
                downsample = NormThenConvDownsample(
                    channel_norm(bn_hs, dims[i - 1]),
                    nn.Conv2d(dims[i - 1], dims[i], 2, stride=2,
                              bias=not bn_hs))
            depth = settings['depths'][i]
            blocks = []
            for j in range(depth):
                common = dict(expand_ratio=settings['expand_ratio'],
                              bn_hs=bn_hs,
                              layer_scale_init=settings['layer_scale_init'],
                              drop_path_rate=block_rates.pop(0))
                if j >= depth - settings['sdta_blocks'][i]:
                    blocks.append(SDTAEncoder(
                        dims[i], settings['split_scales'][i], heads[i],
                        positional_encoding=settings['positional_encoding']
                        [i], **common))
                else:
                    blocks.append(ConvEncoder(
                        dims[i], settings['kernel_sizes'][i], **common))
            layers.append(nn.Sequential(OrderedDict(
                downsample=downsample, blocks=nn.Sequential(*blocks))))
        self.layers = nn.ModuleList(layers)
        self.feature_info = tuple(FeatureInfo(dims[i], 4 * 2**i)
                                  for i in range(num_stages))
        self._finish_init()

    @staticmethod
    def convert_official(state_dict: dict) -> Tuple[dict, List[str]]:
        """Official EdgeNeXt keys -> this module's keys.

        The classifier (``norm.*``, ``head.*``) is dropped and reported.
        """
        return rename_official_keys(state_dict, [
            (r'^downsample_layers\.(\d+)\.', r'layers.\1.downsample.'),
            (r'^stages\.(\d+)\.', r'layers.\1.blocks.'),
            (r'\.(pwconv1|pwconv2|gamma)(\.|$)', r'.mlp.\1\2'),
        ])
