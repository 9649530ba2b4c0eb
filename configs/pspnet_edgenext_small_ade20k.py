# PSPNet with an EdgeNeXt-small backbone on ADE20K, 512x512, 80k iterations
# (no published result).  The EMO PSPNet recipe with the backbone swapped.
_base_ = './pspnet_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EdgeNeXt',
        arch='small',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/edgenext_small.pth')),
    decode_head=dict(in_channels=304),
    auxiliary_head=dict(in_channels=160))
