# RetinaNet with an AsymmNet-Large 1.0 backbone on COCO, 1x schedule (no
# published result).  The EMO RetinaNet recipe with the backbone swapped:
# maps at /4, /8, /16 and the final 1x1 conv at /32 (960 channels) feed the
# FPN from /8 (P3-P7); the stem and the /4 blocks are frozen, BN in eval mode.
_base_ = './retinanet_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='AsymmNet',
        arch='large',
        widen_factor=1.0,
        out_indices=(0, 1, 2, 4),
        frozen_stages=0,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/0.7542-imagenet-modifiedv3-358-best.params'
        )),
    neck=dict(in_channels=[24, 40, 112, 960]))
