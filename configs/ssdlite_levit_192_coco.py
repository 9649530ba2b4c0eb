# SSDLite with a LeViT-192 backbone on COCO at 320x320 (no published result):
# the LeViT-128S recipe with this variant's widths.
_base_ = './ssdlite_levit_128s_coco.py'

model = dict(
    backbone=dict(
        arch='192',
        init_cfg=dict(checkpoint='checkpoints/LeViT-192-92712e41.pth')),
    neck=dict(
        in_channels=(192, 288),
        out_channels=(192, 288, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(192, 288, 512, 256, 256, 128)))
