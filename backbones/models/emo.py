"""EMO backbone for dense prediction.

Zhang et al., "Rethinking Mobile Block for Efficient Attention-based Models",
ICCV 2023; official code: https://github.com/zhangzjn/EMO.  The network is a
stem plus four stages of inverted residual mobile blocks (iRMB); stages 3-4
add windowed self-attention.  Outputs (``out_indices`` 0..4)::

    index   0 (stem)  1        2        3        4
    stride  2         4        8        16       32
    chans   24        dims[0]  dims[1]  dims[2]  dims[3]
"""
import math
from collections import OrderedDict
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.registry import MODELS

from .base import (FeatureInfo, MultiScaleBackbone, drop_path, per_stage,
                   rename_official_keys, resolve_arch)
from .emo_attention import (attention_in_tokens, attention_in_tokens_4d,
                            tokens_to_map, window_tokens)
from .folding import (fold_bn_into_next, fold_scale_into_queries,
                      merge_pointwise_convs)
from .layers import SqueezeExcite
from .tracing import sizes, sizes_are_free

# Variants released with the paper.  ``head_dims`` only matter where
# attention is used (stages 3-4); the first two entries are kept from the
# official tables for completeness.
arch_settings = {
    '1M': dict(depths=(2, 2, 8, 3), dims=(32, 48, 80, 168),
               expand_ratios=(2.0, 2.5, 3.0, 3.5), head_dims=(16, 16, 20, 21),
               drop_path_rate=0.04036),
    '2M': dict(depths=(3, 3, 9, 3), dims=(32, 48, 120, 200),
               expand_ratios=(2.0, 2.5, 3.0, 3.5), head_dims=(16, 16, 20, 20),
               drop_path_rate=0.05),
    '5M': dict(depths=(3, 3, 9, 3), dims=(48, 72, 160, 288),
               expand_ratios=(2.0, 3.0, 4.0, 4.0), head_dims=(24, 24, 32, 32),
               drop_path_rate=0.05),
    '6M': dict(depths=(3, 3, 9, 3), dims=(48, 72, 160, 320),
               expand_ratios=(2.0, 3.0, 4.0, 5.0), head_dims=(16, 24, 20, 32),
               drop_path_rate=0.05),
}
# Settings shared by every released variant; a custom arch dict may
# override any of them.
default_arch_settings = dict(
    stem_channels=24,
    kernel_sizes=(3, 3, 5, 5),
    norm_types=('BN', 'BN', 'LN2d', 'LN2d'),
    act_types=('SiLU', 'SiLU', 'GELU', 'GELU'),
    use_attention=(False, False, True, True),
    drop_path_rate=0.0,
)
required_arch_keys = ('depths', 'dims', 'expand_ratios', 'head_dims')
NORM_EPS = 1e-6  # every norm of the official model, BN and LN alike


class InvertedResidualMobileBlock(nn.Module):
    """iRMB: pre-norm, (windowed attention +) 1x1 expansion ``v``, depthwise
    conv, optional squeeze-excite, 1x1 projection.

    With attention, attention is computed on the normalised input and
    applied to it before ``v`` expands the channels (the official
    ``attn_pre=True`` ordering).  The depthwise conv is always followed by
    BN and SiLU, whatever the block's activation.

    Args:
        in_channels / out_channels: C_in / C_out.
        expand_ratio: hidden width is ``int(C_in * expand_ratio)``.
        kernel_size: depthwise kernel.
        stride: 1 or 2 (the depthwise conv strides).
        norm_cfg: pre-norm config, or None for no pre-norm.
        act_cfg: activation after ``v`` (and inside the SE).
        bn_cfg: BatchNorm config after the depthwise conv.
        use_attention: windowed multi-head self-attention before ``v``.
        head_dim: channels per attention head; must divide C_in.
        window_size: window side; ``<= 0`` attends over the whole map.
        use_v_proj: build ``v``; the stem block has none.
        use_skip: residual connections when shapes allow.
        se_ratio: squeeze-excite width relative to the hidden width (0 off).
        drop_path_rate: stochastic depth of the block residual.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 expand_ratio: float, kernel_size: int, stride: int,
                 norm_cfg, act_cfg: dict, bn_cfg: dict,
                 use_attention: bool = False, head_dim: int = 16,
                 window_size: int = 7, use_v_proj: bool = True,
                 use_skip: bool = True, se_ratio: float = 0.0,
                 qkv_bias: bool = True, drop_path_rate: float = 0.0):
        super().__init__()
        hidden = int(in_channels * expand_ratio)
        self.use_skip = use_skip and in_channels == out_channels and \
            stride == 1
        self.norm = build_norm_layer(norm_cfg, in_channels)[1] \
            if norm_cfg is not None else nn.Identity()
        self.use_attention = use_attention
        # deploy formulations (self.attention)
        self.in_tokens = self.in_4d = False
        if use_attention:
            if in_channels % head_dim:
                raise ValueError(
                    f'EMO attention needs head_dim ({head_dim}) to divide '
                    f'the block width ({in_channels}).')
            self.num_heads = in_channels // head_dim
            self.scale = head_dim**-0.5
            self.window_size = window_size
            self.qk = ConvModule(in_channels, 2 * in_channels, 1,
                                 bias=qkv_bias, act_cfg=None)
        if use_v_proj:
            self.v = ConvModule(in_channels, hidden, 1, bias=qkv_bias,
                                act_cfg=act_cfg)
        elif hidden != in_channels:
            raise ValueError('An iRMB without v projection cannot expand.')
        else:
            self.v = nn.Identity()
        self.conv_local = ConvModule(
            hidden, hidden, kernel_size, stride=stride,
            padding=math.ceil((kernel_size - stride) / 2), groups=hidden,
            bias=False, norm_cfg=bn_cfg, act_cfg=dict(type='SiLU'))
        self.se = SqueezeExcite(
            hidden, round(hidden * se_ratio),
            build_activation_layer(act_cfg)) if se_ratio > 0 else \
            nn.Identity()
        self.proj = ConvModule(hidden, out_channels, 1, bias=False,
                               act_cfg=None)
        self.drop_path = drop_path(drop_path_rate)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-norm, then windowed self-attention whose values are the
        normalised input itself.

        ``(N, C, H, W) -> (N, C, H, W)``.  The zero padding added for
        windows happens after the norm and is not masked: padded positions
        take part as keys (the qk conv bias makes them non-zero) with zero
        values, as in the official model.  The 1x1 qk conv commutes with
        the window rearrangement, so it runs once on the padded map rather
        than on a batch of small windows.  Three formulations
        (:mod:`backbones.models.emo_attention`): eager, deploy (``in_tokens``)
        and deploy in at most 4 dims (``in_4d``, ncnn).
        """
        c, (h, w) = int(x.shape[1]), sizes(x, 2)  # models.tracing
        window = (h, w) if self.window_size <= 0 else \
            (self.window_size, self.window_size)
        pad_h, pad_w = (-h) % window[0], (-w) % window[1]
        # a free input size pads by an amount known only at run time
        padding = sizes_are_free() or bool(pad_h or pad_w)
        padded = (h + pad_h, w + pad_w)
        heads = self.num_heads
        if self.in_tokens:  # deployed: self.qk a linear layer, scale in q
            layer_norm = isinstance(self.norm, nn.LayerNorm)
            formulation = attention_in_tokens_4d if self.in_4d else \
                attention_in_tokens
            return formulation(
                x if layer_norm else self.norm(x),
                self.norm if layer_norm else None, self.qk, heads, window,
                padded, padding)
        x = self.norm(x)
        if padding:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        values = window_tokens(x, window)
        b, tokens, _ = values.shape
        # (B, T, 2C) -> 2 x (B, heads, T, head_dim), head_dim contiguous
        q, k = window_tokens(self.qk(x), window).view(
            b, tokens, 2, heads, c // heads).permute(2, 0, 3, 1, 4)
        v = values.view(b, tokens, heads, c // heads).transpose(1, 2)
        if q.is_cuda:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        else:
            # For these small windows the plain products beat the fused CPU
            # kernel (4% of a SSDLite-EMO-2M training step, same in eval).
            out = ((q * self.scale) @ k.transpose(-2, -1)).softmax(-1) @ v
        out = tokens_to_map(out.transpose(1, 2).reshape(b, tokens, c),
                            window, padded)
        if padding:
            out = out[:, :, :h, :w].contiguous(
                memory_format=torch.channels_last)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.attention(x) if self.use_attention else self.norm(x)
        x = self.v(x)
        if self.use_skip:
            x = x + self.se(self.conv_local(x))
        else:
            x = self.se(self.conv_local(x))
        x = self.proj(x)
        if self.use_skip:
            x = shortcut + self.drop_path(x)
        return x

    def fold_for_deploy(self) -> None:
        """Deploy mode: a BatchNorm pre-norm without attention after it
        (stages 1-2) goes into the 1x1 ``v`` conv that alone reads it;
        attention runs on tokens (``in_4d`` when the export asks for at
        most 4 dims: :func:`backbones.models.folding.at_most_4d`)."""
        self.in_tokens = self.use_attention
        if self.use_attention:
            # the 1x1 qk conv as the linear layer over tokens it is, its
            # own parameters (XNNPACK takes a linear layer whose weight is
            # computed, even a view, out of its graph: 2.8x slower), with
            # the logits' scale in the q channels
            conv = self.qk.conv
            self.qk = nn.Linear(conv.in_channels, conv.out_channels,
                                bias=conv.bias is not None)
            self.qk.weight = nn.Parameter(conv.weight.flatten(1).clone())
            if conv.bias is not None:
                self.qk.bias = nn.Parameter(conv.bias.clone())
            fold_scale_into_queries(self.qk, self.scale,
                                    slice(0, conv.in_channels))
            self.scale = 1.0
        if isinstance(self.norm, nn.BatchNorm2d) and \
                not self.use_attention and isinstance(self.v, ConvModule):
            fold_bn_into_next(self.norm, self.v.conv)
            self.norm = nn.Identity()


@MODELS.register_module()
class EMO(MultiScaleBackbone):
    """EMO backbone emitting up to five feature maps.

    Args:
        arch: ``'1M'``, ``'2M'``, ``'5M'``, ``'6M'`` or a dict with
            ``depths``, ``dims``, ``expand_ratios``, ``head_dims`` (and
            optionally the keys of ``default_arch_settings``).
        out_indices: maps to return; 0 is the stem (stride 2, 24 channels),
            1..4 are the stages (strides 4, 8, 16, 32).
        frozen_stages: -1 freezes nothing; k freezes the stem through
            stage k.
        norm_eval: keep BatchNorm layers in eval mode while training.
        window_size: attention window (int, or one per stage); the official
            detection/segmentation configs use 7, 10 or 16.  ``<= 0`` means
            global attention.
        drop_path_rate: stochastic depth at the last block, rising linearly
            from 0; None takes the rate the variant was trained with.
        bn_cfg: config of every BatchNorm (e.g. ``type='SyncBN'``); the
            official eps is 1e-6.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` accepts the
            official ``net.pth`` as released.

    Shape:
        input ``(N, 3, H, W)`` of any size; map ``i`` is
        ``(N, C_i, ceil(H / s_i), ceil(W / s_i))``, in the channels-last
        memory format.
    """
    channels_last = True

    def __init__(self, arch: Union[str, dict] = '2M',
                 out_indices: Sequence[int] = (1, 2, 3, 4),
                 frozen_stages: int = -1, norm_eval: bool = False,
                 window_size: Union[int, Sequence[int]] = 7,
                 drop_path_rate: float = None,
                 bn_cfg: dict = dict(type='BN', eps=NORM_EPS),
                 init_cfg=None, pretrained=None):
        super().__init__(out_indices, frozen_stages, norm_eval, init_cfg,
                         pretrained)
        settings = resolve_arch(
            arch, arch_settings, default_arch_settings, required_arch_keys,
            ('dims', 'expand_ratios', 'head_dims', 'kernel_sizes',
             'norm_types', 'act_types', 'use_attention'), 'EMO')
        num_stages = len(settings['depths'])
        window_sizes = per_stage(window_size, num_stages, 'window_size')
        for ws in window_sizes:
            if not isinstance(ws, int):
                raise TypeError(f'window_size entries must be ints, '
                                f'got {window_sizes}.')
        if drop_path_rate is None:
            drop_path_rate = settings['drop_path_rate']
        self.arch = settings
        self.window_sizes = window_sizes

        stem_channels = settings['stem_channels']
        stem_conv = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(3, stem_channels, settings['kernel_sizes'][0],
                           stride=2,
                           padding=settings['kernel_sizes'][0] // 2),
            bn=build_norm_layer(bn_cfg, stem_channels)[1]))
        stem_block = InvertedResidualMobileBlock(
            stem_channels, stem_channels, expand_ratio=1.0,
            kernel_size=settings['kernel_sizes'][0], stride=1, norm_cfg=None,
            act_cfg=dict(type=settings['act_types'][0]), bn_cfg=bn_cfg,
            use_v_proj=False, use_skip=False, se_ratio=1.0)
        layers: List[nn.Module] = [nn.Sequential(stem_conv, stem_block)]
        channels, strides = [stem_channels], [2]

        block_rates = torch.linspace(0, drop_path_rate,
                                     sum(settings['depths'])).tolist()
        in_channels = stem_channels
        for i in range(num_stages):
            norm_type = settings['norm_types'][i]
            norm_cfg = dict(bn_cfg) if norm_type == 'BN' else \
                dict(type=norm_type, eps=NORM_EPS)
            blocks = []
            for j in range(settings['depths'][i]):
                first = j == 0
                # The first block of a stage downsamples and widens; it has
                # no residual, no attention and twice the expansion.
                blocks.append(InvertedResidualMobileBlock(
                    in_channels, settings['dims'][i],
                    expand_ratio=settings['expand_ratios'][i] *
                    (2 if first else 1),
                    kernel_size=settings['kernel_sizes'][i],
                    stride=2 if first else 1, norm_cfg=norm_cfg,
                    act_cfg=dict(type=settings['act_types'][i]),
                    bn_cfg=bn_cfg,
                    use_attention=settings['use_attention'][i] and not first,
                    head_dim=settings['head_dims'][i],
                    window_size=window_sizes[i], use_skip=not first,
                    drop_path_rate=block_rates.pop(0)))
                in_channels = settings['dims'][i]
            layers.append(nn.Sequential(*blocks))
            channels.append(in_channels)
            strides.append(strides[-1] * 2)
        self.layers = nn.ModuleList(layers)
        self.feature_info = tuple(map(FeatureInfo, channels, strides))
        self._finish_init()

    def fold_for_deploy(self) -> None:
        """Deploy mode, after the blocks' own folds: when the stem's map is
        not an output, the stem block's 1x1 projection merged into the 1x1
        expansion of stage 1's first block (its BatchNorm pre-norm already
        folded there): no activation, norm or residual lies between them,
        and one pass at the stem's stride 2 is saved (SSDLite-EMO-1M at
        320x320: a 24 -> 24 conv over 160x160 pixels, 0.57 ms in ncnn's
        layer-by-layer profile)."""
        stem_block, first = self.layers[0][1], self.layers[1][0]
        if 0 in self.out_indices or first.use_attention or \
                not isinstance(first.norm, nn.Identity) or \
                not isinstance(first.v, ConvModule):
            return
        merge_pointwise_convs(stem_block.proj.conv, first.v.conv)
        stem_block.proj = nn.Identity()

    @staticmethod
    def convert_official(state_dict: dict) -> Tuple[dict, List[str]]:
        """Official ``net.pth`` keys -> this module's keys.

        The classifier (``norm.*``, ``head.*``) is dropped and reported.
        """
        return rename_official_keys(state_dict, [
            (r'^stage0\.0\.convs\.0\.0\.', 'layers.0.0.conv.'),
            (r'^stage0\.0\.convs\.0\.1\.', 'layers.0.0.bn.'),
            (r'^stage(\d+)\.', r'layers.\1.'),
            (r'\.norm\.norm\.', '.norm.'),  # official LayerNorm2d wrapper
            (r'\.conv_local\.norm\.', '.conv_local.bn.'),
        ])
