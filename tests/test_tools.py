"""Tool behaviour and the fixes to the pinned OpenMMLab stack."""
import sys

import pytest
import torch

from backbones import tooling
from helpers import REPO, run_tool

SSDLITE_2M = REPO / 'configs' / 'ssdlite_emo_2m_coco.py'


def test_ssd_head_predicts_after_fix():
    """mmdet 3.3.0's SSDHead has no loss_cls, which its predict path reads
    (open-mmlab/mmdetection#11063)."""
    pytest.importorskip('mmdet')
    from mmdet.models.dense_heads import SSDHead
    import backbones.mm_fixes  # noqa: F401
    from mmengine.config import ConfigDict
    head = SSDHead(
        num_classes=3, in_channels=(8, 8), use_depthwise=True,
        norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU6'),
        anchor_generator=dict(type='SSDAnchorGenerator', scale_major=False,
                              strides=[16, 32], ratios=[[2], [2]],
                              min_sizes=[32, 64], max_sizes=[64, 96]),
        test_cfg=ConfigDict(nms_pre=100, nms=dict(type='nms',
                                                  iou_threshold=0.45),
                            min_bbox_size=0, score_thr=0.0,
                            max_per_img=10)).eval()
    assert head.loss_cls is None
    feats = (torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2))
    meta = [dict(img_shape=(64, 64), ori_shape=(64, 64),
                 scale_factor=(1.0, 1.0))]
    with torch.no_grad():
        results = head.predict_by_feat(*head(feats), batch_img_metas=meta,
                                       rescale=True)
    assert len(results[0].bboxes) == 10


def test_custom_imports_from_cfg_options_are_imported(tmp_path, monkeypatch):
    module = tmp_path / 'my_plugin_for_test.py'
    module.write_text('IMPORTED = True\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tooling.load_config(str(SSDLITE_2M), {
        'custom_imports': dict(imports=['my_plugin_for_test'],
                               allow_failed_imports=False)})
    assert 'my_plugin_for_test' in sys.modules
    assert cfg.custom_imports.imports == ['my_plugin_for_test']


def test_broken_torchvision_stops_tools_with_the_fix(tmp_path):
    fake = tmp_path / 'torchvision'
    fake.mkdir()
    (fake / '__init__.py').write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n")
    result = run_tool('train.py', SSDLITE_2M, '--work-dir', tmp_path / 'w',
                      env={'PYTHONPATH': str(tmp_path)}, timeout=300)
    assert result.returncode == 2
    assert 'torchvision::nms does not exist' in result.stderr
    assert 'pip uninstall -y torchvision' in result.stderr
    assert 'Traceback' not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only host')
def test_amp_without_gpu_is_a_clear_error(tmp_path):
    result = run_tool('train.py', SSDLITE_2M, '--amp', '--work-dir',
                      tmp_path, timeout=300)
    assert result.returncode == 2
    assert '--amp needs a CUDA GPU' in result.stderr
    assert 'Traceback' not in result.stderr


def test_channel_mismatch_stops_train_before_building(tmp_path):
    result = run_tool('train.py', SSDLITE_2M, '--work-dir', tmp_path,
                      '--cfg-options', 'model.backbone.arch=1M', timeout=300)
    assert result.returncode == 2
    assert 'channel mismatch in the config' in result.stderr
    assert 'gives (80, 168), but neck.in_channels is (120, 200)' in \
        result.stderr


def test_missing_files_are_reported(tmp_path):
    result = run_tool('test.py', SSDLITE_2M, tmp_path / 'nope.pth',
                      timeout=300)
    assert result.returncode == 2
    assert 'checkpoint not found' in result.stderr
    result = run_tool('train.py', tmp_path / 'nope.py', timeout=300)
    assert result.returncode == 2 and 'config file not found' in \
        result.stderr
