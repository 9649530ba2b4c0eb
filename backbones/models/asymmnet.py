"""AsymmNet backbone for dense prediction, as the trained MXNet model computes.

Yang et al., "AsymmNet: Towards Ultralight Convolution Neural Networks Using
Asymmetrical Bottlenecks", CVPRW 2021; official code (MXNet/Gluon):
https://github.com/Spark001/AsymmNet, ``models/asymmnet.py``.  A
MobileNetV3-shaped network whose inverted bottleneck is asymmetric: the 1x1
expansion produces only ``mid - in`` channels and the depthwise conv sees
``concat[x, expand(x), x]`` (``mid + in`` channels); SE (ReLU, hard sigmoid)
follows the depthwise conv, the 1x1 projection is linear, and the residual
is used when ``in == out`` and stride is 1.  Outputs (``out_indices``
0..4): the last block at strides 4, 8, 16, 32, then the final 1x1 conv + BN +
Hardswish at stride 32 (960 x width for Large, 576 x width for Small).

**What MXNet builds, width by width.**  Channels are ``make_divisible(c *
width)`` (rounded *up* to a multiple of 8).  The stem is scaled, but the
MXNet model builds the first block as if its input had the unscaled 16
channels; every later block sees the true width.  The first block therefore
is, in the trained model (``stem`` = the real input, ``16`` = what the block
believes)::

    width         stem  mid/out  Large block 0            Small block 0
    (0.5, 1.0]    16    16       no expand, residual      no expand, SE 8, s2
    (0, 0.5]      8     8        no expand, NO residual   no expand, SE 8, s2
    > 1.0         24+   24+      MXNet fails to build: expand(x) has
                                 mid - 16 channels, so the concat is not the
                                 mid + 16 the depthwise conv is built for

The PyTorch port in the same repository (never trained) scales the first
block's input too and keeps the residual at 0.5 and 0.35.  Widths above 1.0
are refused here with that reason.
"""
import math
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.registry import MODELS

from .base import FeatureInfo, MultiScaleBackbone, resolve_arch
from .layers import SqueezeExcite

# Block table of the MXNet code: kernel, expansion, out, SE, activation,
# stride (channels before width scaling).
LARGE_BLOCKS = (
    (3, 16, 16, False, 'ReLU', 1),
    (3, 64, 24, False, 'ReLU', 2),
    (3, 72, 24, False, 'ReLU', 1),
    (5, 72, 40, True, 'ReLU', 2),
    (5, 120, 40, True, 'ReLU', 1),
    (5, 120, 40, True, 'ReLU', 1),
    (3, 240, 80, False, 'HSwish', 2),
    (3, 200, 80, False, 'HSwish', 1),
    (3, 184, 80, False, 'HSwish', 1),
    (3, 184, 80, False, 'HSwish', 1),
    (3, 480, 112, True, 'HSwish', 1),
    (3, 672, 112, True, 'HSwish', 1),
    (5, 672, 160, True, 'HSwish', 2),
    (5, 960, 160, True, 'HSwish', 1),
    (5, 960, 160, True, 'HSwish', 1),
)
SMALL_BLOCKS = (
    (3, 16, 16, True, 'ReLU', 2),
    (3, 72, 24, False, 'ReLU', 2),
    (3, 88, 24, False, 'ReLU', 1),
    (5, 96, 40, True, 'HSwish', 2),
    (5, 240, 40, True, 'HSwish', 1),
    (5, 240, 40, True, 'HSwish', 1),
    (5, 120, 48, True, 'HSwish', 1),
    (5, 144, 48, True, 'HSwish', 1),
    (5, 288, 96, True, 'HSwish', 2),
    (5, 576, 96, True, 'HSwish', 1),
    (5, 576, 96, True, 'HSwish', 1),
)
arch_settings = {
    'large': dict(blocks=LARGE_BLOCKS, final_channels=960),
    'small': dict(blocks=SMALL_BLOCKS, final_channels=576),
}
default_arch_settings = dict(stem_channels=16, se_ratio=4)
required_arch_keys = ('blocks', 'final_channels')


def make_divisible(value: float, divisor: int = 8) -> int:
    """The MXNet code's rounding: *up* to a multiple of ``divisor``."""
    return int(math.ceil(value / divisor) * divisor)


def block_places(rows: Sequence[tuple]) -> List[Tuple[int, int]]:
    """``(layer, position in layer)`` of each block row.

    A layer (feature map) ends with the last block before a downsampling
    one, once the stride is at least 4; layer 0 starts with the stem, so
    its blocks start at position 1.
    """
    places, layer, position, stride = [], 0, 1, 2
    for i, row in enumerate(rows):
        places.append((layer, position))
        position += 1
        stride *= row[5]
        if stride >= 4 and (i + 1 == len(rows) or rows[i + 1][5] > 1):
            layer, position = layer + 1, 0
    return places


class AsymmetricBottleneck(nn.Module):
    """``project(se(depthwise(concat[x, expand(x), x])))`` (+ ``x``).

    Args:
        in_channels: channels of the actual input.
        believed_in_channels: the input width the MXNet model assumed when
            it built the block (equal to ``in_channels`` except in the first
            block, see the module docstring); it decides the expansion
            width and whether there is a residual.
        mid_channels / out_channels / kernel_size / stride: the block row.
        use_se: squeeze-excite after the depthwise conv, reduced to
            ``make_divisible(dw_channels // se_ratio)``.
        act: ``'ReLU'`` or ``'HSwish'`` after expand and depthwise conv.

    Shape: ``(N, C_in, H, W) -> (N, C_out, ceil(H / s), ceil(W / s))``.
    """

    def __init__(self, in_channels: int, believed_in_channels: int,
                 mid_channels: int, out_channels: int, kernel_size: int,
                 stride: int, use_se: bool, act: str, se_ratio: int = 4):
        super().__init__()
        act_cfg = dict(type=act)
        self.use_expand = mid_channels > believed_in_channels
        if self.use_expand:
            if in_channels != believed_in_channels:
                raise ValueError(
                    f'AsymmNet block expanding {believed_in_channels} to '
                    f'{mid_channels} channels gets {in_channels}: the MXNet '
                    f'model cannot be built at this width.')
            self.expand = ConvModule(
                in_channels, mid_channels - in_channels, 1, bias=False,
                norm_cfg=dict(type='BN'), act_cfg=act_cfg)
            dw_channels = mid_channels + in_channels
        else:
            if in_channels != mid_channels:
                raise ValueError(
                    f'AsymmNet depthwise conv of {mid_channels} channels '
                    f'gets {in_channels}: the MXNet model cannot be built at '
                    f'this width.')
            dw_channels = mid_channels
        self.depthwise = ConvModule(
            dw_channels, dw_channels, kernel_size, stride=stride,
            padding=kernel_size // 2, groups=dw_channels, bias=False,
            norm_cfg=dict(type='BN'), act_cfg=act_cfg)
        self.se = SqueezeExcite(
            dw_channels, make_divisible(dw_channels // se_ratio), nn.ReLU(),
            nn.Hardsigmoid()) if use_se else nn.Identity()
        self.project = ConvModule(dw_channels, out_channels, 1, bias=False,
                                  norm_cfg=dict(type='BN'), act_cfg=None)
        self.use_residual = believed_in_channels == out_channels and \
            stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((x, self.expand(x), x), dim=1) if self.use_expand \
            else x
        out = self.project(self.se(self.depthwise(out)))
        return x + out if self.use_residual else out


@MODELS.register_module()
class AsymmNet(MultiScaleBackbone):
    """AsymmNet (Large or Small) emitting up to five feature maps.

    Args:
        arch: ``'large'``, ``'small'`` or a dict with ``blocks`` (rows of
            kernel, expansion, out, SE, activation, stride) and
            ``final_channels``.
        widen_factor: width multiplier, ``0 < widen_factor <= 1`` (the
            released weights: Large 1.0; the paper: 1.0, 0.75, 0.5, 0.35).
        out_indices: maps to return; 0..3 are the last blocks at strides
            4, 8, 16, 32, 4 is the final 1x1 conv + BN + Hardswish
            (stride 32).
        frozen_stages: -1 freezes nothing; k freezes layers 0..k (layer 0
            includes the stem).
        norm_eval: keep BatchNorm layers in eval mode while training.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` accepts the
            MXNet release (``.params``, read without MXNet) as it is.

    Shape:
        input ``(N, 3, H, W)`` of any size; map ``i`` is
        ``(N, C_i, ceil(H / s_i), ceil(W / s_i))``, in the channels-last
        memory format.
    """
    channels_last = True

    def __init__(self, arch: Union[str, dict] = 'large',
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1, norm_eval: bool = False,
                 init_cfg=None, pretrained=None):
        super().__init__(out_indices, frozen_stages, norm_eval, init_cfg,
                         pretrained)
        settings = resolve_arch(arch, arch_settings, default_arch_settings,
                                required_arch_keys, (), 'AsymmNet')
        if not isinstance(widen_factor, (int, float)) or \
                not 0 < widen_factor <= 1:
            raise ValueError(
                f'AsymmNet widen_factor must be in (0, 1], got '
                f'{widen_factor!r}: above 1.0 the MXNet model cannot be '
                f'built (its first block assumes a 16-channel input, but '
                f'the scaled stem gives more).')
        self.arch = settings
        self.widen_factor = widen_factor

        def scaled(channels):
            return make_divisible(channels * widen_factor)

        stem_channels = scaled(settings['stem_channels'])
        stem = ConvModule(3, stem_channels, 3, stride=2, padding=1,
                          bias=False, norm_cfg=dict(type='BN'),
                          act_cfg=dict(type='HSwish'))
        rows = settings['blocks']
        places = block_places(rows)
        layers = [[stem]] + [[] for _ in range(places[-1][0])]
        channels, strides = [0] * len(layers), [0] * len(layers)
        in_channels, believed, stride = stem_channels, \
            settings['stem_channels'], 2
        for (layer, _), (kernel, mid, out, use_se, act, block_stride) in \
                zip(places, rows):
            layers[layer].append(AsymmetricBottleneck(
                in_channels, believed, scaled(mid), scaled(out), kernel,
                block_stride, use_se, act, settings['se_ratio']))
            in_channels = believed = scaled(out)
            stride *= block_stride
            channels[layer], strides[layer] = in_channels, stride
        layers = [nn.Sequential(*blocks) for blocks in layers]
        final_channels = scaled(settings['final_channels'])
        layers.append(ConvModule(in_channels, final_channels, 1, bias=False,
                                 norm_cfg=dict(type='BN'),
                                 act_cfg=dict(type='HSwish')))
        channels.append(final_channels)
        strides.append(strides[-1])
        self.layers = nn.ModuleList(layers)
        self.feature_info = tuple(map(FeatureInfo, channels, strides))
        self._finish_init()

    @staticmethod
    def convert_official(state_dict: dict) -> Tuple[dict, List[str]]:
        """MXNet ``.params`` names -> this module's keys.

        The release (``features.N...``, ``output.*``) is one flat sequence:
        0-2 the stem (conv, BN, Hardswish), 3.. the blocks, then the final
        1x1 conv and BN; the rest (the 1280-channel conv and ``output.*``)
        is the classifier, dropped and reported.  BN ``gamma``/``beta``
        become ``weight``/``bias`` and get a ``num_batches_tracked`` of 0,
        which MXNet does not keep.
        """
        blocks = sorted({int(k.split('.')[1]) for k in state_dict
                         if k.startswith('features.') and
                         k.split('.')[2] in ('expand', 'conv1', 'se',
                                             'conv2')})
        # The file does not tell where the strides are: the variant with
        # that many blocks does.
        rows = {len(LARGE_BLOCKS): LARGE_BLOCKS,
                len(SMALL_BLOCKS): SMALL_BLOCKS}.get(len(blocks))
        places = {}
        if rows is not None:
            places = {f'features.{index}': f'layers.{layer}.{position}'
                      for index, (layer, position) in
                      zip(blocks, block_places(rows))}
            final, last_layer = blocks[-1] + 1, block_places(rows)[-1][0] + 1
            places.update({'features.0': 'layers.0.0.conv',
                           'features.1': 'layers.0.0.bn',
                           f'features.{final}': f'layers.{last_layer}.conv',
                           f'features.{final + 1}':
                           f'layers.{last_layer}.bn'})
        inner = {'conv1': 'depthwise', 'conv2': 'project',
                 'gamma': 'weight', 'beta': 'bias'}
        se_inner = {'conv1': 'conv_reduce', 'conv2': 'conv_expand'}
        converted, dropped = {}, []
        for key, value in state_dict.items():
            parts = key.split('.')
            place = places.get('.'.join(parts[:2]))
            if place is None and key.startswith(('features.', 'output.')) \
                    and rows is not None:
                dropped.append(key)
                continue
            if place is not None:
                rest = parts[2:]
                if rest[:1] == ['se']:
                    rest = ['se', se_inner.get(rest[1], rest[1])] + rest[2:]
                rest = [inner.get(p, p) for p in rest]
                key = '.'.join([place] + rest)
                if key.endswith('.running_mean'):
                    converted[key[:-len('running_mean')] +
                              'num_batches_tracked'] = torch.tensor(0)
            converted[key] = value
        return converted, dropped
