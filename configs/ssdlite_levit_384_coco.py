# SSDLite with a LeViT-384 backbone on COCO at 320x320 (no published result):
# the LeViT-128S recipe with this variant's widths.
_base_ = './ssdlite_levit_128s_coco.py'

model = dict(
    backbone=dict(
        arch='384',
        init_cfg=dict(checkpoint='checkpoints/LeViT-384-9bdaf2e2.pth')),
    neck=dict(
        in_channels=(384, 512),
        out_channels=(384, 512, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(384, 512, 512, 256, 256, 128)))
