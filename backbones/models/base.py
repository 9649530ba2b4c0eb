"""What every backbone family in this package shares.

* :class:`MultiScaleBackbone` owns the behaviour every backbone here must share
  with mmdet/mmseg backbones: ``out_indices``, ``frozen_stages``,
  ``norm_eval`` and exact loading of pretrained weights from ``init_cfg``.
"""
import math
import re
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import InputError


class FeatureInfo(NamedTuple):
    """One feature map a backbone can emit: its channels and its stride
    with respect to the input."""
    channels: int
    stride: int


def drop_path(rate: float) -> nn.Module:
    """Stochastic depth for a residual branch; nothing at rate 0."""
    if not 0 <= rate < 1:
        raise ValueError(f'drop_path_rate must be in [0, 1): a block would '
                         f'drop its residual with probability {rate:g}.')
    return DropPath(rate) if rate > 0 else nn.Identity()


def rename_official_keys(
        state_dict: dict, renames: Sequence[Tuple[str, str]],
        classifier_prefixes: Tuple[str, ...] = ('norm.', 'head.')
) -> Tuple[dict, List[str]]:
    """Map an official state dict onto a backbone's keys.

    Keys under ``classifier_prefixes`` (the ImageNet head) are dropped and
    returned; every other key goes through the ``(pattern, replacement)``
    regex ``renames`` in order.  Keys that no rename fits stay as they are
    and show up as unexpected when the result is compared with the module.
    """
    converted, dropped = {}, []
    for key, value in state_dict.items():
        if key.startswith(classifier_prefixes):
            dropped.append(key)
            continue
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        converted[key] = value
    return converted, dropped


def resolve_arch(arch, arch_settings: Dict[str, dict], defaults: dict,
                 required_keys: Sequence[str],
                 per_stage_keys: Sequence[str], family: str) -> dict:
    """Settings of a named variant, or of a custom dict, over ``defaults``.

    Every key in ``per_stage_keys`` must hold one entry per stage (as many
    as ``depths``).

    Raises:
        ValueError: unknown variant name, a custom dict missing keys, or a
            per-stage setting of the wrong length.
    """
    if isinstance(arch, str):
        lowered = {name.lower(): name for name in arch_settings}
        if arch.lower() not in lowered:
            raise ValueError(
                f'Unknown {family} arch {arch!r}; choose one of '
                f'{sorted(arch_settings)} or pass a dict with keys '
                f'{list(required_keys)}.')
        chosen = arch_settings[lowered[arch.lower()]]
    elif isinstance(arch, dict):
        missing = [k for k in required_keys if k not in arch]
        if missing:
            raise ValueError(
                f'Custom {family} arch is missing keys {missing} '
                f'(required: {list(required_keys)}).')
        chosen = arch
    else:
        raise TypeError(f'{family} arch must be a str or a dict, '
                        f'got {type(arch).__name__}.')
    settings = dict(defaults, **chosen)
    for key in per_stage_keys:
        per_stage(settings[key], len(settings['depths']),
                  f'{family} arch {key}')
    return settings


def per_stage(value, num_stages: int, name: str) -> List:
    """Broadcast a scalar to ``num_stages`` entries or check a sequence."""
    if isinstance(value, (list, tuple)):
        if len(value) != num_stages:
            raise ValueError(f'{name} needs {num_stages} entries (one per '
                             f'stage), got {len(value)}: {list(value)}.')
        return list(value)
    return [value] * num_stages


class MultiScaleBackbone(BaseModule):
    """Base class of the backbones: ``layers[i]`` yields feature map ``i``.

    A subclass builds ``self.layers`` (an ``nn.ModuleList`` run in order),
    sets ``self.feature_info`` (one :class:`FeatureInfo` per layer), then
    calls :meth:`_finish_init`.  Layers after the deepest
    map in ``out_indices`` are kept (pretrained files still load) but never
    run, and their parameters do not require gradients.

    Args:
        out_indices: indices of the maps to return (negative values count
            from the end).
        frozen_stages: ``-1`` freezes nothing; ``k`` puts ``layers[0..k]``
            in eval mode with ``requires_grad=False``.
        norm_eval: keep every BatchNorm in eval mode while training.
        init_cfg: mmengine init config; ``dict(type='Pretrained',
            checkpoint=PATH)`` loads weights through
            :func:`backbones.checkpoint.load_backbone_checkpoint`, which
            accepts the official release layout and refuses partial matches.
        pretrained: deprecated alias of a ``Pretrained`` init_cfg (mmseg's
            ``EncoderDecoder`` injects ``model.pretrained`` here).
    """

    # Subclasses set this to a function turning an official state dict into
    # ``(state dict in this module's layout, official keys dropped)``.
    convert_official: Optional[Callable[[dict], Tuple[dict, list]]] = None
    # Convolutional families run faster on CPU with activations in the
    # channels-last memory format (oneDNN's native layout; depthwise and
    # 1x1 convs gain most); the maps they return keep that format.  The
    # parameters stay plain contiguous tensors: a conv follows its input's
    # format, and channels-last weights broke view-based helpers
    # (parameters_to_vector) and torch.export lowering (ExecuTorch) for
    # nothing: 0.98-1.02x eager and 0.98-0.99x a training step, measured
    # on every family (AMD EPYC, 2 threads).
    channels_last: bool = False
    # Smallest input side the layers accept (below it a floor-mode strided
    # conv has nothing left to slide over).
    min_input_size: int = 1

    def __init__(self, out_indices, frozen_stages: int, norm_eval: bool,
                 init_cfg=None, pretrained: Optional[str] = None):
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('Give either init_cfg or pretrained, '
                                 'not both.')
            warnings.warn('`pretrained` is deprecated, use '
                          "init_cfg=dict(type='Pretrained', checkpoint=...)")
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)
        self._requested_out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deployed = False

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def _finish_init(self) -> None:
        """Validate the arguments against the built layers, then freeze."""
        n = self.num_layers
        indices = self._requested_out_indices
        if isinstance(indices, int):
            indices = (indices, )
        if not isinstance(indices, Sequence) or not indices:
            raise TypeError(f'out_indices must be a non-empty sequence of '
                            f'ints, got {indices!r}.')
        normalised = []
        for index in indices:
            if not isinstance(index, int) or not -n <= index < n:
                raise ValueError(
                    f'out_indices entry {index!r} is out of range for '
                    f'{type(self).__name__}: it has {n} feature maps '
                    f'(valid indices 0..{n - 1} or -{n}..-1).')
            normalised.append(index % n)
        if len(set(normalised)) != len(normalised):
            raise ValueError(f'out_indices has duplicates: {indices!r}.')
        self.out_indices = tuple(sorted(normalised))
        self.in_channels = next(m for m in self.modules()
                                if isinstance(m, nn.Conv2d)).in_channels
        if not isinstance(self.frozen_stages, int) or \
                not -1 <= self.frozen_stages < n:
            raise ValueError(
                f'frozen_stages={self.frozen_stages!r} is out of range for '
                f'{type(self).__name__}: use -1 (nothing) up to {n - 1}.')
        self._freeze_stages()
        # Layers after the deepest requested map never run; without
        # gradients they would stop DistributedDataParallel ("parameters
        # that were not used in producing loss").
        for layer in self.layers[self.out_indices[-1] + 1:]:
            for param in layer.parameters():
                param.requires_grad = False

    def unused_parameter_count(self) -> int:
        """Parameters of the layers after the deepest requested map: kept so
        that pretrained files load, but never run."""
        unused = self.layers[self.out_indices[-1] + 1:]
        return sum(p.numel() for layer in unused for p in layer.parameters())

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned map, in output order."""
        return tuple(self.feature_info[i].channels for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        """Stride (w.r.t. the input) of each returned map."""
        return tuple(self.feature_info[i].stride for i in self.out_indices)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputError` naming what is wrong with an input batch
        (layout, channels, emptiness, size, NaN/Inf) before a layer fails on
        it with a message about its own weights, or returns NaN maps.

        The NaN/Inf check runs for CPU tensors only: it reads one scalar
        back, which on CUDA would be a host sync on every forward.  Shape
        checks cost nothing and run everywhere."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise InputError(f'{name} expects a float tensor of shape (N, '
                             f'{self.in_channels}, H, W), got a '
                             f'{type(x).__name__}.')
        shape = 'x'.join(map(str, x.shape))
        if x.dim() != 4 or not x.is_floating_point():
            raise InputError(f'{name} expects a float tensor of shape (N, '
                             f'{self.in_channels}, H, W), got {x.dtype} '
                             f'{shape}.')
        if x.shape[1] != self.in_channels:
            raise InputError(f'{name} expects {self.in_channels} input '
                             f'channels, got {x.shape[1]} (input {shape}); '
                             f'load grey images as colour.')
        if x.shape[0] == 0:
            raise InputError(f'{name} got an empty batch (input {shape}).')
        if min(x.shape[2:]) < self.min_input_size:
            raise InputError(f'{name} needs inputs of at least '
                             f'{self.min_input_size}x{self.min_input_size} '
                             f'pixels, got {shape}.')
        weight = next(self.parameters(), None)
        # autocast casts inputs and weights itself; elsewhere a mismatch
        # fails deep inside the first conv, naming neither
        if weight is not None and x.dtype != weight.dtype and \
                not torch.is_autocast_enabled(x.device.type):
            raise InputError(f'{name} holds {weight.dtype} weights but got '
                             f'a {x.dtype} input ({shape}): convert the '
                             f'input (x.to({weight.dtype})) or the model.')
        if torch.jit.is_tracing() or torch.jit.is_scripting() or \
                torch.compiler.is_compiling() or x.device.type != 'cpu':
            # Data-dependent checks do not trace; on an accelerator reading
            # the sum back would make every forward wait for the device (a
            # host sync per call), so there a NaN input surfaces as a
            # non-finite loss instead.
            return
        # One sum (NaN and Inf propagate) is 15x cheaper than isfinite().all()
        # and only costs the count when it flags something.
        if not math.isfinite(float(x.sum())):
            bad = int((~torch.isfinite(x)).sum())
            if bad:  # else finite values whose sum overflowed
                raise InputError(f'{name} input {shape} has {bad} NaN or '
                                 f'infinite values.')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """(N, 3, H, W) -> the requested maps, each (N, C_i, H_i, W_i)."""
        self.check_input(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        outs = []
        last = self.out_indices[-1]
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.out_indices:
                outs.append(x)
            if index == last:
                break
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for index in range(self.frozen_stages + 1):
            layer = self.layers[index]
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def switch_to_deploy(self) -> None:
        """Fold each block's own exact folds (its ``fold_for_deploy()``) and
        every BatchNorm that follows a conv or linear layer
        (:func:`backbones.models.folding.fold_for_deploy`), and keep the
        module in eval mode for good.

        The outputs stay those of the eager model up to float rounding;
        parameter-derived tensors (LeViT's biases, EdgeNeXt's positional
        encoding) are cached per input size as in any eval forward.  The
        switch cannot be undone: ``train()`` raises afterwards.
        """
        if self.deployed:
            return
        from .folding import fold_for_deploy
        self.train(False)
        with torch.no_grad():
            fold_for_deploy(self)
        self.deployed = True

    def train(self, mode: bool = True):
        if mode and self.deployed:
            raise RuntimeError(
                f'{type(self).__name__} was switched to deploy mode (its '
                f'BatchNorm layers are folded away) and cannot train; build '
                f'it again from the config to train.')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _split_init_cfg(self) -> Tuple[Optional[dict], List[dict]]:
        """``(the Pretrained init_cfg or None, the other init_cfgs)``."""
        cfgs = self.init_cfg or []
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs)
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        if len(pretrained) > 1:
            raise ValueError('Only one Pretrained init_cfg is supported.')
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        return (pretrained[0] if pretrained else None), others

    def init_weights(self) -> None:
        """mmengine's initialisation, except that a ``Pretrained`` init_cfg
        goes through :func:`~backbones.checkpoint.load_backbone_checkpoint`
        (mmengine's loader would skip mismatched keys with a warning)."""
        pretrained, others = self._split_init_cfg()
        if pretrained is None:
            super().init_weights()
            return
        if self.is_init:
            warnings.warn(f'{type(self).__name__} weights were already '
                          'loaded; init_weights() called again is ignored.')
            return
        if others:
            self.init_cfg = others
            super().init_weights()
        # Imported here so that building a model costs nothing extra.
        from ..checkpoint import load_backbone_checkpoint
        load_backbone_checkpoint(self, pretrained['checkpoint'],
                                 prefix=pretrained.get('prefix'))
        self.is_init = True
