# RetinaNet with an EdgeNeXt-small backbone on COCO, 1x schedule (no
# published result).  The EMO RetinaNet recipe with the backbone swapped; the
# stem and first stage are frozen as EMO's stem and stage 1 are.
_base_ = './retinanet_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EdgeNeXt',
        arch='small',
        out_indices=(0, 1, 2, 3),
        frozen_stages=0,
        norm_eval=True,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/edgenext_small.pth')),
    neck=dict(in_channels=[48, 96, 160, 304]))
