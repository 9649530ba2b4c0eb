"""Deploy mode of every family: folded BatchNorm and layer scales give the
eager outputs, nothing foldable is left, and the module cannot train."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from backbones import AsymmNet, EdgeNeXt, EMO, LeViT
from backbones.models.folding import switch_model_to_deploy
from backbones.engine import SwitchToDeployHook
from helpers import randomise

pytestmark = pytest.mark.export


def test_batchnorm_left_only_where_nothing_precedes_it():
    """EdgeNeXt BN/HS normalises the SDTA attention input after a channel
    concat, and the residual starts from it: that BN stays."""
    left = {}
    for cls, kwargs in ((EMO, dict(arch='1M')), (EdgeNeXt, dict(
            arch='small')), (EdgeNeXt, dict(arch='small_bn_hs')),
            (LeViT, dict(arch='128S')), (AsymmNet, dict(arch='small'))):
        model = cls(**kwargs)
        model.switch_to_deploy()
        left[kwargs['arch']] = [n for n, m in model.named_modules()
                                if isinstance(m, _BatchNorm)]
    assert left['small_bn_hs'] == [
        f'layers.{i}.blocks.{j}.norm_xca' for i, j in ((1, 2), (2, 8),
                                                       (3, 2))]
    assert all(not names for arch, names in left.items()
               if arch != 'small_bn_hs')


def test_deployed_module_cannot_train_and_switch_is_idempotent():
    model = AsymmNet('small', out_indices=(4, ))
    model.switch_to_deploy()
    model.switch_to_deploy()
    model.eval()  # still allowed
    with pytest.raises(RuntimeError, match='deploy mode .* cannot train'):
        model.train()


def test_whole_detector_folds_neck_and_head_batchnorm():
    pytest.importorskip('mmdet')
    from backbones import config as mmconfig
    from helpers import REPO
    cfg = mmconfig.load_config(str(REPO / 'configs' /
                              'ssdlite_asymmnet_small_coco.py'))
    model = mmconfig.build_model(cfg, init_weights=True).eval()
    randomise(model)
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = model._forward(x)
        switch_model_to_deploy(model)
        got = model._forward(x)
    assert not [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for want, out in zip(sum(expected, []), sum(got, [])):
        torch.testing.assert_close(out, want, rtol=1e-5,
                                   atol=1e-5 * want.abs().max())
    assert SwitchToDeployHook.priority == 'VERY_HIGH'


def test_edgenext_positional_encoding_is_cached_in_eval():
    model = EdgeNeXt('xx_small').eval()
    encoding = model.layers[1].blocks[-1].pos_embd
    with torch.no_grad():
        model(torch.randn(1, 3, 128, 160))
        first = encoding(1, 4, 5)
        assert encoding(2, 4, 5)[0].data_ptr() == first[0].data_ptr()
    # stage 2 of a 128x160 input is 16x20
    assert list(encoding.param_cache) == [(16, 20), (4, 5)]
    model.train()
    assert not len(encoding.param_cache)


ONNX_CONFIGS = (
    'ssdlite_emo_1m_coco', 'deeplabv3_emo_1m_ade20k',
    'retinanet_edgenext_small_coco', 'pspnet_edgenext_small_ade20k',
    'ssdlite_levit_128s_coco', 'deeplabv3_levit_128s_ade20k',
    'retinanet_asymmnet_large_coco', 'pspnet_asymmnet_large_ade20k')


@pytest.mark.parametrize('config', ONNX_CONFIGS)
def test_whole_model_onnx_export_in_deploy_mode(config, tmp_path):
    """A detector and a segmentor of every family, exported with BatchNorm
    folded, give PyTorch's outputs in onnxruntime (the tool refuses the
    file otherwise)."""
    pytest.importorskip('onnxruntime')
    from backbones import config as mmconfig
    from backbones.analysis import RawForward
    from backbones.export.onnx import FlatOutputs, export_module, verify
    from helpers import REPO
    torch.manual_seed(0)
    model = mmconfig.build_model(
        mmconfig.load_config(REPO / 'configs' / f'{config}.py'), init_weights=True)
    module = FlatOutputs(RawForward(switch_model_to_deploy(model)))
    example = torch.randn(1, 3, 96, 128)
    path = tmp_path / 'model.onnx'
    export_module(module, example, path)
    differences = verify(path, module, example)
    # one output per head level (cls and reg), or the segmentation logits
    assert len(differences) == (1 if 'ade20k' in config else 2 * len(
        model.bbox_head.prior_generator.strides))
    assert max(differences) <= 1e-4, differences


def test_relative_difference_is_per_output():
    from backbones.export.compare import relative_differences
    want = [torch.ones(2, 3), torch.full((4, ), 10.0)]
    got = [torch.ones(2, 3), torch.tensor([10.0, 10.0, 10.1, 10.0])]
    assert relative_differences(got, want) == pytest.approx([0.0, 0.01], abs=1e-6)


@pytest.mark.parametrize('size,out', [((64, 64), 6), ((12, 17), (3, 5)),
                                      ((7, 9), (None, 2)), ((5, 5), 1)])
def test_exportable_adaptive_pool_equals_pytorch(size, out):
    from backbones.export.onnx import exportable
    pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(out))
    x = torch.randn(2, 3, *size)
    want = pool(x)
    with exportable(pool):
        assert type(pool[0]).__name__ == 'MatrixAdaptiveAvgPool2d'
        got = pool(x)
    assert type(pool[0]) is torch.nn.AdaptiveAvgPool2d
    torch.testing.assert_close(got, want)


def test_switch_to_deploy_hook_switches_the_runner_model():
    """What ``deploy = True`` / ``--deploy`` add to a test run."""
    import types
    pytest.importorskip('mmdet')
    from backbones import config as mmconfig
    from helpers import REPO
    cfg = mmconfig.load_config(str(REPO / 'configs' /
                              'ssdlite_levit_128s_coco.py'))
    model = mmconfig.build_model(cfg, init_weights=True)
    SwitchToDeployHook().before_test(types.SimpleNamespace(model=model))
    assert model.backbone.deployed and not model.training
    assert not [m for m in model.modules() if isinstance(m, _BatchNorm)]


def test_static_exports_drop_taps_that_only_read_padding():
    """At a static size, a dilated conv whose off-centre taps all land in
    its zero padding (dilation >= the map's side on both axes) exports as
    the 1x1 conv of its centre taps; one whose taps still reach the map
    (dilation one less than a side) stays; both give the same outputs, and
    the model is restored afterwards."""
    from backbones.models.folding import (dilated_conv_input_sizes,
                                          padding_taps_dropped)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(8, 6, 3, padding=36, dilation=36),
        torch.nn.Conv2d(6, 4, 3, padding=(8, 11), dilation=(8, 11)),
        torch.nn.Conv2d(4, 4, 3, padding=(9, 12), dilation=(9, 12),
                        groups=2, bias=False)).eval()
    x = torch.randn(1, 8, 9, 12)
    with torch.no_grad():
        expected = model(x)
        sizes = dilated_conv_input_sizes(model, (x, ))
        with padding_taps_dropped(model, sizes):
            kernels = [conv.kernel_size for conv in model]
            got = model(x)
    assert kernels == [(1, 1), (3, 3), (1, 1)]
    assert [conv.kernel_size for conv in model] == [(3, 3)] * 3
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_openvino_reports_nothing_to_intel():
    """openvino (at import and per conversion) and nncf send usage data to
    Intel through openvino-telemetry unless the user has opted out; the
    environment leaves that package out (tools/setup_env.sh), and both fall
    back to their own stubs, which send nothing."""
    import importlib.util

    from openvino.tools.ovc import telemetry_utils
    assert importlib.util.find_spec('openvino_telemetry') is None
    assert telemetry_utils.tm.__name__ == 'openvino.tools.ovc.telemetry_stub'


def test_openvino_export_takes_edgenext_stem_norm_on_maps(tmp_path):
    """OpenVINO's conversion of EdgeNeXt's stem and first stage has no
    transpose (the stem LayerNorm, which keeps its affine map, as
    reductions over channels); onnxruntime's keeps a LayerNormalization
    between two transposes; the model is restored after each."""
    import onnx
    import openvino as ov
    from backbones.export.backends import onnxruntime, openvino
    model = EdgeNeXt('xx_small', out_indices=(0, )).eval()
    randomise(model)
    model.switch_to_deploy()
    example = (torch.randn(1, 3, 64, 64), )
    ops = {}
    for backend in (openvino, onnxruntime):
        folder = tmp_path / backend.__name__.rsplit('.', 1)[-1]
        folder.mkdir()
        files = backend.convert(model, example, str(folder), ['input'],
                                ['map0'], free_size=False)
        path = str(folder / next(iter(files.values())))
        ops[backend] = [op.get_type_name() for op in
                        ov.Core().read_model(path).get_ordered_ops()] \
            if backend is openvino else \
            [node.op_type for node in onnx.load(path).graph.node]
    assert 'Transpose' not in ops[openvino]
    assert ops[onnxruntime].count('Transpose') == 2
    assert 'LayerNormalization' in ops[onnxruntime]
    assert not any(norm.affine_on_maps for norm in model.modules()
                   if hasattr(norm, 'affine_on_maps'))


def openvino_compiled_layers(model, size, folder):
    """``(layer type, input rank, consumer types)`` of each layer of the
    deployed ``model`` as OpenVINO's CPU plugin compiles it at ``size``."""
    import openvino as ov
    from backbones.export.backends import openvino
    randomise(model)
    model.switch_to_deploy()
    files = openvino.convert(model, (torch.randn(1, 3, *size), ),
                             str(folder), ['input'], ['map0', 'map1'],
                             free_size=False)
    compiled = ov.Core().compile_model(str(folder / files['xml']), 'CPU')

    def kind(op):
        return op.get_rt_info()['layerType'].astype(str)
    return [(kind(op), op.input(0).get_partial_shape().rank.get_length(),
             {kind(target.get_node()) for out in op.outputs()
              for target in out.get_target_inputs()})
            for op in compiled.get_runtime_model().get_ordered_ops()
            if op.get_input_size()]


def test_openvino_merges_levit_stage_ends_into_its_reorders(tmp_path):
    """LeViT's stages turn maps into tokens and back with 4-d permutes,
    which OpenVINO merges with the reorders into and out of its
    channels-last convolutions: its compiled model transposes only the
    attention's 4-d heads, never a 3-d token tensor."""
    layers = openvino_compiled_layers(
        LeViT('128S', out_indices=(2, 3)).eval(), (64, 64), tmp_path)
    transposes = [rank for kind, rank, _ in layers if kind == 'Transpose']
    assert transposes and set(transposes) == {4}
    assert not any(kind == 'Reorder' and rank == 3
                   for kind, rank, _ in layers)


def test_openvino_merges_emo_window_exit_into_its_reorders(tmp_path):
    """EMO's deploy attention crops the windows' padding off the
    channels-last pixels before the permute back to a map, which OpenVINO
    merges with the reorder into the next convolution: no transpose
    before the crop (80x80 inputs pad stages 3 and 4 to the window)."""
    layers = openvino_compiled_layers(
        EMO('1M', out_indices=(3, 4)).eval(), (80, 80), tmp_path)
    crops = [kind for kind, _, _ in layers if 'Slice' in kind]
    assert len(crops) >= 4  # one per attention block of stages 3-4
    assert not any(kind == 'Transpose' and any('Slice' in c for c in into)
                   for kind, _, into in layers)
