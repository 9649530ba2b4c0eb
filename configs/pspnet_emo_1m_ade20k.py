# PSPNet with an EMO-1M backbone on ADE20K, 512x512, 80k iterations
# (EMO paper: 33.2 mIoU, 4.3M params, 2.1G FLOPs).
_base_ = './pspnet_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        arch='1M',
        window_size=7,
        init_cfg=dict(checkpoint='checkpoints/emo_1m_net.pth')),
    decode_head=dict(in_channels=168),
    auxiliary_head=dict(in_channels=80))
