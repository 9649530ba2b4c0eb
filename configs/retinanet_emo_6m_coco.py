# RetinaNet with an EMO-6M backbone on COCO, 1x schedule (no official result;
# window 10 as for 5M).
_base_ = './retinanet_emo_2m_coco.py'

model = dict(
    backbone=dict(
        arch='6M',
        window_size=10,
        init_cfg=dict(checkpoint='checkpoints/emo_6m_net.pth')),
    neck=dict(in_channels=[48, 72, 160, 320]))
