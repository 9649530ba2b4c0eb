# PSPNet with an AsymmNet-Large 1.0 backbone on ADE20K, 512x512, 80k
# iterations (no published result).  The EMO PSPNet recipe with the backbone
# swapped: the decode head on the final 1x1 conv at /32 (960 channels), the
# auxiliary head on the last /16 block (112 channels).
_base_ = './pspnet_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='AsymmNet',
        arch='large',
        widen_factor=1.0,
        out_indices=(0, 1, 2, 4),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/0.7542-imagenet-modifiedv3-358-best.params'
        )),
    decode_head=dict(in_channels=960),
    auxiliary_head=dict(in_channels=112))
