"""The AsymmNet backbone: eight variants as MXNet builds them, and the
MXNet ``.params`` release read without MXNet."""
import json
import struct

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from backbones import AsymmNet
from backbones.checkpoint import CheckpointLayoutError
from backbones.checkpoint import MXNetParamsError, read_mxnet_params
from helpers import REPO
from standin import (load_manifest, save_standin, standin_state_dict,
                     write_mxnet_params)

FIXTURES = REPO / 'tests' / 'fixtures'
WIDTHS = (1.0, 0.75, 0.5, 0.35)
# Backbone (stem .. final 1x1 conv + BN) and published classification
# parameters at widths 1.0 / 0.75 / 0.5 / 0.35.
BACKBONE_PARAMS = {'large': (3_566_808, 2_088_072, 949_576, 496_296),
                   'small': (1_113_616, 661_168, 314_832, 187_792)}
CLASSIFIER_PARAMS = {'large': (6_076_608, 4_290_672, 2_844_976, 2_207_376),
                     'small': (3_131_896, 2_495_128, 1_964_472, 1_735_032)}
# Pyramid channels from docs/reference/published.md, and the final conv
# (960 / 576 x width, rounded up to a multiple of 8).
CHANNELS = {
    'large': ((24, 40, 112, 160, 960), (24, 32, 88, 120, 720),
              (16, 24, 56, 80, 480), (16, 16, 40, 56, 336)),
    'small': ((16, 24, 48, 96, 576), (16, 24, 40, 72, 432),
              (8, 16, 24, 48, 288), (8, 16, 24, 40, 208)),
}
STRIDES = (4, 8, 16, 32, 32)


def manifest_name(arch, width):
    return f'asymmnet_{arch}_{round(width * 100):03d}'


@pytest.mark.parametrize('arch', ['large', 'small'])
@pytest.mark.parametrize('width', WIDTHS)
def test_parameter_counts_backbone_and_classifier(arch, width):
    model = AsymmNet(arch, width)
    params = sum(p.numel() for p in model.parameters())
    i = WIDTHS.index(width)
    assert params == BACKBONE_PARAMS[arch][i]
    # The MXNet classifier: 1x1 conv to 1280 (no bias), 1x1 conv to 1000.
    final = model.feature_info[-1].channels
    assert params + final * 1280 + 1280 * 1000 + 1000 == \
        CLASSIFIER_PARAMS[arch][i]


@pytest.mark.parametrize('arch, width, residual', [
    ('large', 1.0, True), ('large', 0.75, True), ('large', 0.6, True),
    ('large', 0.5, False), ('large', 0.35, False), ('small', 1.0, False)])
def test_first_block_follows_the_mxnet_bookkeeping(arch, width, residual):
    """The MXNet model builds the first block for a 16-channel input at
    every width: at <= 0.5 (8-channel stem) Large loses its residual."""
    block = AsymmNet(arch, width).layers[0][1]
    assert block.use_residual is residual
    assert not block.use_expand


def test_outputs_match_mxnet():
    """Golden outputs of the official MXNet model (Spark001/AsymmNet
    ``models/asymmnet.py``, MXNet 1.9.1) on stand-in weights read from a
    ``.params`` file; see tests/fixtures/README.md."""
    golden = torch.load(FIXTURES / 'asymmnet_mxnet_outputs.pt')
    for arch, width in (('large', 1.0), ('large', 0.5), ('small', 1.0),
                        ('small', 0.35)):
        name = manifest_name(arch, width)
        state = standin_state_dict(load_manifest(name), seed=0)
        model = AsymmNet(arch, width, out_indices=range(5))
        model.load_state_dict(AsymmNet.convert_official(state)[0])
        with torch.no_grad():
            outs = model.eval()(golden['input'])
        for index, out in enumerate(outs):
            expected = golden[f'{name}_out{index}']
            torch.testing.assert_close(
                out, expected, rtol=1e-5, atol=1e-5 * expected.abs().max(),
                msg=f'{name} output {index}')


def test_se_and_bn_follow_mxnet():
    model = AsymmNet('large', 1.0)
    block = model.layers[1][0]  # features.6: 96-channel depthwise, SE
    assert block.depthwise.conv.out_channels == 96
    assert block.se.conv_reduce.out_channels == 24
    assert isinstance(block.se.gate, torch.nn.Hardsigmoid)
    assert block.expand.conv.out_channels == 48  # mid 72 - in 24
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(m.eps == 1e-5 for m in norms)
    assert not block.project.with_activation  # linear projection


def test_release_of_another_width_is_refused(tmp_path):
    path = save_standin(tmp_path, 'asymmnet_large_075')
    model = AsymmNet('large', 1.0, init_cfg=dict(type='Pretrained',
                                                 checkpoint=str(path)))
    with pytest.raises(CheckpointLayoutError, match='shape mismatches'):
        model.init_weights()


def test_reader_matches_files_written_by_mxnet():
    """Files written by MXNet 1.9.1 itself (``save_parameters`` of a small
    Gluon net, ``mx.nd.save`` of every dtype): names, order, shapes, dtypes
    and values as MXNet read them back."""
    described = json.loads((FIXTURES / 'mxnet' /
                            'described_by_mxnet.json').read_text())
    for filename, arrays in described.items():
        loaded = read_mxnet_params(str(FIXTURES / 'mxnet' / filename))
        assert list(loaded) == [name for name, *_ in arrays]
        for name, shape, dtype, values in arrays:
            tensor = loaded[name]
            assert list(tensor.shape) == shape
            assert str(tensor.dtype).replace('torch.', '') == dtype
            assert tensor.double().flatten().tolist() == values


def test_writer_and_reader_round_trip(tmp_path):
    arrays = {'a.weight': torch.randn(3, 2, 1, 1),
              'b.running_var': torch.rand(5, dtype=torch.float64),
              'c': torch.arange(4, dtype=torch.int64)}
    path = tmp_path / 'round.params'
    write_mxnet_params(path, arrays)
    loaded = read_mxnet_params(str(path))
    assert list(loaded) == list(arrays)
    assert all(torch.equal(loaded[k], v) for k, v in arrays.items())


def corrupt_copies(tmp_path):
    """(label, bytes, expected message part) for damaged .params files."""
    good = (FIXTURES / 'mxnet' / 'gluon_small.params').read_bytes()
    first_array = 24
    return [
        ('truncated', good[:700], 'the file ends inside the data of array'),
        ('cut-in-names', good[:-5], 'the file ends inside name 6'),
        ('bad-magic', b'\x13' + good[1:], 'bad magic 0x113'),
        ('bad-array-marker', good[:first_array] + b'\0\0\0\0' +
         good[first_array + 4:], 'array 0 starts with 0x00000000'),
        ('huge-count', good[:16] + struct.pack('<Q', 10**9) + good[24:],
         'announces 1000000000 arrays'),
        ('sparse', good[:first_array + 4] + struct.pack('<i', 1) +
         good[first_array + 8:], 'storage type 1'),
        ('bad-dtype', good[:first_array + 12 + 32 + 8] +
         struct.pack('<i', 42) + good[first_array + 12 + 32 + 12:],
         'unknown dtype flag 42'),
        ('trailing', good + b'junk', '4 bytes follow the last name'),
        ('empty', b'', 'the file ends inside the file header'),
        ('torch-file-named-params', b'PK\x03\x04' + b'\0' * 40,
         'not an MXNet NDArray file'),
    ]


def test_corrupted_params_files_fail_with_one_clear_message(tmp_path):
    for label, content, expected in corrupt_copies(tmp_path):
        path = tmp_path / f'{label}.params'
        path.write_bytes(content)
        with pytest.raises(MXNetParamsError) as info:
            read_mxnet_params(str(path))
        message = str(info.value)
        assert str(path) in message and expected in message, (label, message)
        assert '\n' not in message


def test_unnamed_list_is_not_parameters():
    with pytest.raises(MXNetParamsError, match='0 names for 1 arrays'):
        read_mxnet_params(str(FIXTURES / 'mxnet' / 'mx_list.params'))


def test_shape_mismatch_in_params_release_names_the_key(tmp_path):
    def corrupt(state):
        state['features.4.expand.conv.weight'] = torch.zeros(40, 16, 1, 1)
        return state
    path = save_standin(tmp_path, 'asymmnet_large_100', transform=corrupt)
    model = AsymmNet('large', init_cfg=dict(type='Pretrained',
                                            checkpoint=str(path)))
    with pytest.raises(CheckpointLayoutError,
                       match=r'layers.0.2.expand.conv.weight \(40, 16, 1, '
                       r'1\) vs \(48, 16, 1, 1\)'):
        model.init_weights()


