# mmdet's stock Faster R-CNN R50-FPN 1x on COCO with the backbone swapped:
# the whole change is this file (maps at /4, /8, /16, /32 into the FPN).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(
    imports=['backbones', 'backbones.mm_fixes'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='LeViT', arch='128S', out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/LeViT-128S-96703c44.pth')),
    neck=dict(in_channels=[32, 64, 128, 256]))
