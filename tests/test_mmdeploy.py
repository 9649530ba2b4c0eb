"""mmdeploy 1.3.1 as a client: its torch2onnx and inference_model on our
configs (with configs/deploy/ and backbones.export.mmdeploy_compat) give
PyTorch's predictions in onnxruntime."""
import numpy as np
import pytest
import torch

from backbones import config as mmconfig
from helpers import REPO, randomise, spread_class_scores

pytestmark = pytest.mark.export

pytest.importorskip('mmdeploy')
DET_SIZE = SEG_SIZE = (128, 128)


def checkpoint_of(config: str, path, size, spread_scores: bool = False):
    """A randomised model of ``config`` saved as a training checkpoint, with
    decisive class scores if ``spread_scores``."""
    torch.manual_seed(0)
    cfg = mmconfig.load_config(REPO / 'configs' / f'{config}.py')
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            step['scale'], step['keep_ratio'] = size[::-1], False
    # mm's inference APIs read the top-level test_pipeline: the same one
    cfg.test_pipeline = cfg.test_dataloader.dataset.pipeline
    model = mmconfig.build_model(cfg, init_weights=True).eval()
    randomise(model)
    if spread_scores:
        spread_class_scores(model)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    cfg_path = path.with_suffix('.py')
    cfg.dump(str(cfg_path))
    return cfg, model, str(cfg_path)


def mmdeploy_predict(deploy_config: str, model_cfg: str, checkpoint: str,
                     image: np.ndarray, work_dir):
    from mmengine.config import Config

    from backbones.export import mmdeploy_compat
    mmdeploy_compat.apply()
    from mmdeploy.apis import inference_model, torch2onnx
    deploy_cfg = Config.fromfile(str(REPO / 'configs' / 'deploy' /
                                     deploy_config))
    deploy_cfg.onnx_config.input_shape = image.shape[1::-1]
    torch2onnx(image, str(work_dir), 'end2end.onnx', deploy_cfg, model_cfg,
               checkpoint, device='cpu')
    return inference_model(model_cfg, deploy_cfg,
                           [str(work_dir / 'end2end.onnx')], image, 'cpu')[0]


def test_mmdeploy_detector_equals_pytorch(tmp_path):
    from mmdet.apis import inference_detector
    cfg, model, cfg_path = checkpoint_of('toy/ssdlite_emo_2m_toy',
                                         tmp_path / 'det.pth', DET_SIZE,
                                         spread_scores=True)
    image = np.random.default_rng(0).integers(0, 256, (*DET_SIZE, 3),
                                              dtype=np.uint8)
    model.cfg = cfg
    want = inference_detector(model, image).pred_instances
    got = mmdeploy_predict('detection_onnxruntime_static-320x320.py',
                           cfg_path, str(tmp_path / 'det.pth'), image,
                           tmp_path).pred_instances
    top = 20
    assert len(want.scores) >= top
    torch.testing.assert_close(got.scores[:top], want.scores[:top],
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(got.bboxes[:top], want.bboxes[:top],
                               atol=1e-2, rtol=0)
    assert torch.equal(got.labels[:top], want.labels[:top])


def test_mmdeploy_segmentor_equals_pytorch(tmp_path):
    from mmseg.apis import inference_model
    cfg, model, cfg_path = checkpoint_of('deeplabv3_asymmnet_large_ade20k',
                                         tmp_path / 'seg.pth', SEG_SIZE,
                                         spread_scores=True)
    image = np.random.default_rng(1).integers(0, 256, (*SEG_SIZE, 3),
                                              dtype=np.uint8)
    model.cfg = cfg
    want = inference_model(model, image).pred_sem_seg.data
    got = mmdeploy_predict('segmentation_onnxruntime_static-512x512.py',
                           cfg_path, str(tmp_path / 'seg.pth'), image,
                           tmp_path).pred_sem_seg.data
    assert got.shape == want.shape
    assert (got == want).float().mean() > 0.999
