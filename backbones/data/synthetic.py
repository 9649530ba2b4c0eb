"""Synthetic batches: a config's model run without a dataset."""


def synthetic_batch(model, scope: str, size=(320, 320), batch: int = 2,
                    seed: int = 0) -> dict:
    """Random images and targets shaped like a det or seg training batch.

    Used to run a config's model without a dataset (config tests, speed
    benchmarks): three random boxes per image for detectors, a random label
    map for segmentors.
    """
    import torch
    from mmengine.structures import InstanceData, PixelData
    gen = torch.Generator().manual_seed(seed)
    if scope == 'mmdet':  # one-stage heads, or a two-stage RoI head's
        head = getattr(model, 'bbox_head', None) or model.roi_head.bbox_head
        num_classes = head.num_classes
    else:
        num_classes = model.decode_head.num_classes
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *size), generator=gen,
                                    dtype=torch.uint8))
        meta = dict(img_shape=size, ori_shape=size, pad_shape=size,
                    scale_factor=(1.0, 1.0))
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            sample = DetDataSample(metainfo=meta)
            xy = torch.rand(3, 2, generator=gen) * torch.tensor(
                size[::-1]) * 0.6
            wh = torch.rand(3, 2, generator=gen) * 80 + 40
            sample.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, num_classes, (3, ), generator=gen))
        else:
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(
                0, num_classes, (1, *size), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
