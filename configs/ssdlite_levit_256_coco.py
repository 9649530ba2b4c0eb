# SSDLite with a LeViT-256 backbone on COCO at 320x320 (no published result):
# the LeViT-128S recipe with this variant's widths.
_base_ = './ssdlite_levit_128s_coco.py'

model = dict(
    backbone=dict(
        arch='256',
        init_cfg=dict(checkpoint='checkpoints/LeViT-256-13b5763e.pth')),
    neck=dict(
        in_channels=(256, 384),
        out_channels=(256, 384, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(256, 384, 512, 256, 256, 128)))
