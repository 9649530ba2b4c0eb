# RetinaNet with a LeViT-256 backbone on COCO, 1x schedule (no published
# result): the LeViT-128S recipe with this variant's widths.
_base_ = './retinanet_levit_128s_coco.py'

model = dict(
    backbone=dict(
        arch='256',
        init_cfg=dict(checkpoint='checkpoints/LeViT-256-13b5763e.pth')),
    neck=dict(in_channels=[128, 256, 384, 512]))
