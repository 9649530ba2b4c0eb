"""Deploy mode: folding BatchNorm and per-channel scales into the layers
next to them, and caching what depends on parameters alone.

Every backbone here has ``switch_to_deploy()`` (mmpretrain's name); the tools
call :func:`switch_model_to_deploy` on whole detectors and segmentors when a
config sets ``deploy = True`` (through
:class:`backbones.hooks.SwitchToDeployHook`).  Each fold computes the same function up to
float rounding (tested to 1e-5 relative against the eager model).
"""
from collections import OrderedDict
from typing import Callable, Hashable, Iterable, Optional

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


def fold_bn_into_next(bn: _BatchNorm, layer: nn.Module) -> None:
    """Fold a BatchNorm *before* ``layer`` into it: ``layer(bn(x))`` becomes
    ``layer(x)``.  Only exact where the layer sees no zero padding (a
    linear layer, or a conv with ``padding=0``)."""
    if isinstance(layer, nn.Conv2d) and (any(layer.padding) or
                                         layer.groups != 1):
        raise ValueError('a BatchNorm folds into a following conv only '
                         'without padding and groups')
    scale, shift = batchnorm_affine(bn)
    weight = layer.weight
    view = (1, -1) + (1, ) * (weight.dim() - 2)
    # W (s x + t) + b = (W s) x + (W t + b)
    extra = (weight * shift.view(view)).flatten(1).sum(1)
    bias = layer.bias if layer.bias is not None else weight.new_zeros(
        weight.shape[0])
    layer.weight = nn.Parameter(weight * scale.view(view))
    layer.bias = nn.Parameter(bias + extra)


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


class ParameterCache:
    """Tensors computed from parameters alone (LeViT's attention biases per
    grid, EdgeNeXt's positional encoding per size), kept for eval mode.

    An entry is used again while the parameters it came from are the same
    tensors, unmodified in place (``Tensor._version``), on the same device
    and dtype; the owner clears the cache when training resumes or weights
    load.  At most ``max_entries`` keys are kept, and fewer when their
    values together exceed ``max_values`` (the newest entry always stays).
    """

    def __init__(self, max_entries: int = 4, max_values: int = 2**27):
        self.max_entries = max_entries
        self.max_values = max_values
        self._entries = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, key: Hashable, params: Iterable[torch.Tensor],
            compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        stamp = tuple((id(p), p._version, p.device, p.dtype) for p in params)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(key)
            return entry[1]
        with torch.no_grad():
            value = compute()
        self._entries[key] = (stamp, value)
        while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or
                sum(v.numel() for _, v in self._entries.values()) >
                self.max_values):
            self._entries.popitem(last=False)
        return value


class ClearsCacheOnTrainOrLoad:
    """Mixin for a module holding a :class:`ParameterCache` in
    ``param_cache``: training or loading weights empties it."""

    def parameter_derived(self, key: Hashable, params: Iterable[torch.Tensor],
                          compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()`` afresh in training (gradients must reach the
        parameters), from the cache in eval mode."""
        if self.training:
            return compute()
        return self.param_cache.get(key, params, compute)

    def train(self, mode: bool = True):
        if mode:
            self.param_cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self.param_cache.clear()
        super()._load_from_state_dict(*args, **kwargs)
