"""LeViT backbone for dense prediction, at any input size.

Graham et al., "LeViT: a Vision Transformer in ConvNet's Clothing for Faster
Inference", ICCV 2021; official code:
https://github.com/facebookresearch/LeViT.
A stem of four 3x3 stride-2 Conv+BN (Hardswish between them) turns the image
into tokens at stride 16; three stages of attention and MLP residual blocks
follow, separated by strided "subsample" attention that halves the token
grid (ceil rule: 14 -> 7 -> 4).  Every linear layer is Linear+BN.  Outputs
(``out_indices`` 0..4)::

    index   0 (stem)  1 (stem)  2       3       4
    stride  4         8         16      32      64
    chans   C0 / 4    C0 / 2    C0      C1      C2

Attention biases are learned per ``(|dy|, |dx|)`` token offset for the 14x14
grid of a 224x224 image only.  Here the token grid follows the input
(``ceil(H / 16) x ceil(W / 16)``) and the offsets are those of that grid; an
offset beyond the trained table gets a value by ``bias_mode``:

* ``'absolute'`` (default): an offset keeps its trained value, and offsets
  past the largest trained one (13 tokens in stage 1) take that one's
  value.  A token covers 16 pixels at every input size, so the locality
  prior the table learned (in tokens, i.e. in pixels) stays what it was;
  smaller grids use a subset of the trained values, unchanged.
* ``'interpolate'``: the table is resampled (bicubic, corners aligned) as a
  smooth function of the offset to the grid's extent, as position tables of
  vision transformers are when fine-tuned at another resolution.  The prior
  is stretched: at 800x1333 one trained token of distance covers about four.

Both equal the official model on the trained grid.
"""
import math
from collections import OrderedDict
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.registry import MODELS

from ..errors import InputError
from .base import FeatureInfo, MultiScaleBackbone, drop_path, resolve_arch
from .levit_attention import (BIAS_MODES, LinearBN, SelfAttention,
                              SubsampleAttention)

arch_settings = {
    '128S': dict(embed_dims=(128, 256, 384), key_dim=16, num_heads=(4, 6, 8),
                 depths=(2, 3, 4)),
    '128': dict(embed_dims=(128, 256, 384), key_dim=16, num_heads=(4, 8, 12),
                depths=(4, 4, 4)),
    '192': dict(embed_dims=(192, 288, 384), key_dim=32, num_heads=(3, 5, 6),
                depths=(4, 4, 4)),
    '256': dict(embed_dims=(256, 384, 512), key_dim=32, num_heads=(4, 6, 8),
                depths=(4, 4, 4)),
    '384': dict(embed_dims=(384, 512, 768), key_dim=32, num_heads=(6, 9, 12),
                depths=(4, 4, 4), drop_path_rate=0.1),
}
# Settings shared by every released variant; a custom arch dict may
# override any of them.
default_arch_settings = dict(
    attn_ratio=2,         # value width / key width in stage attention
    mlp_ratio=2,
    down_attn_ratio=4,    # the same in the subsample attention
    down_mlp_ratio=2,
    trained_grid=14,      # token grid of the 224x224 training images
    drop_path_rate=0.0,
)
required_arch_keys = ('embed_dims', 'key_dim', 'num_heads', 'depths')
def free_memory(device: torch.device):
    """Bytes free for tensors on ``device`` (None where unknown)."""
    if device.type == 'cuda':
        return torch.cuda.mem_get_info(device)[0]
    if device.type != 'cpu':
        return None
    try:
        with open('/proc/meminfo') as handle:
            info = dict(line.split(':', 1) for line in handle)
        return int(info['MemAvailable'].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


class MLP(nn.Module):
    """``fc2(hardswish(fc1(x)))`` with Linear+BN layers; the second BN starts
    at zero so that the residual branch starts as identity."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = LinearBN(channels, hidden)
        self.act = nn.Hardswish()
        self.fc2 = LinearBN(hidden, channels, bn_weight_init=0.0)

    def forward(self, x: torch.Tensor, grid=None) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Residual(nn.Module):
    """``x + drop_path(branch(x, grid))`` on ``(N, L, C)`` tokens."""

    def __init__(self, branch: nn.Module, drop_path_rate: float):
        super().__init__()
        self.branch = branch
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        return x + self.drop_path(self.branch(x, grid))


class TokenStage(nn.Module):
    """Optional subsample attention + MLP, then ``depth`` pairs of attention
    and MLP residual blocks, on a feature map.

    Shape: ``(N, C_in, H, W) -> (N, C, H', W')`` with ``H' = ceil(H / 2)``
    after a subsample, else ``H``.  The output is a channels-last view of
    the tokens, which the next stage reads without a copy.
    """

    def __init__(self, in_channels: int, channels: int, depth: int,
                 key_dim: int, num_heads: int, settings: dict,
                 trained_grid: int, bias_mode: str, drop_path_rate: float,
                 downsample: bool):
        super().__init__()
        self.downsample = None
        if downsample:
            self.downsample = SubsampleAttention(
                in_channels, channels, key_dim, in_channels // key_dim,
                settings['down_attn_ratio'], trained_grid, bias_mode)
            self.downsample_mlp = Residual(
                MLP(channels, int(channels * settings['down_mlp_ratio'])),
                drop_path_rate)
            trained_grid = math.ceil(trained_grid / 2)
        blocks = []
        for _ in range(depth):
            blocks.append(Residual(SelfAttention(
                channels, key_dim, num_heads, settings['attn_ratio'],
                trained_grid, bias_mode), drop_path_rate))
            blocks.append(Residual(
                MLP(channels, int(channels * settings['mlp_ratio'])),
                drop_path_rate))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # 4-d permutes at both ends, not a 3-d transpose of the flattened
        # map: OpenVINO merges a 4-d one with the reorder into or out of
        # its channels-last convolutions (SSDLite-LeViT-128S: `Transpose`
        # 2.6 -> 1.5 % of its time); in eager both are views
        tokens = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
        if self.downsample is not None:
            tokens = self.downsample(tokens, (h, w))
            h, w = (h + 1) // 2, (w + 1) // 2  # ceil, traced sizes too
            tokens = self.downsample_mlp(tokens, (h, w))
        for block in self.blocks:
            tokens = block(tokens, (h, w))
        return tokens.reshape(n, h, w, -1).permute(0, 3, 1, 2)


@MODELS.register_module()
class LeViT(MultiScaleBackbone):
    """LeViT backbone emitting up to five feature maps, at any input size.

    Args:
        arch: ``'128S'``, ``'128'``, ``'192'``, ``'256'``, ``'384'`` or a
            dict with ``embed_dims``, ``key_dim``, ``num_heads``, ``depths``
            (and optionally the keys of ``default_arch_settings``).
        out_indices: maps to return; 0 and 1 are stem taps at strides 4 and
            8 (C0/4 and C0/2 channels, after the 2nd and 3rd conv's
            Hardswish), 2..4 the stages at strides 16, 32, 64.
        frozen_stages: -1 freezes nothing; k freezes layers 0..k (0, 1 the
            stem taps, 2 the last stem conv and stage 1, ...).
        norm_eval: keep BatchNorm layers in eval mode while training.
        bias_mode: value of attention-bias offsets outside the trained
            table: ``'absolute'`` (default: the trained values, constant
            past the largest trained offset) or ``'interpolate'`` (the
            table resampled to the grid's extent); see the module
            docstring for why.
        drop_path_rate: stochastic depth of every residual branch (one
            rate for all, as in the official code); None takes the rate
            the variant was trained with (0.1 for 384, else 0).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` accepts the
            official release files (``{'model': ...}``) as they are.

    Shape:
        input ``(N, 3, H, W)`` of any size; map ``i`` is
        ``(N, C_i, ceil(H / s_i), ceil(W / s_i))``, in the channels-last
        memory format.
    """
    channels_last = True

    def __init__(self, arch: Union[str, dict] = '128S',
                 out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1, norm_eval: bool = False,
                 bias_mode: str = 'absolute', drop_path_rate: float = None,
                 init_cfg=None, pretrained=None):
        super().__init__(out_indices, frozen_stages, norm_eval, init_cfg,
                         pretrained)
        settings = resolve_arch(arch, arch_settings, default_arch_settings,
                                required_arch_keys,
                                ('embed_dims', 'num_heads'), 'LeViT')
        if bias_mode not in BIAS_MODES:
            raise ValueError(f'LeViT bias_mode must be one of {BIAS_MODES}, '
                             f'got {bias_mode!r}.')
        dims, key_dim = settings['embed_dims'], settings['key_dim']
        for dim in dims[:-1]:
            if dim % key_dim:
                raise ValueError(
                    f'LeViT subsample attention has embed_dim / key_dim '
                    f'heads: key_dim {key_dim} must divide {dim}.')
        if drop_path_rate is None:
            drop_path_rate = settings['drop_path_rate']
        self.arch = settings
        self.bias_mode = bias_mode

        def stem_conv(cin, cout, act=True):
            return ConvModule(cin, cout, 3, stride=2, padding=1, bias=False,
                              norm_cfg=dict(type='BN'),
                              act_cfg=dict(type='HSwish') if act else None)

        c0 = dims[0]
        layers: List[nn.Module] = [
            nn.Sequential(stem_conv(3, c0 // 8), stem_conv(c0 // 8, c0 // 4)),
            stem_conv(c0 // 4, c0 // 2),
        ]
        grid = settings['trained_grid']
        for i, depth in enumerate(settings['depths']):
            stage = TokenStage(
                dims[i - 1] if i else c0, dims[i], depth, key_dim,
                settings['num_heads'][i], settings, grid, bias_mode,
                drop_path_rate, downsample=i > 0)
            if i == 0:
                stage = nn.Sequential(OrderedDict(
                    patch_conv=stem_conv(c0 // 2, c0, act=False),
                    stage=stage))
            else:
                grid = math.ceil(grid / 2)
            layers.append(stage)
        self.layers = nn.ModuleList(layers)
        channels = (c0 // 4, c0 // 2) + tuple(dims)
        self.feature_info = tuple(FeatureInfo(c, 4 * 2**i)
                                  for i, c in enumerate(channels))
        self._finish_init()

    def check_input(self, x: torch.Tensor) -> None:
        """The base checks, then the attention's memory: stage 1 attends
        over every token of the /16 grid, ``heads x N^2`` logits plus as
        many bias values per block, which at large inputs is more than the
        machine has (the allocator would be asked for hundreds of GB)."""
        super().check_input(x)
        if 2 not in range(self.out_indices[-1] + 1):
            return
        tokens = math.ceil(x.shape[2] / 16) * math.ceil(x.shape[3] / 16)
        heads = self.arch['num_heads'][0]
        needed = 2 * heads * tokens**2 * x.element_size() * x.shape[0]
        if needed < 2**30:  # not worth asking the system
            return
        free = free_memory(x.device)
        if free is not None and needed > free:
            side = 16 * int(math.sqrt(math.sqrt(
                free / (2 * heads * x.element_size() * x.shape[0]))))
            raise InputError(
                f'LeViT input {x.shape[2]}x{x.shape[3]}: stage 1 attends '
                f'over {tokens} tokens and needs {needed / 2**30:.1f} GiB '
                f'for its attention ({heads} heads x {tokens}^2 logits and '
                f'bias), more than the {free / 2**30:.1f} GiB free here; the '
                f'largest square input that fits is about {side}x{side}.')

    @staticmethod
    def convert_official(state_dict: dict) -> Tuple[dict, List[str]]:
        """Official LeViT keys -> this module's keys.

        The official blocks form one flat sequence (``blocks.N``); they are
        assigned to stages in order, a subsample attention (``blocks.N.kv``)
        starting the next stage.  Dropped and reported: the two classifiers
        (``head.*``, ``head_dist.*``) and ``attention_bias_idxs``, which
        this module computes for each grid size instead.
        """
        places = {f'patch_embed.{i}': name for i, name in (
            (0, 'layers.0.0'), (2, 'layers.0.1'), (4, 'layers.1'),
            (6, 'layers.2.patch_conv'))}
        stage, position, after_subsample = 0, 0, False
        for index in sorted({int(k.split('.')[1]) for k in state_dict
                             if k.startswith('blocks.')}):
            prefix = f'layers.{stage + 2}' if stage else 'layers.2.stage'
            if f'blocks.{index}.kv.c.weight' in state_dict:
                stage, position, after_subsample = stage + 1, 0, True
                name = f'layers.{stage + 2}.downsample'
            elif after_subsample:
                name, after_subsample = f'{prefix}.downsample_mlp.branch', \
                    False
            else:
                name, position = f'{prefix}.blocks.{position}.branch', \
                    position + 1
            places[f'blocks.{index}'] = name
        # Inside a block: Residual's ``m``, Subsample's ``q.1``, the MLP's
        # Sequential indices and Linear_BN's ``c``.
        inner = {'m': None, 'c': 'linear', '0': 'fc1', '2': 'fc2'}

        converted, dropped = {}, []
        for key, value in state_dict.items():
            parts = key.split('.')
            if parts[0] in ('head', 'head_dist') or \
                    parts[-1] == 'attention_bias_idxs':
                dropped.append(key)
                continue
            place = places.get('.'.join(parts[:2]))
            if place is not None:
                rest = parts[2:]
                if rest[:2] == ['q', '1']:
                    rest = ['q'] + rest[2:]
                inner_names = {'c': 'conv'} if parts[0] == 'patch_embed' \
                    else inner
                rest = [inner_names.get(p, p) for p in rest[:-1]] + rest[-1:]
                key = '.'.join([place] + [p for p in rest if p is not None])
            converted[key] = value
        return converted, dropped
