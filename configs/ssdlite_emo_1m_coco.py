# SSDLite with an EMO-1M backbone on COCO (EMO paper: 22.0 mAP, 2.3M params,
# 0.6G FLOPs).
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        arch='1M',
        window_size=7,
        init_cfg=dict(checkpoint='checkpoints/emo_1m_net.pth')),
    neck=dict(
        in_channels=(80, 168),
        out_channels=(80, 168, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(80, 168, 512, 256, 256, 128)))
