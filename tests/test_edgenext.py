"""The EdgeNeXt backbone: all seven variants, official layouts, export."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from backbones import EdgeNeXt
from backbones.models.edgenext import SDTAEncoder
from helpers import REPO
from standin import load_manifest, save_standin, standin_state_dict

LN_ARCHS = ('xx_small', 'x_small', 'small', 'base')
BN_ARCHS = ('xx_small_bn_hs', 'x_small_bn_hs', 'small_bn_hs')
ARCHS = LN_ARCHS + BN_ARCHS
DIMS = {'xx_small': (24, 48, 88, 168), 'x_small': (32, 64, 100, 192),
        'small': (48, 96, 160, 304), 'base': (80, 160, 288, 584)}
# Backbone parameters: docs/reference/published.md gives them for the LN
# variants; for the BN/HS variants it gives the totals with the classifier (final BN + linear
# head to 1000 classes), subtracted below.
LN_PARAMS = {'xx_small': 1_157_880, 'x_small': 2_143_420,
             'small': 5_281_224, 'base': 17_925_124}
BN_TOTALS = {'xx_small_bn_hs': 1_326_184, 'x_small_bn_hs': 2_335_008,
             'small_bn_hs': 5_584_000}


def dims_of(arch):
    return DIMS[arch.replace('_bn_hs', '')]


def expected_params(arch):
    if arch in LN_PARAMS:
        return LN_PARAMS[arch]
    c = dims_of(arch)[-1]
    return BN_TOTALS[arch] - (2 * c + 1000 * c + 1000)


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_count_matches_official(arch):
    model = EdgeNeXt(arch)
    assert sum(p.numel() for p in model.parameters()) == \
        expected_params(arch)


@pytest.mark.parametrize('channels, scales, sizes', [
    (88, 3, [30, 30, 28]), (100, 3, [34, 34, 32]), (168, 4, [42] * 4),
    (48, 2, [24, 24]), (160, 3, [54, 54, 52]), (584, 4, [146] * 4)])
def test_uneven_split_sizes(channels, scales, sizes):
    block = SDTAEncoder(channels, scales, num_heads=4, expand_ratio=4,
                        bn_hs=False, layer_scale_init=1e-6,
                        drop_path_rate=0.0, positional_encoding=False)
    assert block.split_sizes == sizes
    assert len(block.convs) == scales - 1


def test_only_stage_two_sdta_has_positional_encoding():
    model = EdgeNeXt('xx_small')
    sdta = [(i, b) for i, layer in enumerate(model.layers)
            for b in layer.blocks if isinstance(b, SDTAEncoder)]
    # The last block of stages 1-3 (0-based) is the SDTA block.
    assert [i for i, _ in sdta] == [1, 2, 3]
    assert [b.pos_embd is not None for _, b in sdta] == [True, False, False]
    assert all(b is layer.blocks[-1] for (i, b), layer in
               zip(sdta, model.layers[1:]))


def test_outputs_match_official_code():
    """Golden outputs of the official EdgeNeXt code (mmaaz60/EdgeNeXt,
    float32) on stand-in weights; see tests/fixtures/README.md."""
    golden = torch.load(REPO / 'tests' / 'fixtures' /
                        'edgenext_official_outputs.pt')
    x = golden['input']
    for arch in ('xx_small', 'xx_small_bn_hs', 'small'):
        state = standin_state_dict(load_manifest(f'edgenext_{arch}'), seed=0)
        model = EdgeNeXt(arch)
        model.load_state_dict(EdgeNeXt.convert_official(state)[0])
        model.eval()
        with torch.no_grad():
            outs = model(x)
        for index, out in enumerate(outs):
            expected = golden[f'{arch}_out{index}']
            torch.testing.assert_close(
                out, expected, rtol=1e-4, atol=1e-4 * expected.abs().max(),
                msg=f'{arch} output {index}')


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('wrapper', ['training_ckpt', 'state_dict', 'flat'])
def test_official_files_load_every_tensor(tmp_path, arch, wrapper):
    path = save_standin(tmp_path, f'edgenext_{arch}', wrapper=wrapper)
    model = EdgeNeXt(arch, init_cfg=dict(type='Pretrained',
                                         checkpoint=str(path)))
    model.init_weights()
    official = standin_state_dict(load_manifest(f'edgenext_{arch}'))
    converted, dropped = EdgeNeXt.convert_official(official)
    own = model.state_dict()
    assert set(converted) == set(own)
    # training_ckpt stand-ins hold model = ema + 1: equality proves that
    # model_ema was the one loaded.
    for key, value in converted.items():
        assert torch.equal(own[key], value), key
    assert len(converted) + len(dropped) == len(official)
    assert all(k.startswith(('norm.', 'head.')) for k in dropped)


def test_training_checkpoint_loads_without_unsafe_opt_in(tmp_path,
                                                         monkeypatch):
    monkeypatch.delenv('MOBILEDENSE_UNSAFE_LOAD', raising=False)
    path = save_standin(tmp_path, 'edgenext_xx_small',
                        wrapper='training_ckpt')
    from backbones.checkpoint import load_file
    checkpoint = load_file(str(path))
    assert checkpoint['args'].model == 'edgenext'
    assert checkpoint['epoch'] == 299


def test_corrupted_release_fails_clearly(tmp_path):
    def corrupt(state):
        state['stages.2.5.convs.0.weight'] = torch.zeros(31, 1, 3, 3)
        return state
    path = save_standin(tmp_path, 'edgenext_xx_small',
                        wrapper='training_ckpt', transform=corrupt)
    model = EdgeNeXt('xx_small', init_cfg=dict(type='Pretrained',
                                               checkpoint=str(path)))
    with pytest.raises(KeyError, match='layers.2.blocks.5.convs.0.weight '
                       r'\(31, 1, 3, 3\) vs \(30, 1, 3, 3\)'):
        model.init_weights()


@pytest.mark.export
@pytest.mark.parametrize('arch', ['xx_small', 'xx_small_bn_hs'])
def test_onnx_export_matches_pytorch(tmp_path, arch):
    """The uneven 88 -> 30, 30, 28 split exports and runs in onnxruntime
    (the official model's export fails at a Split node, mmaaz60/EdgeNeXt#6)."""
    from backbones.export.onnx import export_module, verify
    model = EdgeNeXt(arch).eval()
    x = torch.randn(1, 3, 224, 288)
    path = tmp_path / f'{arch}.onnx'
    export_module(model, x, path)
    differences = verify(path, model, x)
    assert len(differences) == 4
    assert max(differences) < 1e-4, differences


@pytest.mark.parametrize('arch', ['small', 'small_bn_hs'])
def test_norm_eps_is_official(arch):
    """LayerNorm eps 1e-6 everywhere (mmpretrain's port uses 1e-5 in SDTA
    blocks, a difference below what output comparisons resolve); the BN/HS
    variants keep torch's BatchNorm default, 1e-5, as the official code."""
    model = EdgeNeXt(arch)
    layer_norms = [m for m in model.modules()
                   if isinstance(m, torch.nn.LayerNorm)]
    batch_norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if arch == 'small':
        assert len(layer_norms) == 4 + 18 + 3 and not batch_norms
    else:
        assert len(batch_norms) == 4 + 18 + 3 and not layer_norms
    assert all(m.eps == 1e-6 for m in layer_norms)
    assert all(m.eps == 1e-5 for m in batch_norms)
