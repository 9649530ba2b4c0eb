# SSDLite with an EMO-6M backbone on COCO (no official result; window 10 as for
# 5M).
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        arch='6M',
        window_size=10,
        init_cfg=dict(checkpoint='checkpoints/emo_6m_net.pth')),
    neck=dict(
        in_channels=(160, 320),
        out_channels=(160, 320, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(160, 320, 512, 256, 256, 128)))
