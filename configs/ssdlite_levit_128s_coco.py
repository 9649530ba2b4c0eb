# SSDLite with a LeViT-128S backbone on COCO at 320x320 (no published
# result).  The EMO SSDLite recipe with the backbone swapped, so results
# compare backbone to backbone: the maps at /16 (stage 1) and /32 (stage 2)
# feed the SSD neck; stage 3 (/64) is not used and not run.  At 320x320 the
# token grids are 20x20 and 10x10, beyond the trained 14x14 and 7x7: offsets
# past the trained ones keep the largest trained bias (bias_mode='absolute').
_base_ = './ssdlite_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LeViT',
        arch='128S',
        out_indices=(2, 3),
        norm_eval=True,
        bias_mode='absolute',
        # The official release file as it is (facebookresearch/LeViT).
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/LeViT-128S-96703c44.pth')),
    neck=dict(
        in_channels=(128, 256),
        out_channels=(128, 256, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(128, 256, 512, 256, 256, 128)))

# The EMO recipe's exemption follows EMO's official layer names; with no
# official run for this backbone, every norm layer is exempt from decay, and
# so are the attention-bias tables, as in the official ImageNet training.
optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        custom_keys={'attention_biases': dict(decay_mult=0.)}))
