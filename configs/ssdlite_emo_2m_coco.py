# SSDLite with an EMO-2M backbone on COCO (EMO paper: 25.2 mAP, 3.3M params,
# 0.9G FLOPs at 320x320).  The official mmdet 2.25 recipe ported to mmdet 3.x
# on top of mmdet's own SSDLite config, which already carries the SSD neck and
# head, the anchors, the 320x320 augmentation and the 120-epoch cosine
# schedule over a 5x repeated dataset (batch 24 x 8 GPUs, auto_scale_lr 192).
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(
    imports=['backbones', 'backbones.mm_fixes'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='EMO',
        arch='2M',
        out_indices=(3, 4),
        window_size=7,
        norm_eval=True,
        # The official ImageNet weights (EMO_2M/net.pth from
        # github.com/zhangzjn/EMO), loaded as released.
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/emo_2m_net.pth')),
    neck=dict(
        in_channels=(120, 200),
        out_channels=(120, 200, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(120, 200, 512, 256, 256, 128)))

# AdamW instead of the base SGD.  Weight decay exactly as the official run:
# it exempts the parameters whose official name contains 'norm', i.e. every
# iRMB pre-norm (ours: '.norm.') and depthwise-conv BatchNorm (official
# 'conv_local.norm', ours '.conv_local.bn.').  The stem BN and the 24
# BatchNorms of the SSD neck and head are decayed (mmdet's norm_decay_mult=0
# would exempt those 25 as well).
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1.2e-3,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        '.norm.': dict(decay_mult=0.0),
        '.conv_local.bn.': dict(decay_mult=0.0)
    }))

# The official run saved every 5 epochs; one 5x-repeated epoch is ~3k
# iterations, so save each epoch (keeping three) to lose little on a crash.
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'))
