# SSDLite with an EMO-5M backbone on COCO (EMO paper: 27.9 mAP, 6.0M params,
# 1.8G FLOPs).
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        arch='5M',
        window_size=10,
        init_cfg=dict(checkpoint='checkpoints/emo_5m_net.pth')),
    neck=dict(
        in_channels=(160, 288),
        out_channels=(160, 288, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(160, 288, 512, 256, 256, 128)))
