# RetinaNet with an EMO-2M backbone on COCO, 1x schedule (EMO paper: 36.2 mAP,
# 11.5M params).  mmdet's RetinaNet-R50-FPN 1x config with the official EMO
# recipe: stages 1-4 out, stem and stage 1 frozen, BN in eval mode, FPN from
# stage 2 with two extra levels on the input (P3-P7), 1333x800, AdamW 2e-4,
# cosine with a 500-iteration warmup, 12 epochs, batch 32 (4 x 8 GPUs).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(
    imports=['backbones', 'backbones.mm_fixes'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='EMO',
        arch='2M',
        out_indices=(1, 2, 3, 4),
        frozen_stages=1,
        norm_eval=True,
        window_size=7,
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/emo_2m_net.pth')),
    neck=dict(in_channels=[32, 48, 120, 200]))

train_dataloader = dict(batch_size=4)

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=2e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='CosineAnnealingLR', begin=0, T_max=12, end=12, by_epoch=True,
         eta_min=0)
]
auto_scale_lr = dict(base_batch_size=32)
