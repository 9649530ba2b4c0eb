# PSPNet with an EMO-5M backbone on ADE20K, 512x512, 80k iterations
# (EMO paper: 38.2 mIoU, 8.5M params, 5.3G FLOPs).
_base_ = './pspnet_emo_2m_ade20k.py'

model = dict(
    backbone=dict(
        arch='5M',
        window_size=16,
        init_cfg=dict(checkpoint='checkpoints/emo_5m_net.pth')),
    decode_head=dict(in_channels=288),
    auxiliary_head=dict(in_channels=160))
