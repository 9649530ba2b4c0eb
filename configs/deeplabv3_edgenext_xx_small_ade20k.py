# DeepLabv3 with an EdgeNeXt-xx_small backbone on ADE20K, 512x512, 80k
# iterations (no published result).  The EMO DeepLabv3 recipe with the backbone
# swapped.
_base_ = './deeplabv3_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EdgeNeXt',
        arch='xx_small',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/edgenext_xx_small.pth')),
    decode_head=dict(in_channels=168),
    auxiliary_head=dict(in_channels=88))
