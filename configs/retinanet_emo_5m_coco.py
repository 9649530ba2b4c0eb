# RetinaNet with an EMO-5M backbone on COCO, 1x schedule (EMO paper: 38.9 mAP,
# 14.4M params).
_base_ = './retinanet_emo_2m_coco.py'

model = dict(
    backbone=dict(
        arch='5M',
        window_size=10,
        init_cfg=dict(checkpoint='checkpoints/emo_5m_net.pth')),
    neck=dict(in_channels=[48, 72, 160, 288]))
