# RetinaNet with an EMO-1M backbone on COCO, 1x schedule (EMO paper: 34.4 mAP,
# 10.4M params).
_base_ = './retinanet_emo_2m_coco.py'

model = dict(
    backbone=dict(
        arch='1M',
        window_size=7,
        init_cfg=dict(checkpoint='checkpoints/emo_1m_net.pth')),
    neck=dict(in_channels=[32, 48, 80, 168]))
