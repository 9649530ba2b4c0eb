"""The contract every backbone family keeps with mmdet/mmseg, tested once
from one registry: maps, strides and channels per out index at a few sizes,
``frozen_stages``, ``norm_eval``, bad arguments, the release file loading
every tensor, deploy mode equal to eager.  A family's own file keeps only
what is particular to it (golden outputs, parameter counts, sizes, widths).

Expected channels and strides are the published ones
(docs/reference/published.md), not read back from the models.
"""
import contextlib
import math
from typing import Callable, Dict, NamedTuple, Tuple

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from backbones import EMO, AsymmNet, EdgeNeXt, LeViT
from backbones.models.folding import (affine_layernorms_on_maps, at_most_4d,
                                      heads_in_pairs)
from backbones.models.param_cache import tables_as_buffers
from backbones.models.tracing import as_in_exports
from helpers import randomise
from standin import load_manifest, save_standin, standin_state_dict


class Variant(NamedTuple):
    """One arch of a family: constructor arguments, the channels of every
    map (index 0 first) and the official key manifest."""
    kwargs: dict
    channels: Tuple[int, ...]
    manifest: str


class Family(NamedTuple):
    cls: type
    strides: Tuple[int, ...]
    # map size from input size and stride: ceil for padded strided convs,
    # repeated floor for EdgeNeXt's unpadded ones
    map_size: Callable[[int, int], int]
    variants: Dict[str, Variant]
    # keys of an arch's release that are not the backbone (the classifier)
    classifier: Callable[[str, str], bool]
    # an arch with BatchNorm, for norm_eval
    batchnorm_arch: str


def ceil_size(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def floor_size(size: int, stride: int) -> int:
    size //= 4
    for _ in range(int(math.log2(stride // 4))):
        size //= 2
    return size


EMO_DIMS = {'1M': (32, 48, 80, 168), '2M': (32, 48, 120, 200),
            '5M': (48, 72, 160, 288), '6M': (48, 72, 160, 320)}
EDGENEXT_DIMS = {'xx_small': (24, 48, 88, 168), 'x_small': (32, 64, 100, 192),
                 'small': (48, 96, 160, 304), 'base': (80, 160, 288, 584)}
LEVIT_DIMS = {'128S': (128, 256, 384), '128': (128, 256, 384),
              '192': (192, 288, 384), '256': (256, 384, 512),
              '384': (384, 512, 768)}
ASYMMNET_CHANNELS = {
    'large': {1.0: (24, 40, 112, 160, 960), 0.75: (24, 32, 88, 120, 720),
              0.5: (16, 24, 56, 80, 480), 0.35: (16, 16, 40, 56, 336)},
    'small': {1.0: (16, 24, 48, 96, 576), 0.75: (16, 24, 40, 72, 432),
              0.5: (8, 16, 24, 48, 288), 0.35: (8, 16, 24, 40, 208)},
}

FAMILIES = {
    'EMO': Family(
        EMO, (2, 4, 8, 16, 32), ceil_size,
        {a: Variant(dict(arch=a), (24, ) + d, f'emo_{a.lower()}')
         for a, d in EMO_DIMS.items()},
        lambda key, arch: key.startswith(('norm.', 'head.')), '1M'),
    'EdgeNeXt': Family(
        EdgeNeXt, (4, 8, 16, 32), floor_size,
        {f'{a}{bn}': Variant(dict(arch=f'{a}{bn}'), d, f'edgenext_{a}{bn}')
         for a, d in EDGENEXT_DIMS.items() for bn in ('', '_bn_hs')
         if not (a == 'base' and bn)},
        lambda key, arch: key.startswith(('norm.', 'head.')),
        'xx_small_bn_hs'),
    'LeViT': Family(
        LeViT, (4, 8, 16, 32, 64), ceil_size,
        {a: Variant(dict(arch=a), (d[0] // 4, d[0] // 2) + d,
                    f'levit_{a.lower()}') for a, d in LEVIT_DIMS.items()},
        lambda key, arch: key.startswith(('head.', 'head_dist.')) or
        key.endswith('.attention_bias_idxs'), '128S'),
    'AsymmNet': Family(
        AsymmNet, (4, 8, 16, 32, 32), ceil_size,
        {f'{a}_{w}': Variant(dict(arch=a, widen_factor=w), c,
                             f'asymmnet_{a}_{round(w * 100):03d}')
         for a, by_width in ASYMMNET_CHANNELS.items()
         for w, c in by_width.items()},
        # the MXNet classifier: the 1x1 conv after the backbone's final
        # conv (features.22 / features.18) and the output layer
        lambda key, arch: key.startswith('output.') or key == (
            f"features.{22 if arch.startswith('large') else 18}.weight"),
        'small_1.0'),
}
CASES = [(family, arch) for family, spec in FAMILIES.items()
         for arch in spec.variants]
SIZES = [(161, 203), (224, 224)]


def case_id(case):
    return f'{case[0]}-{case[1]}'


def build(family: str, arch: str, **kwargs):
    spec = FAMILIES[family]
    return spec.cls(**spec.variants[arch].kwargs, **kwargs)


@pytest.fixture(scope='module')
def every_map_models():
    """One eval-mode model per case returning every map, built once."""
    return {case: build(*case, out_indices=range(
        len(FAMILIES[case[0]].strides))).eval() for case in CASES}


@pytest.mark.parametrize('case', CASES, ids=case_id)
def test_every_map_at_several_sizes(case, every_map_models):
    spec = FAMILIES[case[0]]
    channels = spec.variants[case[1]].channels
    model = every_map_models[case]
    assert model.out_channels == channels
    assert model.out_strides == spec.strides
    for size in SIZES:
        with torch.no_grad():
            outs = model(torch.randn(1, 3, *size))
        assert len(outs) == len(channels)
        for out, c, s in zip(outs, channels, spec.strides):
            assert out.shape == (1, c, spec.map_size(size[0], s),
                                 spec.map_size(size[1], s)), (size, s)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize('family', FAMILIES)
def test_each_single_out_index_and_negative_indices(family):
    spec = FAMILIES[family]
    arch = next(iter(spec.variants))
    channels = spec.variants[arch].channels
    n = len(spec.strides)
    x = torch.randn(2, 3, 97, 131)
    for index in range(n):
        model = build(family, arch, out_indices=(index, )).eval()
        assert model.out_channels == (channels[index], )
        assert model.out_strides == (spec.strides[index], )
        with torch.no_grad():
            (out, ) = model(x)
        stride = spec.strides[index]
        assert out.shape == (2, channels[index], spec.map_size(97, stride),
                             spec.map_size(131, stride))
    model = build(family, arch, out_indices=(-1, 0))
    assert model.out_indices == (0, n - 1)


def frozen_cases():
    for family, spec in FAMILIES.items():
        n = len(spec.strides)
        for frozen in (-1, 0, n // 2, n - 1):
            yield family, frozen


@pytest.mark.parametrize('family, frozen', list(frozen_cases()),
                         ids=lambda v: str(v))
def test_frozen_stages(family, frozen):
    spec = FAMILIES[family]
    model = build(family, spec.batchnorm_arch,
                  out_indices=range(len(spec.strides)),
                  frozen_stages=frozen)
    model.train()
    for index, layer in enumerate(model.layers):
        is_frozen = index <= frozen
        assert all(p.requires_grad != is_frozen for p in layer.parameters())
        assert all(m.training != is_frozen for m in layer.modules())
    if frozen >= 0:  # frozen statistics do not move in a training forward
        frozen_bns = [m for layer in model.layers[:frozen + 1]
                      for m in layer.modules() if isinstance(m, _BatchNorm)]
        before = [m.running_mean.clone() for m in frozen_bns]
        model(torch.randn(2, 3, 64, 64))
        assert all(torch.equal(m.running_mean, b)
                   for m, b in zip(frozen_bns, before))


@pytest.mark.parametrize('family', FAMILIES)
def test_norm_eval(family):
    spec = FAMILIES[family]
    model = build(family, spec.batchnorm_arch, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    stats = [m.running_var.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(m.running_var, s) for m, s in zip(norms, stats))
    assert model.layers[-1].training  # the rest still follows the mode
    free = build(family, spec.batchnorm_arch, norm_eval=False).train()
    assert all(m.training for m in free.modules()
               if isinstance(m, _BatchNorm))


def bad_argument_cases():
    for family, spec in FAMILIES.items():
        n = len(spec.strides)
        yield family, dict(arch='no-such-arch'), \
            f"Unknown {family} arch 'no-such-arch'"
        yield family, dict(arch=3), f'{family} arch must be a str or a dict'
        yield family, dict(out_indices=(n, )), \
            f'out_indices entry {n} is out of range'
        yield family, dict(out_indices=(1, 1)), 'duplicates'
        yield family, dict(out_indices=()), 'non-empty sequence'
        yield family, dict(frozen_stages=n), \
            f'frozen_stages={n} is out of range'


# What is particular to a family (its arch keys, widths, modes, splits)
FAMILY_BAD_ARGUMENTS = [
    ('EMO', dict(arch='3M'), "Unknown EMO arch '3M'"),
    ('EMO', dict(arch=dict(depths=(1, 1, 1, 1))), 'missing keys'),
    ('EMO', dict(window_size=(7, 7)), 'window_size needs 4 entries'),
    ('EMO', dict(arch=dict(depths=(1, 1, 2, 2), dims=(16, 32, 60, 96),
                           expand_ratios=(2, 2, 2, 2),
                           head_dims=(16, 16, 16, 32))),
     'head_dim (16) to divide the block width (60)'),
    ('EMO', dict(drop_path_rate=2.0),
     'drop_path_rate must be in [0, 1): a block would drop'),
    ('EMO', dict(pretrained='a.pth', init_cfg=dict(type='Pretrained',
                                                   checkpoint='b')),
     'either init_cfg or pretrained'),
    ('EdgeNeXt', dict(arch=dict(depths=(1, 1, 1, 1), dims=(16, 32, 48, 9),
                                heads=1)),
     'cannot split 9 channels into 4 groups'),
    ('EdgeNeXt', dict(arch=dict(depths=(1, 1, 1, 1), dims=(16, 30, 48, 64),
                                heads=4)),
     '4 heads do not divide 30 channels'),
    ('LeViT', dict(arch=dict(embed_dims=(128, 256, 384))), 'missing keys'),
    ('LeViT', dict(bias_mode='nearest'), 'bias_mode must be one of'),
    ('LeViT', dict(arch=dict(embed_dims=(120, 256, 384), key_dim=16,
                             num_heads=(4, 6, 8), depths=(1, 1, 1))),
     'key_dim 16 must divide 120'),
    ('LeViT', dict(arch=dict(embed_dims=(128, 256), key_dim=16,
                             num_heads=(4, 6, 8), depths=(1, 1, 1))),
     'embed_dims needs 3 entries'),
    ('AsymmNet', dict(widen_factor=1.25), 'widen_factor must be in (0, 1], '
     'got 1.25: above 1.0 the MXNet model cannot be built'),
    ('AsymmNet', dict(widen_factor=0), 'widen_factor must be in (0, 1]'),
    ('AsymmNet', dict(widen_factor='1.0'), 'widen_factor must be in (0, 1]'),
    ('AsymmNet', dict(arch=dict(blocks=())), 'missing keys'),
]


BAD_ARGUMENTS = list(bad_argument_cases()) + FAMILY_BAD_ARGUMENTS


def argument_case_id(family: str, kwargs: dict) -> str:
    shown = ','.join(f'{key}={value!r}' for key, value in kwargs.items())
    return f'{family}:{shown}'[:60]


@pytest.mark.parametrize('family, kwargs, message', BAD_ARGUMENTS,
                         ids=[argument_case_id(f, k) for f, k, _ in
                              BAD_ARGUMENTS])
def test_bad_arguments_fail_in_one_line(family, kwargs, message,
                                        record_property):
    """Every argument a backbone cannot be built with is one line naming it
    (docs/bad_inputs.md lists the answers, tools/bad_inputs_doc.py)."""
    spec = FAMILIES[family]
    kwargs = dict(spec.variants[spec.batchnorm_arch].kwargs, **kwargs)
    with pytest.raises((ValueError, TypeError)) as info:
        spec.cls(**kwargs)
    assert message in str(info.value)
    assert '\n' not in str(info.value)
    record_property('answer', f'{type(info.value).__name__}: {info.value}')


@pytest.mark.parametrize('case', CASES, ids=case_id)
def test_release_file_loads_every_tensor(case, tmp_path):
    """The official release as published (stand-in values, real names,
    shapes and wrapping): every backbone tensor loads, only the classifier
    is left out."""
    spec = FAMILIES[case[0]]
    manifest = spec.variants[case[1]].manifest
    path = save_standin(tmp_path, manifest)
    model = build(*case, init_cfg=dict(type='Pretrained',
                                       checkpoint=str(path)))
    model.init_weights()
    official = standin_state_dict(load_manifest(manifest))
    converted, dropped = spec.cls.convert_official(official)
    own = model.state_dict()
    assert set(converted) == set(own)
    for key, value in converted.items():
        assert torch.equal(own[key], value), key
    # MXNet releases have no BatchNorm counters; the converter adds them
    counters_added = not any(k.endswith('num_batches_tracked')
                             for k in official)
    taken = [k for k in converted
             if not (counters_added and k.endswith('.num_batches_tracked'))]
    assert len(taken) + len(dropped) == len(official)
    assert dropped and all(spec.classifier(key, case[1])
                           for key in dropped), dropped


def batchnorm_after_conv_or_linear(module: torch.nn.Module) -> list:
    """BatchNorm layers registered right after a conv or linear sibling
    (the pattern the folds remove), by name."""
    found = []
    for parent_name, parent in module.named_modules():
        previous = None
        for name, child in parent.named_children():
            if isinstance(child, _BatchNorm) and isinstance(
                    previous, (torch.nn.Conv2d, torch.nn.Linear)):
                found.append(f'{parent_name}.{name}')
            previous = child
    return found


@contextlib.contextmanager
def ncnn_formulation(deployed):
    with at_most_4d(deployed), heads_in_pairs(deployed):
        yield


@contextlib.contextmanager
def openvino_formulation(deployed):
    with as_in_exports(), affine_layernorms_on_maps(deployed):
        yield


@pytest.mark.parametrize('case', CASES, ids=case_id)
def test_deploy_equals_eager(case):
    every_map = range(len(FAMILIES[case[0]].strides))
    eager = build(*case, out_indices=every_map)
    randomise(eager)
    eager.eval()
    deployed = build(*case, out_indices=every_map)
    deployed.load_state_dict(eager.state_dict())
    deployed.switch_to_deploy()
    assert batchnorm_after_conv_or_linear(deployed) == []
    # each deploy formulation: the default, at most 4 dims (torch.export's),
    # ncnn's (also LeViT's heads in pairs), what exporters record
    # (EdgeNeXt's MLP on maps), OpenVINO's (also EdgeNeXt's stem LayerNorm
    # on maps) and torch.export's parameter-derived tables as buffers
    formulations = {
        'deploy': lambda x: contextlib.nullcontext(),
        'at most 4 dims': lambda x: at_most_4d(deployed),
        'ncnn': lambda x: ncnn_formulation(deployed),
        'as in exports': lambda x: as_in_exports(),
        'OpenVINO': lambda x: openvino_formulation(deployed),
        'tables as buffers': lambda x: tables_as_buffers(deployed, (x, ))}
    for formulation, context in formulations.items():
        for size in ((224, 224), (97, 131)):
            x = torch.randn(1, 3, *size)
            with torch.no_grad(), context(x):
                expected, outputs = eager(x), deployed(x)
            for index, (want, got) in enumerate(zip(expected, outputs)):
                torch.testing.assert_close(
                    got, want, rtol=1e-5, atol=1e-5 * want.abs().max(),
                    msg=f'{formulation}: map {index} at {size}')


# the families with parameter-derived tables, at their smallest arch
@pytest.mark.parametrize('case', [('LeViT', '128S'), ('EdgeNeXt', 'xx_small')],
                         ids=case_id)
def test_export_stores_parameter_tables(case):
    """Under ``tables_as_buffers`` the exported program reads LeViT's
    attention biases and EdgeNeXt's positional encoding as buffers (no
    gather, no encoding computed in the graph), gives the eager outputs,
    and the model keeps no buffer of them afterwards."""
    model = build(*case, out_indices=range(len(FAMILIES[case[0]].strides)))
    randomise(model)
    model.eval().switch_to_deploy()
    # its own seed: an input drawn from the global generator changed with
    # the tests before it, and one draw put a near-zero output 1.3e-6 off
    x = torch.randn(1, 3, 97, 131, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
    with tables_as_buffers(model, (x, )):
        program = torch.export.export(model, (x, ), strict=False)
    tables = [b for b in program.graph_signature.buffers
              if 'parameter_table' in b]
    owners = {'LeViT': 'attention_biases', 'EdgeNeXt': 'token_projection'}
    assert len(tables) == sum(owners[case[0]] in name
                              for name, _ in model.named_parameters()
                              if name.endswith(('attention_biases',
                                                'token_projection.weight')))
    computed = {str(node.target) for node in program.graph.nodes}
    assert not computed & {'aten.index_select.default', 'aten.cos.default',
                           'aten.sin.default'}, computed
    assert not [name for name, _ in model.named_buffers()
                if 'parameter_table' in name]
    for want, got in zip(expected, program.module()(x)):
        torch.testing.assert_close(got, want, rtol=1e-5,
                                   atol=1e-5 * want.abs().max())


@pytest.mark.parametrize('case', CASES, ids=case_id)
def test_parameters_are_plain_contiguous_tensors(case):
    """View-based helpers and torch.export need them (parameters_to_vector
    raised on channels-last weights); the maps still come out
    channels-last where the family runs that way."""
    model = build(*case).eval()
    assert all(p.is_contiguous() for p in model.parameters())
    torch.nn.utils.parameters_to_vector(model.parameters())
    if type(model).channels_last:
        with torch.no_grad():
            maps = model(torch.randn(1, 3, 64, 64))
        assert maps[0].is_contiguous(memory_format=torch.channels_last)
