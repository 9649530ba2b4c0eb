"""Every provided config builds, trains one step and runs one inference."""
from pathlib import Path

import pytest
import torch

from backbones import tooling
from helpers import REPO

CONFIGS = sorted(p for p in (REPO / 'configs').glob('*.py'))
TOY_CONFIGS = sorted((REPO / 'configs' / 'toy').glob('*.py'))


def config_id(path: Path) -> str:
    return path.stem


def load(path):
    pytest.importorskip('mmdet')
    pytest.importorskip('mmseg')
    return tooling.load_config(str(path))


def detection_batch(num_classes, size=(320, 320), batch=2):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *size), generator=gen,
                                    dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(
            img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0),
            pad_shape=size))
        xy = torch.rand(3, 2, generator=gen) * torch.tensor(size[::-1]) * .6
        wh = torch.rand(3, 2, generator=gen) * 80 + 40
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, num_classes, (3, ), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def segmentation_batch(num_classes, size=(128, 128), batch=2):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *size), generator=gen,
                                    dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(
            img_shape=size, ori_shape=size, pad_shape=size))
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, num_classes, (1, *size), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def build_model_and_batch(cfg):
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    # No ImageNet weights on disk: everything starts from random init.
    model_cfg.backbone.init_cfg = None
    model_cfg.pop('pretrained', None)
    model = MODELS.build(model_cfg)
    model.init_weights()
    if cfg.default_scope == 'mmdet':
        batch = detection_batch(model.bbox_head.num_classes)
    else:
        batch = segmentation_batch(model.decode_head.num_classes)
    return model, batch


@pytest.mark.parametrize('path', CONFIGS + TOY_CONFIGS, ids=config_id)
def test_config_trains_one_step_and_infers(path):
    from mmengine.optim import build_optim_wrapper
    cfg = load(path)
    tooling.check_channels(cfg)
    model, batch = build_model_and_batch(cfg)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = [p.detach().clone() for p in model.parameters()]
    log_vars = model.train_step(batch, optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    changed = sum(not torch.equal(b, p) for b, p in
                  zip(before, model.parameters()))
    assert changed > len(before) // 2
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    assert len(results) == len(batch['inputs'])
    if cfg.default_scope == 'mmdet':
        assert all(hasattr(r, 'pred_instances') for r in results)
    else:
        h, w = batch['inputs'][0].shape[1:]
        assert all(r.pred_sem_seg.data.shape[-2:] == (h, w) for r in results)


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_real_config_points_at_standard_layout_and_weights(path):
    cfg = load(path)
    init = cfg.model.backbone.init_cfg
    assert init['type'] == 'Pretrained'
    assert init['checkpoint'].startswith('checkpoints/')
    dataset = cfg.train_dataloader.dataset
    dataset = dataset.get('dataset', dataset)  # inside a RepeatDataset
    if cfg.default_scope == 'mmdet':
        assert dataset.data_root == 'data/coco/'
        assert dataset.ann_file == 'annotations/instances_train2017.json'
    else:
        assert dataset.data_root == 'data/ade/ADEChallengeData2016'
        assert dataset.type == 'ADE20KDataset'
        assert cfg.model.get('pretrained') is None


def test_channel_mismatch_is_reported_clearly():
    cfg = load(REPO / 'configs' / 'ssdlite_emo_2m_coco.py')
    cfg.model.backbone.arch = '5M'
    with pytest.raises(tooling.ToolError) as info:
        tooling.check_channels(cfg)
    assert str(info.value) == (
        "channel mismatch in the config: backbone EMO(arch='5M', "
        'out_indices=(3, 4)) gives (160, 288), but neck.in_channels is '
        '(120, 200).')
