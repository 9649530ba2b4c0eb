"""Evaluating a deployed artefact on the config's test set with the
config's own evaluator (COCO mAP, mIoU): the dataset and metrics come from
mmdet/mmseg, the predictions from :mod:`backbones.runtime`, image files
in, boxes or masks out, as on the device."""
import numpy as np
import torch

from ..config.walk import class_names
from ..errors import ArtefactError
from ..runtime import load


def evaluate_artefact(cfg, folder: str, threads: int = 0) -> dict:
    """The metrics of the artefact in ``folder`` on ``cfg``'s test set."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmengine.structures import InstanceData, PixelData
    init_default_scope(cfg.default_scope)
    model = load(folder, threads)
    expected = class_names(cfg)
    if list(model.classes) != list(expected):
        raise ArtefactError(f'{folder} was deployed for classes '
                        f'{list(model.classes)[:5]}..., the config tests '
                        f'{expected[:5]}...: deploy it from this config')
    loader = Runner.build_dataloader(cfg.test_dataloader)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = loader.dataset.metainfo
    for batch in loader:
        for sample in batch['data_samples']:
            out = model(sample.img_path)
            if model.task == 'detection':
                sample.pred_instances = InstanceData(**{
                    key: torch.from_numpy(np.ascontiguousarray(value))
                    for key, value in out.items()})
            else:
                sample.pred_sem_seg = PixelData(
                    data=torch.from_numpy(out['sem_seg'][None]))
        evaluator.process(data_samples=batch['data_samples'],
                          data_batch=batch)
    return evaluator.evaluate(len(loader.dataset))
