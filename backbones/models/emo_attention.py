"""EMO's windowed attention in three formulations of the same function.

Windows are strided (grid) windows: window ``(i, j)`` of a map of
``(window_h * grid_h, window_w * grid_w)`` pixels gathers the pixels
``(i + a * grid_h, j + b * grid_w)`` (the official model's layout).

* eager (training, PyTorch inference): :func:`window_tokens` /
  :func:`tokens_to_map` on channels-last maps, the layout PyTorch's kernels
  are fastest in;
* deploy, any runtime with tensors of any rank (onnxruntime, OpenVINO):
  :func:`attention_in_tokens`, one transpose into tokens and one back per
  block, the LayerNorm and every per-head product on tokens;
* deploy, at most 4 dims (ncnn, and the ``torch.export`` runtimes:
  XNNPACK takes it whole): :func:`attention_in_tokens_4d`, q, k and v into
  windows together.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tracing import sizes


def window_tokens(x: torch.Tensor, window: Tuple[int, int]) -> torch.Tensor:
    """Tokens of strided (grid) windows of a map whose size they divide.

    Window ``(i, j)`` gathers the pixels ``(i + a * grid_h, j + b * grid_w)``
    for ``a < window_h, b < window_w``: each window samples the whole map on
    a grid instead of covering a local square.

    Args:
        x: ``(N, C, window_h * grid_h, window_w * grid_w)``, best in the
            channels-last memory format (then only the final reshape
            copies).
        window: ``(window_h, window_w)``.

    Returns:
        ``(N * grid_h * grid_w, window_h * window_w, C)``, windows in
        ``(n, i, j)`` order, tokens in ``(a, b)`` order.
    """
    n, c, h, w = x.shape
    wh, ww = window
    x = x.permute(0, 2, 3, 1).reshape(n, wh, h // wh, ww, w // ww, c)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(-1, wh * ww, c)


def tokens_to_map(tokens: torch.Tensor, window: Tuple[int, int],
                  size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_tokens`.

    Args:
        tokens: ``(N * grid_h * grid_w, window_h * window_w, C)``.
        window: ``(window_h, window_w)``.
        size: ``(window_h * grid_h, window_w * grid_w)``.

    Returns:
        ``(N, C, H, W)`` in the channels-last memory format.
    """
    (wh, ww), (h, w) = window, size
    gh, gw = h // wh, w // ww
    c = tokens.shape[-1]
    x = tokens.reshape(-1, gh, gw, wh, ww, c).permute(0, 3, 1, 4, 2, 5)
    # With a single window the reshape is a view whose strides convs do not
    # recognise as channels-last (they would fall back to a slow kernel).
    return x.reshape(-1, h, w, c).permute(0, 3, 1, 2).contiguous(
        memory_format=torch.channels_last)


def normalised_pixels(x: torch.Tensor, norm: Optional[nn.LayerNorm],
                      padded: Tuple[int, int],
                      padding: bool) -> torch.Tensor:
    """``(N, C, H, W)`` -> channels-last ``(N, padded_h, padded_w, C)``:
    normalised (``norm``: one ``LayerNormalization`` over the last axis;
    None when ``x`` is normalised already), then padded with zeros at the
    bottom and right, after the norm, as the eager model pads."""
    _, _, h, w = sizes(x)
    pixels = x.permute(0, 2, 3, 1)
    if norm is not None:
        pixels = F.layer_norm(pixels, norm.normalized_shape, norm.weight,
                              norm.bias, norm.eps)
    if padding:
        pixels = F.pad(pixels, (0, 0, 0, padded[1] - w, 0, padded[0] - h))
    return pixels


def cropped_to_map(pixels: torch.Tensor, size: Tuple[int, int],
                   padding: bool) -> torch.Tensor:
    """Channels-last ``(N, padded_h, padded_w, C)`` -> ``(N, C, H, W)``,
    the bottom and right padding cropped off first."""
    if padding:
        pixels = pixels[:, :size[0], :size[1]]
    return pixels.permute(0, 3, 1, 2)


def attention_in_tokens(x: torch.Tensor, norm: Optional[nn.LayerNorm],
                        qk: nn.Linear, heads: int,
                        window: Tuple[int, int], padded: Tuple[int, int],
                        padding: bool) -> torch.Tensor:
    """Pre-norm + windowed self-attention whose values are the normalised
    input, for runtimes whose tensors have any rank.

    The LayerNorm runs on channels-last pixels (one
    ``LayerNormalization`` over the last axis), the windows become
    ``(N, windows, tokens, C)``, q and k come per head from one broadcast
    matrix product each (the ``qk`` layer's weights; deploy folded the
    logits' scale into its q channels).  Every transpose moves contiguous
    runs of values except the first (NCHW -> NHWC, which runtimes have fast
    kernels for); measured
    against one 6-D transpose each way, which moves single values, this
    took SSDLite-EMO-1M from 18.7 to 15.9 ms on onnxruntime
    (docs/speed.md).  Padded pixels are zero after the norm, as in the
    eager model.

    Args:
        x: ``(N, C, H, W)``, before the norm.
        norm: the block's LayerNorm over C; None when ``x`` is normalised
            already (a block with another norm).
        qk: the block's 1x1 conv ``C -> 2C`` as a linear layer (q channels
            first, each ``heads x head_dim``; deploy makes it one).
        window: ``(window_h, window_w)``; ``padded`` the map size after zero
            padding at the bottom and right, divisible by the window;
            ``padding`` whether there is any (always, for a free input size).

    Returns:
        ``(N, C, H, W)``: the padding is cropped off while the pixels are
        still channels-last, so that the last permute is one that runtimes
        merge with the reorder into the next convolution (cropping after
        it cost OpenVINO a transpose, a slice and a reorder per block:
        SSDLite-EMO-1M 15.7 -> 15.4 ms, onnxruntime 17.3 -> 16.9, LiteRT
        13.6 -> 13.2; docs/speed.md).
    """
    n, c, _, _ = sizes(x)
    (wh, ww), (ph, pw) = window, padded
    gh, gw = ph // wh, pw // ww
    head_dim = int(x.shape[1]) // heads

    # then the windows: this transpose moves whole pixels (C values),
    # which runtimes copy fast
    tokens = normalised_pixels(x, norm, padded, padding)
    tokens = tokens.reshape(n, wh, gh, ww, gw, c).permute(
        0, 2, 4, 1, 3, 5).reshape(n, gh * gw, wh * ww, c)
    weight = qk.weight.reshape(2, heads, head_dim, -1).transpose(2, 3)
    bias = qk.bias.reshape(2, heads, 1, head_dim) if qk.bias is not None \
        else weight.new_zeros(2, heads, 1, head_dim)
    per_head = tokens.unsqueeze(2)  # (N, G, 1, T, C)
    q = per_head @ weight[0] + bias[0]
    k = per_head @ weight[1] + bias[1]  # (N, G, heads, T, head_dim)
    v = tokens.reshape(n, gh * gw, wh * ww, heads, head_dim).transpose(2, 3)
    out = (q @ k.transpose(-2, -1)).softmax(-1) @ v
    # heads back into pixels, windows back into the map, channels first:
    # each transpose moves contiguous runs (head_dim, then C values)
    out = out.transpose(2, 3).reshape(n, gh, gw, wh, ww, c)
    out = out.permute(0, 3, 1, 4, 2, 5).reshape(n, ph, pw, c)
    return cropped_to_map(out, sizes(x, 2), padding)


def attention_in_tokens_4d(x: torch.Tensor, norm: Optional[nn.LayerNorm],
                           qk: nn.Linear, heads: int,
                           window: Tuple[int, int], padded: Tuple[int, int],
                           padding: bool) -> torch.Tensor:
    """:func:`attention_in_tokens` through tensors of at most 4 dims
    (ncnn's limit, and what XNNPACK takes whole): the same arguments and
    result.

    The normalised pixels and their q and k (one linear layer over the
    channels-last pixels, as a ``(N, L, C)`` product: pnnx turns a linear
    layer on a 4-D tensor into reshapes ncnn runs slowly) go into windows
    together, in two transposes that move contiguous runs (``grid_w * 3C``
    values, then ``3C``); heads split off in one more.  Partitioning q, k
    and v one at a time took 14 transposes a block.
    """
    n, c, _, _ = sizes(x)
    (wh, ww), (ph, pw) = window, padded
    gh, gw = ph // wh, pw // ww
    head_dim = int(x.shape[1]) // heads
    pixels = normalised_pixels(x, norm, padded, padding).reshape(
        n, ph * pw, c)
    qk_pixels = qk(pixels)  # the scale is in its q channels (deploy)
    # (q, k, v) per pixel; pixel (a * grid_h + i, b * grid_w + j) is token
    # (a, b) of window (i, j): rows split as (a, i), columns as (b, j)
    qkv = torch.cat([qk_pixels, pixels], -1)
    qkv = qkv.reshape(n * wh, gh, ww, gw * 3 * c).transpose(1, 2)
    qkv = qkv.reshape(n, wh * ww, gh * gw, 3 * c).transpose(1, 2)
    qkv = qkv.reshape(n * gh * gw, wh * ww, 3 * heads, head_dim)
    q, k, v = qkv.transpose(1, 2).split(heads, dim=1)
    out = (q @ k.transpose(-2, -1)).softmax(-1) @ v  # (windows, heads, T, d)
    out = out.transpose(1, 2).reshape(n, gh * gw, wh * ww, c).transpose(1, 2)
    out = out.reshape(n * wh, ww, gh, gw * c).transpose(1, 2)
    return cropped_to_map(out.reshape(n, ph, pw, c), sizes(x, 2), padding)
