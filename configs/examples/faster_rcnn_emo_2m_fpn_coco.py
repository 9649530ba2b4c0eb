# mmdet's stock Faster R-CNN R50-FPN 1x on COCO with the backbone swapped:
# the whole change is this file (maps at /4, /8, /16, /32 into the FPN).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(
    imports=['backbones', 'backbones.mm_fixes'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='EMO', arch='2M', out_indices=(1, 2, 3, 4),
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/emo_2m_net.pth')),
    neck=dict(in_channels=[32, 48, 120, 200]))
