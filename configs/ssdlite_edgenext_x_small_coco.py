# SSDLite with an EdgeNeXt-x_small backbone on COCO at 320x320 (no published
# result). The EMO SSDLite recipe with the backbone swapped, so results compare
# backbone to backbone: the two deepest stages (/16, /32) feed the SSD neck.
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EdgeNeXt',
        arch='x_small',
        out_indices=(2, 3),
        norm_eval=True,
        drop_path_rate=0.0,  # as in the ImageNet training of this variant
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/edgenext_x_small.pth')),
    neck=dict(
        in_channels=(100, 192),
        out_channels=(100, 192, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(100, 192, 512, 256, 256, 128)))
