"""LeViT's attention at any token grid: a learned bias per head and
``(|dy|, |dx|)`` token offset (trained for the 14x14 grid of 224x224
images), gathered for the input's grid by ``bias_mode`` (the family's
docstring in :mod:`backbones.models.levit`), added to the logits; the
self-attention of a stage and the subsample attention between stages.
Tokens are ``(N, H * W, C)``.  Kept apart from ``levit.py`` because it is
the part of the family that is about input sizes: caches, traced grids,
the deploy formulation."""
from functools import lru_cache
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from .folding import (batchnorm_affine, fold_scale_into_queries,
                      linear_rows, scale_output_channels)
from .param_cache import ClearsCacheOnTrainOrLoad, ParameterCache
from .tracing import sizes, sizes_are_free

BIAS_MODES = ('absolute', 'interpolate')
# Gathered biases kept per attention module in eval mode: the last few grid
# sizes, within a budget of values (one (4, 4200, 4200) bias of a stage-1
# block at 800x1333 is 71M values, 282 MB; the newest entry always stays).
BIAS_CACHE_SIZE = 4
BIAS_CACHE_VALUES = 2**27



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


def biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     bias: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T + bias) v`` for ``q``: ``(N, heads, Lq, d)``,
    ``k``: ``(N, heads, L, d)``, ``v``: ``(N, heads, L, dv)``, ``bias``:
    ``(heads, Lq, L)`` -> ``(N, heads, Lq, dv)`` (deploy mode: the logits'
    scale is in q)."""
    return (q @ k.transpose(-2, -1) + bias).softmax(dim=-1) @ v


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
        # deploy mode: heads per product (None: all at once); ncnn's export
        # sets 2 (models.folding.heads_in_pairs)
        self.heads_per_product = None

    def fold_for_deploy(self) -> None:
        """Deploy mode: batched products instead of the per-image
        ``baddbmm``, and strided queries without strided slices: the same
        attention in ops and tensors (at most 4 dims) every runtime has.
        The logits' scale goes into the query projection (after its
        BatchNorm's fold: innermost blocks fold first), which saves a pass
        over the largest tensor of the block, ``(heads, queries, keys)``
        (ncnn ran it as a layer of its own)."""
        self.in_4d = True
        projection, queries = self.query_projection()
        fold_scale_into_queries(projection, self.scale, queries)
        self.scale = 1.0
        self.split_projections()

    def split_projections(self) -> None:
        """Deploy mode, after the folds: each of q, k and v from a linear
        layer of its own rather than one projection split in parts
        (OpenVINO's VariadicSplit, ncnn's Slice)."""
        raise NotImplementedError

    def layer_per_part(self, linear: nn.Linear,
                       parts: Sequence[int]) -> nn.ModuleList:
        """One linear layer (own parameters) per part of ``linear``'s
        outputs, whose heads each hold ``parts`` side by side."""
        rows = torch.arange(linear.out_features).view(self.num_heads, -1)
        return nn.ModuleList(linear_rows(linear, part.flatten())
                             for part in rows.split(list(parts), dim=1))

    def heads_of(self, projection: nn.Module, x: torch.Tensor,
                 parts: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        """The parts (widths ``parts`` per head) that ``projection`` makes
        of tokens ``x`` ``(N, L, C)``, each ``(N, L, heads, width)``: from
        its layer per part in deploy mode (:meth:`layer_per_part`), else
        split from its one output."""
        n, length, _ = x.shape
        if isinstance(projection, nn.ModuleList):
            return tuple(layer(x).view(n, length, self.num_heads, -1)
                         for layer in projection)
        return projection(x).view(n, length, self.num_heads, -1).split(
            list(parts), dim=3)

    def query_projection(self) -> Tuple[nn.Linear, object]:
        """The linear layer whose outputs hold the queries, and the index
        of its query channels."""
        raise NotImplementedError

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
        (196 to 4200 tokens: 0.5x-0.8x its time; docs/backbones.md, "LeViT").
        """
        bias = self.attention_bias(grid)
        if self.in_4d and self.heads_per_product:
            size = self.heads_per_product
            out = torch.cat([
                biased_attention(q[:, h:h + size], k[:, h:h + size],
                                 v[:, h:h + size], bias[h:h + size])
                for h in range(0, self.num_heads, size)], dim=1)
        elif self.in_4d:  # deploy mode: the scale is in q
            out = biased_attention(q, k, v, bias)
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

    def query_projection(self) -> Tuple[nn.Linear, torch.Tensor]:
        per_head = torch.arange(self.qkv.linear.out_features).view(
            self.num_heads, -1)
        return self.qkv.linear, per_head[:, :self.key_dim].flatten()

    def split_projections(self) -> None:
        self.qkv = self.layer_per_part(
            self.qkv.linear, (self.key_dim, self.key_dim, self.value_dim))

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        q, k, v = self.heads_of(self.qkv, x,
                                (self.key_dim, self.key_dim, self.value_dim))
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

    def query_projection(self) -> Tuple[nn.Linear, slice]:
        return self.q.linear, slice(None)

    def split_projections(self) -> None:
        self.kv = self.layer_per_part(self.kv.linear,
                                      (self.key_dim, self.value_dim))

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        n, _, c = x.shape
        k, v = self.heads_of(self.kv, x, (self.key_dim, self.value_dim))
        if self.in_4d:
            queries = every_other_token(x, grid)
        else:
            queries = x.reshape(n, *grid, c)[:, ::2, ::2].reshape(n, -1, c)
        q = self.q(queries).view(n, -1, self.num_heads, self.key_dim)
        return self.attend(q.transpose(1, 2), k.transpose(1, 2),
                           v.transpose(1, 2), grid)
