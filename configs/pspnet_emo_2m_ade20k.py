# PSPNet with an EMO-2M backbone on ADE20K, 512x512 crops, 80k iterations
# (EMO paper: 34.5 mIoU, 5.5M params, 3.1G FLOPs).  mmseg's PSPNet ADE20K
# config with the official EMO recipe: stages 1-4 out, PSP (256 channels) on
# the stride-32 map, auxiliary FCN (256 channels, weight 0.4) on stage 3,
# AdamW 1.2e-4, poly 0.9 to 0, batch 32 (4 x 8 GPUs).
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(
    imports=['backbones', 'backbones.mm_fixes'], allow_failed_imports=False)

# Plain BN runs anywhere; under a distributed launcher MMEngine converts every
# BN (backbone and heads) to SyncBN, as the official runs used.
norm_cfg = dict(type='BN', requires_grad=True)
sync_bn = 'torch'
model = dict(
    pretrained=None,  # EncoderDecoder would pass it on to the backbone
    backbone=dict(
        _delete_=True,
        type='EMO',
        arch='2M',
        out_indices=(1, 2, 3, 4),
        window_size=7,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/emo_2m_net.pth')),
    decode_head=dict(in_channels=200, channels=256, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=120, norm_cfg=norm_cfg))

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1.2e-4,
        betas=(0.9, 0.999),
        weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000,
         by_epoch=False)
]
# The official runs: 4 images x 8 GPUs.  `tools/train.py --auto-scale-lr`
# scales the learning rate for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=32)
# Save every 4k iterations (not 8k) so a crash costs less.
default_hooks = dict(checkpoint=dict(interval=4000, max_keep_ckpts=3))
