"""The LeViT backbone: five variants, any input size, bias modes, loading."""
import math

import pytest
import torch

from backbones import LeViT
from backbones.checkpoint import CheckpointLayoutError
from backbones.models.levit_attention import offset_indices
from helpers import REPO
from standin import load_manifest, save_standin, standin_state_dict

ARCHS = ('128S', '128', '192', '256', '384')
# Backbone parameters from docs/reference/published.md (the released totals
# minus both classifier heads).
PARAMS = {'128S': 7_005_522, '128': 8_442_400, '192': 10_175_533,
          '256': 17_865_828, '384': 37_587_764}
DIMS = {'128S': (128, 256, 384), '128': (128, 256, 384),
        '192': (192, 288, 384), '256': (256, 384, 512),
        '384': (384, 512, 768)}
STRIDES = (4, 8, 16, 32, 64)
SIZES = [(224, 224), (161, 203), (320, 320), (512, 384)]


@pytest.fixture(scope='module')
def all_maps_models():
    """One eval-mode model per arch with every map, built once."""
    return {arch: LeViT(arch, out_indices=range(5)).eval() for arch in ARCHS}


def official_model(arch, **kwargs):
    """A model holding the stand-in official weights (seed 0)."""
    state = standin_state_dict(load_manifest(f'levit_{arch.lower()}'), seed=0)
    model = LeViT(arch, **kwargs)
    model.load_state_dict(LeViT.convert_official(state)[0])
    return model.eval()


@pytest.mark.parametrize('arch', ARCHS)
def test_parameter_count_matches_official(arch, all_maps_models):
    model = all_maps_models[arch]
    assert sum(p.numel() for p in model.parameters()) == PARAMS[arch]


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('size', SIZES, ids=lambda s: f'{s[0]}x{s[1]}')
def test_every_map_shape_at_any_size(arch, size, all_maps_models):
    model = all_maps_models[arch]
    c0 = DIMS[arch][0]
    channels = (c0 // 4, c0 // 2) + DIMS[arch]
    assert model.out_channels == channels
    assert model.out_strides == STRIDES
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for out, c, s in zip(outs, channels, STRIDES):
        assert out.shape == (1, c, math.ceil(size[0] / s),
                             math.ceil(size[1] / s))
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('bias_mode', ['absolute', 'interpolate'])
def test_outputs_match_official_code(bias_mode):
    """Golden outputs of the official LeViT code (facebookresearch/LeViT,
    224x224, eval) on stand-in weights; see tests/fixtures/README.md."""
    golden = torch.load(REPO / 'tests' / 'fixtures' /
                        'levit_official_outputs.pt')
    for arch in ARCHS:
        indices = range(5) if arch == '128S' else range(2, 5)
        model = official_model(arch, out_indices=indices,
                               bias_mode=bias_mode)
        with torch.no_grad():
            outs = model(golden['input'])
        for index, out in zip(indices, outs):
            expected = golden[f'levit_{arch.lower()}_out{index}']
            torch.testing.assert_close(
                out, expected, rtol=1e-5, atol=1e-5 * expected.abs().max(),
                msg=f'{arch} {bias_mode} output {index}')


def test_bias_modes_agree_on_trained_grid_and_differ_beyond():
    absolute = official_model('128S', bias_mode='absolute')
    interpolate = official_model('128S', bias_mode='interpolate')
    x224, x320 = torch.randn(1, 3, 224, 224), torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        same = [torch.equal(a, b) for a, b in
                zip(absolute(x224), interpolate(x224))]
        a320, i320 = absolute(x320), interpolate(x320)
    assert all(same)
    # At 320 stage 1 has a 20x20 grid (offsets up to 19 > 13) and stage 2
    # 10x10 (> 6).  The stand-in weights' attention logits dwarf the biases
    # and the maps collapse with depth, so they move by ~4e-4 relative
    # (float rounding is ~1e-7).
    for a, i in zip(a320[:2], i320[:2]):
        assert (a - i).abs().max() > 1e-4 * a.abs().max()


def test_absolute_bias_keeps_trained_values_and_clamps():
    attn = LeViT('128S').layers[2].stage.blocks[0].branch
    with torch.no_grad():
        attn.attention_biases.copy_(torch.randn_like(attn.attention_biases))
    table = attn.attention_biases.view(attn.num_heads, 14, 14)
    bias = attn.eval().attention_bias((20, 3))  # 20x3 key grid
    assert bias.shape == (attn.num_heads, 60, 60)
    # token (row 0, col 0) -> (row 19, col 2): offset (19, 2), clamped to 13
    assert torch.equal(bias[:, 0, 19 * 3 + 2], table[:, 13, 2])
    assert torch.equal(bias[:, 4, 5], table[:, 0, 1])  # (1, 1) -> (1, 2)


def test_interpolated_bias_is_a_resampled_table():
    attn = LeViT('128S', bias_mode='interpolate').layers[2].stage.blocks[0]
    attn = attn.branch.eval()
    with torch.no_grad():
        attn.attention_biases.copy_(torch.randn_like(attn.attention_biases))
    table = attn.attention_biases.view(attn.num_heads, 14, 14)
    bias = attn.attention_bias((27, 27))
    # Both ends of the offset range are the trained ends.
    assert torch.allclose(bias[:, 0, 0], table[:, 0, 0])
    assert torch.allclose(bias[:, 0, 27 * 27 - 1], table[:, 13, 13])
    # Offset 2 of 26 sits at trained offset 1 (2 * 13 / 26).
    assert torch.allclose(bias[:, 0, 2 * 27], table[:, 1, 0], atol=1e-6)


def test_subsample_offsets_follow_the_strided_queries():
    dy, dx = offset_indices((7, 5), 2, 13, torch.device('cpu'))
    assert dy.shape == (4, 7) and dx.shape == (3, 5)
    assert dy[3].tolist() == [6, 5, 4, 3, 2, 1, 0]  # query row 6
    assert dx[1].tolist() == [2, 1, 0, 1, 2]


def test_param_cache_per_grid_dropped_for_training_and_loading():
    model = official_model('128S')
    attn = model.layers[2].stage.blocks[0].branch
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        model(x)
        first = attn.attention_bias((14, 14))
        assert attn.attention_bias((14, 14)) is first  # cached
        model(torch.randn(1, 3, 320, 256))
    assert set(attn.param_cache) == {(14, 14), (20, 16)}
    model.train()
    assert not attn.param_cache
    # In training the bias is gathered afresh and gets gradients.
    model(x)[-1].sum().backward()
    assert attn.attention_biases.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        before = attn.attention_bias((14, 14)).clone()
        attn.attention_biases.add_(1.0)  # any in-place update
        assert torch.equal(attn.attention_bias((14, 14)), before + 1.0)
        model.load_state_dict(official_model('128S').state_dict())
        assert not attn.param_cache
        for size in range(1, 8):
            attn.attention_bias((size, size))
    assert len(attn.param_cache) == 4  # bounded: a few grid sizes


def test_corrupted_release_fails_with_the_key_named(tmp_path):
    def corrupt(state):
        state['blocks.4.kv.c.weight'] = torch.zeros(100, 128)
        state['blocks.6.m.qkv.bn.bias_renamed'] = state.pop(
            'blocks.6.m.qkv.bn.bias')
        return state
    path = save_standin(tmp_path, 'levit_128s', transform=corrupt)
    model = LeViT('128S', init_cfg=dict(type='Pretrained',
                                        checkpoint=str(path)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointLayoutError) as info:
        model.init_weights()
    message = str(info.value)
    assert 'layers.3.downsample.kv.linear.weight (100, 128) vs (640, 128)' \
        in message
    assert 'missing keys: layers.3.blocks.0.branch.qkv.bn.bias' in message
    assert all(torch.equal(v, before[k])
               for k, v in model.state_dict().items())


def test_drop_path_rate_defaults_to_the_trained_one():
    assert LeViT('384').layers[4].blocks[0].drop_path.drop_prob == 0.1
    assert isinstance(LeViT('128S').layers[4].blocks[0].drop_path,
                      torch.nn.Identity)


@pytest.mark.export
def test_onnx_export_at_another_size_matches_pytorch(tmp_path):
    from backbones.export.onnx import export_module, verify
    model = official_model('128S', out_indices=(2, 3, 4))
    x = torch.randn(1, 3, 256, 336)
    path = tmp_path / 'levit.onnx'
    export_module(model, x, path)
    differences = verify(path, model, x)
    assert len(differences) == 3
    assert max(differences) < 1e-4, differences


def test_flops_count_the_attention_products():
    """mmengine's counter (with get_flops' rules for the attention
    operators) on one stage-1 attention block of LeViT-128S at 224 against a
    hand count: N tokens, C channels, h heads of key width k and value width
    v."""
    from backbones.analysis import flop_analyzer

    class OneBlock(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.attn = LeViT('128S').layers[2].stage.blocks[0].branch

        def forward(self, x):
            return self.attn(x, (14, 14))

    block = OneBlock().eval()
    n, c, h, k, v = 14 * 14, 128, 4, 16, 32
    by_operator = flop_analyzer(block, (torch.randn(1, n, c), )).by_operator()
    # q @ k^T (in the bias-adding GEMM) and attn @ v.
    assert by_operator['baddbmm'] == h * n * n * k
    assert by_operator['matmul'] == h * n * n * v
    assert by_operator['linear'] == n * c * h * (2 * k + v) + n * h * v * c
