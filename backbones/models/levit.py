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
from functools import lru_cache
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.registry import MODELS

from .base import (FeatureInfo, InputError, MultiScaleBackbone, drop_path,
                   resolve_arch)
from .folding import batchnorm_affine, scale_output_channels
from .param_cache import ClearsCacheOnTrainOrLoad, ParameterCache
from .tracing import sizes, sizes_are_free

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
BIAS_MODES = ('absolute', 'interpolate')
# Gathered biases kept per attention module in eval mode: the last few grid
# sizes, within a budget of values (one (4, 4200, 4200) bias of a stage-1
# block at 800x1333 is 71M values, 282 MB; the newest entry always stays).
BIAS_CACHE_SIZE = 4
BIAS_CACHE_VALUES = 2**27


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


class LinearBN(nn.Module):
    """Linear layer without bias followed by BatchNorm over the channels.

    Shape: ``(N, L, C_in) -> (N, L, C_out)``.
    """

    def __init__(self, in_features: int, out_features: int,
                 bn_weight_init: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features)
        nn.init.constant_(self.bn.weight, bn_weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        if self.bn is None:  # folded
            return x
        return self.bn(x.flatten(0, 1)).view_as(x)

    def fold_for_deploy(self) -> None:
        """Deploy mode: the BatchNorm goes into the linear layer."""
        scale_output_channels(self.linear, *batchnorm_affine(self.bn))
        self.bn = None


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


@lru_cache(maxsize=64)
def offset_indices(grid: Tuple[int, int], stride: int, limit: int,
                   device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Row and column offsets between query and key tokens.

    Queries sit at ``stride * (a, b)`` of the key grid (every key for stride
    1, every other row and column for the subsample attention).

    Returns:
        ``(dy, dx)`` of shapes ``(ceil(H / stride), H)`` and
        ``(ceil(W / stride), W)``: ``|stride * a - y|``, clamped to
        ``limit`` (the largest offset with a table entry).
    """
    def axis(size):
        queries = torch.arange(0, size, stride, device=device)
        keys = torch.arange(size, device=device)
        return (queries[:, None] - keys[None, :]).abs().clamp_(max=limit)
    return axis(grid[0]), axis(grid[1])


class OffsetBiasAttention(ClearsCacheOnTrainOrLoad, nn.Module):
    """What both LeViT attentions share: a learned bias per head and token
    offset added to the attention logits, and the output projection.

    Args:
        num_heads / key_dim / value_dim: per-head widths.
        out_channels: width after the projection.
        trained_grid: side of the token grid the bias table was trained
            for; the table has ``trained_grid ** 2`` offsets per head,
            ``(dy, dx)`` at ``dy * trained_grid + dx`` (the official order).
        stride: 1 for self-attention, 2 for the subsample attention.
        bias_mode: ``'absolute'`` or ``'interpolate'`` (module docstring).
        proj_bn_init: initial weight of the projection's BatchNorm.
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int,
                 out_channels: int, trained_grid: int, stride: int,
                 bias_mode: str, proj_bn_init: float):
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.scale = key_dim**-0.5
        self.trained_grid = trained_grid
        self.stride = stride
        self.bias_mode = bias_mode
        self.attention_biases = nn.Parameter(
            torch.zeros(num_heads, trained_grid * trained_grid))
        self.proj = nn.Sequential(
            nn.Hardswish(),
            LinearBN(num_heads * value_dim, out_channels, proj_bn_init))
        self.param_cache = ParameterCache(BIAS_CACHE_SIZE, BIAS_CACHE_VALUES)
        self.in_4d = False

    def fold_for_deploy(self) -> None:
        """Deploy mode: batched products instead of the per-image
        ``baddbmm``, and strided queries without strided slices: the same
        attention in ops and tensors (at most 4 dims) every runtime has."""
        self.in_4d = True

    def attention_bias(self, grid: Tuple[int, int]) -> torch.Tensor:
        """``(heads, queries, keys)`` bias for a key grid ``(H, W)``.

        In eval mode the result is cached per grid (it depends on the
        parameters only); training always gathers afresh so that gradients
        reach the table.
        """
        if sizes_are_free():  # a traced grid: the gather goes in the graph
            if self.bias_mode == 'interpolate':
                raise InputError("LeViT bias_mode='interpolate' resizes its "
                                 "bias table to each grid: deploy it at a "
                                 "static input size (--shape)")
            return self._gather_bias(grid)
        # plain ints: under tracing the grid arrives as 0-dim tensors, and
        # the cached table (a constant for exporters) must still be found
        grid = tuple(int(g) for g in grid)
        return self.parameter_derived(grid, [self.attention_biases],
                                      lambda: self._gather_bias(grid))

    def _gather_bias(self, grid: Tuple[int, int]) -> torch.Tensor:
        side = self.trained_grid
        table = self.attention_biases.view(self.num_heads, side, side)
        if self.bias_mode == 'interpolate' and tuple(grid) != (side, side):
            table = F.interpolate(table[None], size=grid, mode='bicubic',
                                  align_corners=True)[0]
            limit = max(grid) - 1  # every offset of the grid has an entry
        else:
            limit = side - 1
        indices = offset_indices.__wrapped__ if sizes_are_free() else \
            offset_indices  # an lru_cache would keep traced values
        dy, dx = indices(tuple(grid), self.stride, limit, table.device)
        (rows_q, rows), (cols_q, cols) = dy.shape, dx.shape
        # Columns first (small), as (heads, query col, table row, key col);
        # then each query row picks its table rows, written straight into
        # the (heads, Hq, Wq, H, W) layout: one pass over the output, which
        # is 280 MB per block at 800x1333 (2.4x faster than indexing both
        # axes at once and permuting).
        by_column = table.index_select(2, dx.flatten()).view(
            self.num_heads, table.shape[1], cols_q, cols).transpose(1, 2)
        if sizes_are_free():  # no loop over a traced row count
            bias = by_column.index_select(2, dy.flatten()).view(
                self.num_heads, cols_q, rows_q, rows, cols).transpose(1, 2)
            return bias.reshape(self.num_heads, -1, rows * cols)
        bias = table.new_empty(self.num_heads, rows_q, cols_q, rows, cols)
        for row in range(rows_q):
            bias[:, row] = by_column.index_select(2, dy[row])
        return bias.view(self.num_heads, rows_q * cols_q, rows * cols)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               grid: Tuple[int, int]) -> torch.Tensor:
        """``q``: ``(N, heads, Lq, key_dim)``, ``k``: ``(N, heads, L,
        key_dim)``, ``v``: ``(N, heads, L, value_dim)`` -> projected
        ``(N, Lq, C_out)``: ``softmax(q k^T * scale + bias) v``.

        On CUDA this is ``F.scaled_dot_product_attention`` with the bias as
        mask.  On CPU, adding the bias inside the logits GEMM (``baddbmm``),
        one image at a time, was faster than it at every size measured
        (196 to 4200 tokens: 0.5x-0.8x its time; README, "LeViT").
        """
        bias = self.attention_bias(grid)
        if self.in_4d:
            logits = q @ k.transpose(-2, -1) * self.scale + bias
            out = logits.softmax(dim=-1) @ v
        elif q.is_cuda:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                                 scale=self.scale)
        else:
            out = torch.stack([
                torch.baddbmm(bias, qi, ki.transpose(1, 2),
                              alpha=self.scale).softmax(dim=-1) @ vi
                for qi, ki, vi in zip(q, k, v)])
        return self.proj(out.transpose(1, 2).flatten(2))


class SelfAttention(OffsetBiasAttention):
    """Multi-head self-attention over the token grid.

    Shape: ``(N, H * W, C) -> (N, H * W, C)``.
    """

    def __init__(self, channels: int, key_dim: int, num_heads: int,
                 attn_ratio: float, trained_grid: int, bias_mode: str):
        value_dim = int(attn_ratio * key_dim)
        super().__init__(num_heads, key_dim, value_dim, channels,
                         trained_grid, 1, bias_mode, proj_bn_init=0.0)
        # Per head: q, k, v side by side (the official layout).
        self.qkv = LinearBN(channels, num_heads * (2 * key_dim + value_dim))

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        n, length, _ = x.shape
        q, k, v = self.qkv(x).view(n, length, self.num_heads, -1).split(
            [self.key_dim, self.key_dim, self.value_dim], dim=3)
        return self.attend(q.transpose(1, 2), k.transpose(1, 2),
                           v.transpose(1, 2), grid)


def every_other_token(x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """``x.reshape(N, H, W, C)[:, ::2, ::2]`` as ``(N, ceil(H/2) *
    ceil(W/2), C)`` without strided slices (ncnn has none): pad to even
    sides, fold each pair of rows and of columns into an axis, keep the
    first of each pair."""
    n, length, c = sizes(x)  # models.tracing
    (h, w), (hq, wq) = grid, ((grid[0] + 1) // 2, (grid[1] + 1) // 2)
    x = F.pad(x.reshape(n * h, w, c), (0, 0, 0, 2 * wq - w))
    x = x.reshape(n * h, wq, 2 * c)[..., :c]
    x = F.pad(x.reshape(n, h, wq * c), (0, 0, 0, 2 * hq - h))
    return x.reshape(n * hq, 2, wq * c)[:, 0].reshape(n, hq * wq, c)


class SubsampleAttention(OffsetBiasAttention):
    """Attention from every other token (queries) to all tokens (keys):
    halves the grid (``ceil``) and changes the width.

    Shape: ``(N, H * W, C_in) -> (N, ceil(H / 2) * ceil(W / 2), C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, key_dim: int,
                 num_heads: int, attn_ratio: float, trained_grid: int,
                 bias_mode: str):
        value_dim = int(attn_ratio * key_dim)
        super().__init__(num_heads, key_dim, value_dim, out_channels,
                         trained_grid, 2, bias_mode, proj_bn_init=1.0)
        self.kv = LinearBN(in_channels, num_heads * (key_dim + value_dim))
        self.q = LinearBN(in_channels, num_heads * key_dim)

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        n, length, c = x.shape
        k, v = self.kv(x).view(n, length, self.num_heads, -1).split(
            [self.key_dim, self.value_dim], dim=3)
        if self.in_4d:
            queries = every_other_token(x, grid)
        else:
            queries = x.reshape(n, *grid, c)[:, ::2, ::2].reshape(n, -1, c)
        q = self.q(queries).view(n, -1, self.num_heads, self.key_dim)
        return self.attend(q.transpose(1, 2), k.transpose(1, 2),
                           v.transpose(1, 2), grid)


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
        n, _, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        if self.downsample is not None:
            tokens = self.downsample(tokens, (h, w))
            h, w = (h + 1) // 2, (w + 1) // 2  # ceil, traced sizes too
            tokens = self.downsample_mlp(tokens, (h, w))
        for block in self.blocks:
            tokens = block(tokens, (h, w))
        return tokens.transpose(1, 2).reshape(n, -1, h, w)


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
