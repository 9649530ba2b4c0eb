# SSDLite with an AsymmNet-Large 1.0 backbone on COCO at 320x320 (no
# published result).  The EMO SSDLite recipe with the backbone swapped.  The
# SSD neck gets the last block at /16 (112 channels) and the final 1x1 conv
# at /32 (960 channels), as mmdet's SSDLite-MobileNetV2 takes its /16 block
# and final 1280-channel conv: the widest, cheapest map at /32 for the head.
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='AsymmNet',
        arch='large',
        widen_factor=1.0,
        out_indices=(2, 4),
        norm_eval=True,
        # The released MXNet weights (Spark001/AsymmNet, 75.4% top-1), read
        # as they are, without MXNet.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/0.7542-imagenet-modifiedv3-358-best.params'
        )),
    neck=dict(
        in_channels=(112, 960),
        out_channels=(112, 960, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(112, 960, 512, 256, 256, 128)))

# The EMO recipe's exemption follows EMO's official layer names; with no
# official run for this backbone, every norm layer is exempt from decay.
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0))
