# SSDLite with an EdgeNeXt-small backbone on COCO at 320x320 (EdgeNeXt paper:
# 27.9 mAP, 6.2M params, 2.1G MAdds). The EMO SSDLite recipe with the backbone
# swapped, so results compare backbone to backbone: the two deepest stages
# (/16, /32) feed the SSD neck.
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EdgeNeXt',
        arch='small',
        out_indices=(2, 3),
        norm_eval=True,
        drop_path_rate=0.1,  # as in the ImageNet training of this variant
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/edgenext_small.pth')),
    neck=dict(
        in_channels=(160, 304),
        out_channels=(160, 304, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(160, 304, 512, 256, 256, 128)))

# The EMO recipe's exemption follows EMO's official layer names; with no
# official run for this backbone, every norm layer is exempt from decay.
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0))
