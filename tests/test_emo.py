"""The EMO backbone: architecture, outputs, freezing and arguments."""
import subprocess
import sys

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from backbones import EMO
from backbones.models.emo_attention import tokens_to_map, window_tokens
from helpers import REPO, randomise
from standin import load_manifest, standin_state_dict

ARCHS = ('1M', '2M', '5M', '6M')
# Backbone parameters (stem..stage 4) of the official models, from
# docs/reference/published.md: the released totals minus the classifier
# norm and head.
PARAMS = {'1M': 1_191_832, '2M': 2_176_072, '5M': 4_819_272,
          '6M': 5_846_856}
DIMS = {'1M': (32, 48, 80, 168), '2M': (32, 48, 120, 200),
        '5M': (48, 72, 160, 288), '6M': (48, 72, 160, 320)}
STRIDES = (2, 4, 8, 16, 32)


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_count_matches_official(arch):
    model = EMO(arch)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[arch]


def test_outputs_match_official_code():
    """Golden outputs of the official EMO code (zhangzjn/EMO, downstream
    backbone, float64) on stand-in weights; see tests/fixtures/README.md."""
    golden = torch.load(REPO / 'tests' / 'fixtures' /
                        'emo_official_outputs.pt')
    x = golden['input'].double()
    cases = [('1m', 7, (0, 1, 2, 3, 4)), ('1m', 2, (3, 4)), ('6m', 7, (3, 4))]
    for arch, window, indices in cases:
        state = standin_state_dict(load_manifest(f'emo_{arch}'), seed=0)
        converted, dropped = EMO.convert_official(state)
        assert sorted(dropped) == ['head.bias', 'head.weight',
                                   'norm.norm.bias', 'norm.norm.weight']
        model = EMO(arch.upper(), out_indices=indices, window_size=window)
        model.load_state_dict(converted, strict=True)
        model.double().eval()
        with torch.no_grad():
            outs = model(x)
        for index, out in zip(indices, outs):
            expected = golden[f'emo_{arch}_ws{window}_out{index}'].double()
            assert out.shape == expected.shape
            torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5,
                                       msg=f'{arch} window {window} '
                                       f'output {index}')


@pytest.mark.parametrize('out_indices', [(1, 2, 3, 4), (0, 1, 2, 3, 4)])
def test_deploy_merges_the_stem_projection_unless_the_stem_is_an_output(
        out_indices):
    """Deploy mode merges the stem block's 1x1 projection into stage 1's
    expansion only while nothing else reads the stem's map; the outputs
    stay the eager ones."""
    eager = EMO('1M', out_indices=out_indices)
    randomise(eager)
    eager.eval()
    deployed = EMO('1M', out_indices=out_indices)
    deployed.load_state_dict(eager.state_dict())
    deployed.switch_to_deploy()
    merged = 0 not in out_indices
    assert isinstance(deployed.layers[0][1].proj, torch.nn.Identity) == merged
    x = torch.randn(1, 3, 97, 131, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for want, got in zip(eager(x), deployed(x)):
            torch.testing.assert_close(got, want, rtol=1e-5,
                                       atol=1e-5 * want.abs().max())


def test_windows_are_strided_and_invert():
    x = torch.arange(2 * 3 * 6 * 9, dtype=torch.float32).view(2, 3, 6, 9)
    tokens = window_tokens(x, (2, 3))
    # 6x9 in 2x3 windows: a 3x3 grid of windows, 6 tokens each.
    assert tokens.shape == (2 * 9, 6, 3)
    # Window (0, 1) of image 0 samples rows 0, 3 and columns 1, 4, 7.
    expected = x[0][:, [0, 3]][:, :, [1, 4, 7]].flatten(1).t()
    assert torch.equal(tokens[1], expected)
    back = tokens_to_map(tokens, (2, 3), (6, 9))
    assert torch.equal(back, x)
    assert back.is_contiguous(memory_format=torch.channels_last)


def test_default_drop_path_is_the_trained_rate():
    model = EMO('1M')
    last = model.layers[4][-1].drop_path
    assert last.drop_prob == pytest.approx(0.04036)
    assert isinstance(model.layers[1][0].drop_path, torch.nn.Identity)
    no_drop = EMO('1M', drop_path_rate=0.0)
    assert isinstance(no_drop.layers[4][-1].drop_path, torch.nn.Identity)


def test_window_size_per_stage_and_global():
    x = torch.randn(1, 3, 128, 160)
    per_stage = EMO('1M', window_size=[7, 7, 5, 0]).eval()
    assert per_stage.layers[3][1].window_size == 5
    assert per_stage.layers[4][1].window_size == 0
    with torch.no_grad():
        outs = per_stage(x)
    assert outs[-1].shape == (1, 168, 4, 5)


def test_custom_arch_dict():
    arch = dict(depths=(1, 1, 2, 2), dims=(16, 32, 64, 96),
                expand_ratios=(2, 2, 2, 2), head_dims=(16, 16, 16, 32))
    model = EMO(arch, out_indices=(0, 4)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [24, 96]


def test_registered_in_root_registry_for_every_scope():
    from mmengine.registry import MODELS, DefaultScope
    assert MODELS.get('EMO') is EMO
    pytest.importorskip('mmdet')
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    for registry, scope in ((DET_MODELS, 'mmdet'), (SEG_MODELS, 'mmseg')):
        with DefaultScope.overwrite_default_scope(scope):
            model = registry.build(dict(type='EMO', arch='1M',
                                        out_indices=(4, )))
        assert isinstance(model, EMO)


def test_import_does_not_import_mmdet_or_mmseg():
    code = ('import sys, backbones; '
            'print(sorted(m for m in ("mmdet", "mmseg") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, cwd=REPO, check=True).stdout
    assert out.strip() == '[]'


def test_every_norm_has_eps_1e6():
    model = EMO('5M')
    norms = [m for m in model.modules()
             if isinstance(m, (torch.nn.LayerNorm, _BatchNorm))]
    assert len(norms) == 2 + 2 * sum((3, 3, 9, 3))
    assert all(m.eps == 1e-6 for m in norms)


def test_layers_after_the_last_output_are_not_trained():
    model = EMO('1M', out_indices=(1, 2))
    for index, layer in enumerate(model.layers):
        assert all(p.requires_grad == (index <= 2)
                   for p in layer.parameters())
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    assert all(p.grad is not None for p in model.parameters()
               if p.requires_grad)
