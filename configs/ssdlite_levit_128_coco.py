# SSDLite with a LeViT-128 backbone on COCO at 320x320 (no published result):
# the LeViT-128S recipe with this variant's widths.
_base_ = './ssdlite_levit_128s_coco.py'

model = dict(
    backbone=dict(
        arch='128',
        init_cfg=dict(checkpoint='checkpoints/LeViT-128-b88c2750.pth')),
    neck=dict(
        in_channels=(128, 256),
        out_channels=(128, 256, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(128, 256, 512, 256, 256, 128)))
