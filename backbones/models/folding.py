"""Deploy mode: folding BatchNorm and per-channel scales into the layers
next to them.

One protocol: a block with an exact fold of its own (a layer scale into the
projection before it, a BatchNorm into the unpadded conv after it; for a
backbone, a fold across its blocks) has a ``fold_for_deploy()`` method;
:func:`fold_for_deploy` calls every such method of a module tree, the
innermost first, then folds each BatchNorm that follows a conv or linear
layer.  Every backbone's ``switch_to_deploy()`` (mmpretrain's name) is that
one traversal; the tools call :func:`switch_model_to_deploy` on whole
detectors and segmentors when a config sets ``deploy = True`` (through
:class:`backbones.engine.hooks.SwitchToDeployHook`).  Each fold computes the
same function up to float rounding (tested to 1e-5 relative against the
eager model).
"""
import contextlib
from typing import Any, Callable, Iterator, List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_affine(bn: _BatchNorm):
    """``(scale, shift)`` with ``bn(x) == x * scale + shift`` in eval mode."""
    scale = bn.running_var.add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def scale_output_channels(layer: nn.Module, scale: torch.Tensor,
                          shift: Optional[torch.Tensor] = None) -> None:
    """Make a conv/linear layer compute ``layer(x) * scale + shift`` per
    output channel (adding a bias if it has none)."""
    weight = layer.weight
    view = (-1, ) + (1, ) * (weight.dim() - 1)
    bias = layer.bias if layer.bias is not None else weight.new_zeros(
        weight.shape[0])
    if shift is None:
        shift = torch.zeros_like(bias)
    layer.weight = nn.Parameter(weight * scale.view(view))
    layer.bias = nn.Parameter(bias * scale + shift)


def fold_scale_into_queries(projection: nn.Module, scale: float,
                            queries) -> None:
    """Attention logits ``(q k^T) * scale`` as ``(q * scale) k^T``: the
    projection's query channels (``queries``, anything that indexes its
    output channels) are multiplied by ``scale``, which then leaves the
    attention (a pass over its largest tensor less)."""
    factor = projection.weight.new_ones(projection.weight.shape[0])
    factor[queries] = scale
    scale_output_channels(projection, factor)


def linear_rows(linear: nn.Linear, rows) -> nn.Linear:
    """The linear layer computing the output channels ``rows`` (anything
    that indexes them) of ``linear``, with parameters of its own."""
    weight = linear.weight[rows]
    part = nn.Linear(linear.in_features, weight.shape[0],
                     bias=linear.bias is not None).to(weight)
    with torch.no_grad():
        part.weight.copy_(weight)
        if linear.bias is not None:
            part.bias.copy_(linear.bias[rows])
    return part


def conv1x1_from(linear: nn.Linear, rows: slice = slice(None)) -> nn.Conv2d:
    """The 1x1 conv computing ``linear`` (its output channels ``rows``) at
    every pixel of an NCHW map, with parameters of its own (a copy:
    exporters take a view of another layer's weight as computation)."""
    part = linear_rows(linear, rows)
    conv = nn.Conv2d(part.in_features, part.out_features, 1,
                     bias=part.bias is not None).to(part.weight)
    with torch.no_grad():
        conv.weight.copy_(part.weight[:, :, None, None])
        if part.bias is not None:
            conv.bias.copy_(part.bias)
    return conv


def fold_affine_into_next(scale: torch.Tensor, shift: Optional[torch.Tensor],
                          layer: nn.Module) -> None:
    """Fold a per-channel affine map *before* ``layer`` into it:
    ``layer(x * scale + shift)`` becomes ``layer(x)``.  Only exact where the
    layer sees no zero padding (a linear layer, or a conv with
    ``padding=0`` and no groups)."""
    if isinstance(layer, nn.Conv2d) and (any(layer.padding) or
                                         layer.groups != 1):
        raise ValueError('a per-channel affine map folds into a following '
                         'conv only without padding and groups')
    weight = layer.weight
    view = (1, -1) + (1, ) * (weight.dim() - 2)
    bias = layer.bias if layer.bias is not None else weight.new_zeros(
        weight.shape[0])
    if shift is not None:  # W (s x + t) + b = (W s) x + (W t + b)
        bias = bias + (weight * shift.view(view)).flatten(1).sum(1)
    layer.weight = nn.Parameter(weight * scale.view(view))
    layer.bias = nn.Parameter(bias)


def layernorm_affine_folded(norm: nn.LayerNorm,
                            *layers: nn.Module) -> nn.LayerNorm:
    """Fold ``norm``'s affine map into each of ``layers``, which all read
    its output (:func:`fold_affine_into_next`); returns the LayerNorm (same
    class) without it, to put in its place."""
    for layer in layers:
        fold_affine_into_next(norm.weight, norm.bias, layer)
    return type(norm)(norm.normalized_shape, eps=norm.eps,
                      elementwise_affine=False)


def merge_pointwise_convs(first: nn.Conv2d, second: nn.Conv2d) -> None:
    """Make ``second`` compute ``second(first(x))``: two 1x1 convs with
    nothing between them are one, ``W2 W1`` with bias ``W2 b1 + b2``
    (``(N, C1, H, W) -> (N, C3, H, W)`` in one pass instead of two, and
    fewer MACs when the middle is no narrower than the input).  ``first``
    is then dead: its caller drops it."""
    for conv in (first, second):
        if conv.kernel_size != (1, 1) or conv.stride != (1, 1) or \
                any(conv.padding) or conv.groups != 1:
            raise ValueError('only unpadded, unstrided, ungrouped 1x1 convs '
                             'merge')
    inner, outer = first.weight.flatten(1), second.weight.flatten(1)
    bias = second.bias if second.bias is not None else \
        outer.new_zeros(outer.shape[0])
    if first.bias is not None:
        bias = bias + outer @ first.bias
    second.in_channels = first.in_channels
    second.weight = nn.Parameter((outer @ inner)[:, :, None, None])
    second.bias = nn.Parameter(bias)


def fold_bn_into_next(bn: _BatchNorm, layer: nn.Module) -> None:
    """Fold a BatchNorm *before* ``layer`` into it: ``layer(bn(x))`` becomes
    ``layer(x)`` (:func:`fold_affine_into_next`)."""
    fold_affine_into_next(*batchnorm_affine(bn), layer)


def fuse_linear_bn(module: nn.Module) -> None:
    """Fold every BatchNorm registered right after a ``nn.Linear`` sibling
    into it (mmcv's :func:`~mmcv.cnn.fuse_conv_bn` does this for convs)."""
    last_linear = None
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and last_linear is not None:
            scale_output_channels(last_linear, *batchnorm_affine(child))
            module._modules[name] = nn.Identity()
            last_linear = None
        elif isinstance(child, nn.Linear):
            last_linear = child
        else:
            last_linear = None
            fuse_linear_bn(child)


def fold_batchnorms(module: nn.Module) -> None:
    """Fold every BatchNorm that follows a conv or linear layer into it."""
    fuse_conv_bn(module)
    fuse_linear_bn(module)


def fold_for_deploy(module: nn.Module) -> None:
    """Every block's own ``fold_for_deploy()`` (innermost first, so
    ``module``'s own, a fold across its blocks, comes last), then the
    BatchNorms that follow a conv or linear layer."""
    for block in reversed(list(module.modules())):
        if hasattr(block, 'fold_for_deploy'):
            block.fold_for_deploy()
    fold_batchnorms(module)


def switch_model_to_deploy(model: nn.Module) -> nn.Module:
    """Deploy any module holding our backbones (a detector, a segmentor, a
    wrapper around one): every submodule with its own ``switch_to_deploy``
    switches itself, conv/linear + BN pairs are folded everywhere else.
    Returns the model, in eval mode."""
    model.eval()
    with torch.no_grad():
        _switch_to_deploy(model)
    return model


def _switch_to_deploy(module: nn.Module) -> None:
    if hasattr(module, 'switch_to_deploy'):
        module.switch_to_deploy()
    elif any(hasattr(m, 'switch_to_deploy') for m in module.modules()):
        # A backbone's registration order need not be its execution order:
        # it is only ever folded by its own switch_to_deploy.
        for child in module.children():
            _switch_to_deploy(child)
    else:
        fold_batchnorms(module)


@contextlib.contextmanager
def switched(module: nn.Module, switch: str,
             value_for: Callable[[nn.Module], Any]) -> Iterator[nn.Module]:
    """Within the block, every block of ``module`` that has the attribute
    ``switch`` has it set to ``value_for(block)``; restored afterwards, so
    one deployed model serves every runtime."""
    blocks = [m for m in module.modules() if hasattr(m, switch)]
    before = [getattr(m, switch) for m in blocks]
    for block in blocks:
        setattr(block, switch, value_for(block))
    try:
        yield module
    finally:
        for block, value in zip(blocks, before):
            setattr(block, switch, value)


def replace_children(module: nn.Module, replacement_for: Callable[
        [nn.Module], Optional[nn.Module]]) -> List[tuple]:
    """Every submodule of ``module`` for which ``replacement_for`` returns
    a module becomes that module; returns ``(parent, name, replaced
    child)`` for each, to put them back."""
    swapped = []
    for parent in module.modules():
        for name, child in parent.named_children():
            replacement = replacement_for(child)
            if replacement is not None:
                swapped.append((parent, name, child, replacement))
    for parent, name, _, replacement in swapped:
        parent._modules[name] = replacement
    return [(parent, name, child) for parent, name, child, _ in swapped]


@contextlib.contextmanager
def children_replaced(module: nn.Module, replacement_for: Callable[
        [nn.Module], Optional[nn.Module]]) -> Iterator[nn.Module]:
    """Within the block, :func:`replace_children`; restored afterwards."""
    swapped = replace_children(module, replacement_for)
    try:
        yield module
    finally:
        for parent, name, child in swapped:
            parent._modules[name] = child


def at_most_4d(module: nn.Module):
    """Within the block, every deploy-mode block of ``module`` that has a
    formulation through tensors of at most 4 dims (an ``in_4d`` switch)
    uses it: what an export to ncnn needs.  Each formulation computes the
    same function (the backbone contract test)."""
    return switched(module, 'in_4d', lambda block: True)


def heads_in_pairs(module: nn.Module):
    """Within the block, attention blocks that can compute their heads a
    few at a time (a ``heads_per_product`` switch) compute them two at a
    time where they have a multiple of 4 heads: what ncnn needs to use its
    threads there.  ncnn packs 4 (8 with AVX) channels of a blob into one
    and shares a Softmax or BinaryOp out between threads by packed
    channels, so LeViT's ``(4 heads, queries, keys)`` logits ran their bias
    add and softmax on one thread (its x86 Softmax source; 2 of 16 ms of
    SSDLite-LeViT-128S's graph, 20 of 86 ms of DeepLabv3's at 512).  Two
    heads are never packed."""
    return switched(
        module, 'heads_per_product', lambda block: 2
        if block.num_heads % 4 == 0 else block.heads_per_product)


def affine_layernorms_on_maps(module: nn.Module):
    """Within the block, the LayerNorms over the channels of a map that
    keep an affine map (EdgeNeXt's stem) export as reductions over the
    channel axis and a broadcast multiply and add, as those without one
    do: what OpenVINO runs faster (SSDLite-EdgeNeXt-XXS 10.1 -> 9.7 ms,
    layout share 9.9 -> 5.3 %; docs/speed.md).  Not the default:
    onnxruntime runs a transpose either side of its ``LayerNormalization``
    faster (13.6 against 14.3 ms), and from ``torch.export`` ExecuTorch
    1.4.1 stopped at run time (its portable split kernel found the outputs
    of the SDTA split after the stem in another dim order than its
    input)."""
    return switched(module, 'affine_on_maps', lambda norm: True)


def only_centre_tap_reaches(conv: nn.Conv2d, size) -> bool:
    """Whether every off-centre tap of ``conv`` reads zero padding at
    every output position of an ``(H, W)`` input: an odd kernel with
    'same' zero padding, stride 1 and a dilation at least the input's side
    on each axis (DeepLabv3's ASPP at dilations 24 and 36 on the 16x16 map
    of a 512x512 image)."""
    return conv.stride == (1, 1) and conv.padding_mode == 'zeros' and all(
        k % 2 == 1 and p == d * (k - 1) // 2 and d >= side
        for k, p, d, side in zip(conv.kernel_size, conv.padding,
                                 conv.dilation, size))


def centre_taps(conv: nn.Conv2d) -> nn.Conv2d:
    """The 1x1 convolution of ``conv``'s centre taps (own parameters)."""
    centre = conv.kernel_size[0] // 2, conv.kernel_size[1] // 2
    one = nn.Conv2d(conv.in_channels, conv.out_channels, 1,
                    groups=conv.groups,
                    bias=conv.bias is not None).to(conv.weight)
    with torch.no_grad():
        one.weight.copy_(conv.weight[:, :, centre[0], centre[1], None, None])
        if conv.bias is not None:
            one.bias.copy_(conv.bias)
    return one


def dilated_conv_input_sizes(module: nn.Module, example: tuple) -> dict:
    """Runs ``module`` on ``example`` (no gradients) and returns the
    ``(H, W)`` sizes each dilated convolution of it was called at, one
    per call."""
    sizes = {}
    hooks = [conv.register_forward_pre_hook(
        lambda conv, args: sizes.setdefault(conv, []).append(
            tuple(args[0].shape[-2:])))
        for conv in module.modules()
        if isinstance(conv, nn.Conv2d) and max(conv.dilation) > 1]
    try:
        with torch.no_grad():
            module(*example)
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def padding_taps_dropped(module: nn.Module, sizes: dict):
    """Within the block, each dilated convolution of ``module`` whose
    off-centre taps only ever read zero padding at the ``sizes`` it is
    called at (:func:`dilated_conv_input_sizes`,
    :func:`only_centre_tap_reaches`) is the 1x1 convolution of its centre
    taps: the same outputs at those sizes for a ninth of a 3x3's products.
    For exports at a static size; restored afterwards."""
    return children_replaced(module, lambda child: centre_taps(child) if (
        child in sizes and all(only_centre_tap_reaches(child, size)
                               for size in sizes[child])) else None)


def gelu_written_out(module: nn.Module):
    """Within the block, every exact ``nn.GELU`` of ``module`` is an
    :class:`~backbones.models.layers.ErfGELU` (for converters that fuse
    GELU into an approximation); restored afterwards."""
    from .layers import ErfGELU
    return children_replaced(module, lambda child: ErfGELU() if isinstance(
        child, nn.GELU) and child.approximate == 'none' else None)
