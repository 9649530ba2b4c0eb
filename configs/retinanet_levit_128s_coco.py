# RetinaNet with a LeViT-128S backbone on COCO, 1x schedule (no published
# result).  The EMO RetinaNet recipe with the backbone swapped: BN in eval
# mode, FPN P3-P7, 1333x800, AdamW 2e-4.  LeViT has a real stride-64 stage,
# so the FPN takes /8, /16, /32 and /64 (start_level 0) and adds one extra
# conv for P7, where EMO takes /8-/32 and adds two.  As in every family, the
# maps before the first FPN input are frozen and that input trains:
# frozen_stages=0 freezes the /4 map only (1 would freeze the /8 map that
# feeds P3).  At 1333x800 the
# stage-1 grid is 84x50 (4200 tokens), far beyond the trained 14x14.
_base_ = './retinanet_emo_2m_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='LeViT',
        arch='128S',
        out_indices=(1, 2, 3, 4),
        frozen_stages=0,
        norm_eval=True,
        bias_mode='absolute',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/LeViT-128S-96703c44.pth')),
    neck=dict(in_channels=[64, 128, 256, 384], start_level=0))

# No weight decay on the attention-bias tables, as in the official training.
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'attention_biases': dict(decay_mult=0.)}))
